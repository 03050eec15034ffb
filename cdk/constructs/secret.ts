import { RemovalPolicy, SecretValue, Validations } from 'aws-cdk-lib';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export interface OpenStackSecretProps {
  /** Complete ARN of an existing secret; without it a secret is created for the operator to fill. */
  existingSecretArn?: string;
  /**
   * The credential variables the created secret starts with, empty: the template the operator fills
   * (`OS_USERNAME`/`OS_PASSWORD` for Keystone, `COMPUTE_TOKEN` for a fixed endpoint).
   */
  templateKeys: string[];
}

/**
 * The OpenStack credentials: a JSON object whose keys are the variables the worker's Compute
 * client reads (OS_USERNAME/OS_PASSWORD, OS_APPLICATION_CREDENTIAL_ID/_SECRET, or COMPUTE_TOKEN).
 * The worker reads it once per cold start; nothing else does.
 */
export class OpenStackSecret extends Construct {
  readonly secret: ISecret;
  /** Whether this stack created the secret (and the operator must fill it). */
  readonly created: boolean;

  constructor(scope: Construct, id: string, props: OpenStackSecretProps) {
    super(scope, id);
    if (props.existingSecretArn !== undefined) {
      this.secret = Secret.fromSecretCompleteArn(this, 'Secret', props.existingSecretArn);
      this.created = false;
      return;
    }
    const created = new Secret(this, 'Secret', {
      description: 'OpenStack credentials for the bulk rebuild worker: fill in the values (JSON object of OS_* or COMPUTE_TOKEN variables)',
      // Empty values, not credentials: the worker refuses to start until they are filled in, and
      // CloudFormation never writes this value again after creation, so an update keeps them.
      secretObjectValue: Object.fromEntries(props.templateKeys.map((k) => [k, SecretValue.unsafePlainText('')])),
      // Filled in by hand: deleting the stack must not delete what the operator put there.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(created).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'The secret holds OpenStack (Keystone) credentials: they are rotated in Keystone by the cloud operator, which no Secrets Manager rotation function can do; the worker reads the new value at its next cold start.',
    });
    this.secret = created;
    this.created = true;
  }
}
