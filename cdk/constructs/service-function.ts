import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type CfnFunction, RecursiveLoop, Runtime, RuntimeFamily, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEPLOYMENT_ENV } from '../../lib/settings.js';
import { LIVE_INDEX, PROJECT_INDEX } from '../../lib/aws/table.js';
import { ESM_REQUIRE_BANNER, EXTERNAL_MODULES, MAIN_FIELDS, NODE_MAJOR, PROJECT_ROOT, TARGET } from '../bundling.js';

/** The namespace of the functions' embedded metrics (Powertools Metrics). */
export const METRICS_NAMESPACE = 'OpenStackBulkRebuild';

/**
 * The DynamoDB actions the job store uses (lib/aws/dynamodb-store.ts): GetItem, BatchGetItem and Query
 * (its two indexes too) to read; PutItem, UpdateItem and BatchWriteItem to write; DeleteItem to
 * release a server's lock; TransactWriteItems is authorised by the actions of its parts (Put,
 * Update, ConditionCheck). No Scan, no table management. test/cdk checks this list against the
 * adapter's calls.
 */
export const JOB_STORE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:BatchGetItem',
  'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem',
];

/** Lambda's managed runtime for a Node.js major. */
function runtimeFor(major: number): Runtime {
  return new Runtime(`nodejs${major}.x`, RuntimeFamily.NODEJS, { supportsInlineCode: true });
}

export interface ServiceFunctionProps {
  /** Entry file, relative to the project root (e.g. `functions/api.ts`); exports `handler`. */
  entry: string;
  description: string;
  /** Powertools' service name: the `service` dimension of the function's metrics and log key. */
  serviceName: string;
  /** Memory in MB (Lambda gives CPU in proportion: 1,769 MB is one vCPU). */
  memorySize: number;
  timeout: Duration;
  /**
   * How long the function's logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  logRetention?: RetentionDays;
  /** Variables other than the ones the `bind*` methods set. */
  environment?: Record<string, string>;
  /**
   * Let the function trigger itself through a queue (Lambda otherwise stops a chain after about
   * 16 hops, taking it for a runaway loop).
   * @default false
   */
  allowRecursiveLoop?: boolean;
  /**
   * Concurrency set aside for this function alone: what other functions of the account (the API
   * under load, say) can never take from it.
   * @default none
   */
  reservedConcurrency?: number;
}

/**
 * A function of this service. Runtime, architecture, bundling, source maps, tracing and logs are
 * fixed here, once, for both functions; what differs (entry, memory, timeout) is a prop. The
 * `bind*` methods set a resource's environment variable and its IAM grant in one call, so the two
 * cannot drift apart.
 */
export class ServiceFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    // The function's own log group: retention set here, removed with the stack.
    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // An own role rather than AWSLambdaBasicExecutionRole (logs:* on every log group): it may
    // write to its log group and nothing else until a bind* grants more.
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description}: execution role`,
    });
    this.logGroup.grantWrite(role);

    this.fn = new NodejsFunction(this, 'Function', {
      entry: join(PROJECT_ROOT, props.entry),
      handler: 'handler',
      description: props.description,
      runtime: runtimeFor(NODE_MAJOR),
      // Graviton: about 20 % cheaper per GB-second than x86, and nothing here is native code.
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role,
      logGroup: this.logGroup,
      tracing: Tracing.ACTIVE,
      recursiveLoop: props.allowRecursiveLoop ? RecursiveLoop.ALLOW : RecursiveLoop.TERMINATE,
      ...(props.reservedConcurrency !== undefined ? { reservedConcurrentExecutions: props.reservedConcurrency } : {}),
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      environment: {
        // Stack traces point at the TypeScript sources through the bundle's source map.
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ...props.environment,
      },
      bundling: {
        // The local esbuild (a dev dependency): no Docker, no network.
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: TARGET,
        mainFields: MAIN_FIELDS,
        banner: ESM_REQUIRE_BANNER,
        minify: true,
        sourceMap: true,
        // Source maps for stack traces need names and positions, not a second copy of the code.
        sourcesContent: false,
        externalModules: EXTERNAL_MODULES,
      },
    });
  }

  /**
   * Sets TABLE_NAME and grants the job store's reads and writes on the table, and Query on the
   * named indexes (by name: no `index/*`).
   */
  bindTable(table: ITable, indexes: readonly string[] = [PROJECT_INDEX, LIVE_INDEX]): void {
    this.fn.addEnvironment(DEPLOYMENT_ENV.table, table.tableName);
    Grant.addToPrincipal({ grantee: this.fn, actions: JOB_STORE_ACTIONS, resourceArns: [table.tableArn] });
    if (indexes.length > 0) {
      Grant.addToPrincipal({ grantee: this.fn, actions: ['dynamodb:Query'], resourceArns: indexes.map((i) => `${table.tableArn}/index/${i}`) });
    }
  }

  /**
   * Sets QUEUE_URL and grants sending (`send`) and consuming (`consume`: what an SQS event source
   * needs: receive, delete, change visibility).
   */
  bindQueue(queue: IQueue, access: { send?: boolean; consume?: boolean }): void {
    this.fn.addEnvironment(DEPLOYMENT_ENV.queue, queue.queueUrl);
    if (access.send) queue.grantSendMessages(this.fn);
    if (access.consume) queue.grantConsumeMessages(this.fn);
  }

  /**
   * Runs the function in these subnets with these security groups, and lets Lambda manage its
   * network interfaces there. Set on the CloudFormation resource directly: the VPC is the
   * operator's and the stack makes no lookups, and CDK's `vpc` prop would want the VPC described
   * (and attach AWSLambdaVPCAccessExecutionRole, a managed policy this stack does without).
   */
  placeInVpc(vpc: { subnetIds: string[]; securityGroupIds: string[] }): void {
    (this.fn.node.defaultChild as CfnFunction).vpcConfig = { subnetIds: vpc.subnetIds, securityGroupIds: vpc.securityGroupIds };
    // What AWSLambdaVPCAccessExecutionRole grants; EC2's network-interface actions take no resource
    // narrower than * here (Lambda creates the interfaces itself, in the function's name).
    Grant.addToPrincipal({
      grantee: this.fn,
      actions: ['ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
      resourceArns: ['*'],
    });
  }

  /** Sets OPENSTACK_SECRET_ARN and grants reading that secret. */
  bindOpenStackSecret(secret: ISecret): void {
    this.fn.addEnvironment(DEPLOYMENT_ENV.secret, secret.secretArn);
    secret.grantRead(this.fn);
  }
}
