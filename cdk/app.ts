/**
 * The CDK app (`cdk.json`: `npx tsx cdk/app.ts`). Parameters come from context (cdk.json or
 * `-c key=value`, see cdk/config.ts and docs/deploy.md); the stack is environment-agnostic, so
 * `cdk synth` needs no AWS credentials, and `cdk deploy` goes to the CLI's account and Region.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { StackConfigError, type StackSettings, settingsFromContext } from './config.js';
import { BulkRebuildStack } from './stack.js';

const app = new App();
let settings: StackSettings;
try {
  settings = settingsFromContext(app.node.getAllContext());
} catch (err) {
  if (!(err instanceof StackConfigError)) throw err;
  // A parameter problem is the operator's to fix: say what, without a stack trace.
  console.error(`Parameter error: ${err.message}`);
  process.exit(1);
}
const stack = new BulkRebuildStack(app, 'OpenStackBulkRebuild', {
  description: 'Bulk rebuild for OpenStack: HTTP API, DynamoDB, SQS and Lambda workers',
  settings,
});
const endpoint = settings.openstack.kind === 'keystone' ? settings.openstack.authUrl : settings.openstack.computeUrl;
if (new URL(endpoint.replaceAll('{tenant_id}', 'x').replaceAll('%(tenant_id)s', 'x')).hostname.endsWith('.invalid')) {
  // cdk.json's example endpoint (RFC 2606 .invalid: it never resolves) lets the repository
  // synthesize; a deployment with it would leave every rebuild retrying until its deadline.
  Validations.of(stack).addWarning(
    'ExampleEndpoint',
    `${settings.openstack.kind === 'keystone' ? 'keystoneUrl' : 'computeUrl'} is cdk.json's example (${endpoint}): deploy with -c keystoneUrl=https://YOUR-KEYSTONE/v3 (see docs/deploy.md)`,
  );
}
if (settings.grants === '{}') {
  // Closed by default: a deployment without grants answers every call 403 until an operator grants projects.
  Validations.of(stack).addWarning('NoGrants', 'No principal is granted any project: every API call will be refused (403). Deploy with -c grants=\'{"arn:aws:iam::ACCOUNT:role/ROLE": ["PROJECT_ID"]}\' (see docs/deploy.md)');
}
// AWS Solutions checks at every synth: a finding nobody acknowledged (with a reason) stops it.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
