import { CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { EVENT_SOURCE, STATUS_CHANGE } from '../lib/jobs/events.js';
import { NODE_MAJOR } from './bundling.js';
import { type StackSettings, apiEnvironment, openStackEnvironment } from './config.js';
import { RebuildAlarms } from './constructs/alarms.js';
import { RebuildApi } from './constructs/api.js';
import { RebuildDashboard } from './constructs/dashboard.js';
import { JobNotifications } from './constructs/notifications.js';
import { API_SERVICE_NAME, ApiFunction, SweeperFunction, WORKER_SERVICE_NAME, WORKER_TIMEOUT, WorkerFunction } from './constructs/functions.js';
import { RebuildQueue } from './constructs/queue.js';
import { OpenStackSecret } from './constructs/secret.js';
import { METRICS_NAMESPACE, type ServiceFunction } from './constructs/service-function.js';
import { JobsTable } from './constructs/table.js';

export interface BulkRebuildStackProps extends StackProps {
  /** The checked parameters (`settingsFromContext` in cdk/config.ts). */
  settings: StackSettings;
}

/**
 * The bulk rebuild service: HTTP API (IAM auth) → API function → DynamoDB + SQS → worker → the
 * OpenStack Compute API. Environment-agnostic: no lookups, synthesizes without credentials.
 */
export class BulkRebuildStack extends Stack {
  readonly api: RebuildApi;

  constructor(scope: Construct, id: string, props: BulkRebuildStackProps) {
    super(scope, id, props);
    const s = props.settings;

    const table = new JobsTable(this, 'Jobs');
    const queue = new RebuildQueue(this, 'Rebuilds', { consumerTimeout: WORKER_TIMEOUT });
    const secret = new OpenStackSecret(this, 'OpenStackCredentials', {
      ...(s.secretArn !== undefined ? { existingSecretArn: s.secretArn } : {}),
      templateKeys: s.openstack.kind === 'fixed' ? ['COMPUTE_TOKEN'] : ['OS_USERNAME', 'OS_PASSWORD'],
    });

    const apiFunction = new ApiFunction(this, 'ApiFunction', {
      table: table.table,
      queue: queue.queue,
      jobLimits: apiEnvironment(s),
      logRetention: s.logRetention,
    });
    const worker = new WorkerFunction(this, 'Worker', {
      table: table.table,
      queue: queue.queue,
      secret: secret.secret,
      openStack: openStackEnvironment(s.openstack),
      maxConcurrency: s.maxConcurrency,
      maxReceiveCount: queue.maxReceiveCount,
      logRetention: s.logRetention,
    });
    const sweeper = new SweeperFunction(this, 'Sweeper', {
      table: table.table,
      queue: queue.queue,
      secret: secret.secret,
      openStack: openStackEnvironment(s.openstack),
      logRetention: s.logRetention,
    });
    // The two functions that call Keystone and Nova; the API and the notifier only reach AWS.
    const inVpc = s.vpc ? [worker, sweeper] : [];
    for (const f of inVpc) f.placeInVpc(s.vpc as NonNullable<typeof s.vpc>);
    const notifications = new JobNotifications(this, 'Notifications', {
      table: table.table,
      eventBusName: s.notifications.eventBusName,
      reportRetentionDays: s.notifications.reportRetentionDays,
      logRetention: s.logRetention,
    });
    this.api = new RebuildApi(this, 'Api', {
      handler: apiFunction.fn,
      rateLimit: s.apiThrottle.rateLimit,
      burstLimit: s.apiThrottle.burstLimit,
      logRetention: s.logRetention,
    });

    const alarms = new RebuildAlarms(this, 'Alarms', {
      queue: queue.queue,
      deadLetterQueue: queue.deadLetterQueue,
      worker: worker.fn,
      httpApi: this.api.httpApi,
      ...s.alarms,
    });
    const dashboard = new RebuildDashboard(this, 'Dashboard', {
      queue: queue.queue,
      deadLetterQueue: queue.deadLetterQueue,
      api: apiFunction.fn,
      worker: worker.fn,
      httpApi: this.api.httpApi,
      metricsNamespace: METRICS_NAMESPACE,
      apiService: API_SERVICE_NAME,
      workerService: WORKER_SERVICE_NAME,
      alarms: alarms.alarms,
    });

    // The notifier's wildcards are its own (the stream's listing beside X-Ray's): cdk/constructs/notifications.ts.
    this.acknowledgeFindings([apiFunction, worker, sweeper], [notifications.notifier], inVpc);

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL; requests are signed with SigV4 (service execute-api)' });
    new CfnOutput(this, 'OpenStackSecretArn', {
      value: secret.secret.secretArn,
      description: secret.created
        ? 'Fill this secret in before the first job: {"OS_USERNAME": ..., "OS_PASSWORD": ...} (or an application credential, or COMPUTE_TOKEN)'
        : 'The OpenStack credentials the worker reads',
    });
    new CfnOutput(this, 'TableName', { value: table.table.tableName });
    new CfnOutput(this, 'QueueUrl', { value: queue.queue.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueArn', { value: queue.deadLetterQueue.queueArn, description: 'Redrive with aws sqs start-message-move-task --source-arn' });
    new CfnOutput(this, 'ReportBucketName', { value: notifications.bucket.bucketName, description: "Ended jobs' reports: reports/<project>/<job>/run-<n>-<completedAt>.jsonl" });
    new CfnOutput(this, 'EventBusName', { value: s.notifications.eventBusName, description: `Job status events: source ${EVENT_SOURCE}, detail-type "${STATUS_CHANGE}"` });
    new CfnOutput(this, 'WorkerFunctionName', { value: worker.fn.functionName });
    new CfnOutput(this, 'DashboardUrl', {
      value: `https://${this.region}.console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards/dashboard/${dashboard.dashboard.dashboardName}`,
    });
  }

  /** cdk-nag findings that are by design, each with its reason, on the construct it is about. */
  private acknowledgeFindings(functions: ServiceFunction[], runtimeOnly: ServiceFunction[], inVpc: ServiceFunction[]): void {
    for (const f of [...functions, ...runtimeOnly]) {
      Validations.of(f.fn).acknowledge({
        id: 'AwsSolutions-L1',
        reason: `Pinned to nodejs${NODE_MAJOR}.x on purpose: the bundles are built for node${NODE_MAJOR} (esbuild target) and the tests run on the same major; a runtime change is a deliberate, tested upgrade, not something a synth picks up.`,
      });
    }
    for (const f of functions) {
      Validations.of(f).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: inVpc.includes(f)
          ? "X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) and, in the operator's VPC, the EC2 network-interface actions Lambda needs to place the function there (AWSLambdaVPCAccessExecutionRole's): none has a resource narrower than *."
          : 'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level permissions, so their only resource is *.',
      });
    }
  }
}
