import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { Grant } from 'aws-cdk-lib/aws-iam';
import { FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, type CfnBucket, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { JOB_SK } from '../../lib/aws/table.js';
import { ENTRIES } from '../bundling.js';
import { ServiceFunction } from './service-function.js';
import { DEPLOYMENT_ENV } from '../../lib/settings.js';

export const NOTIFIER_SERVICE_NAME = 'rebuild-notifier';

export interface JobNotificationsProps {
  /** The jobs table, with its stream (cdk/constructs/table.ts). */
  table: ITable;
  /** The bus the status events are put on. */
  eventBusName: string;
  /** Days an ended job's report is kept before S3 deletes it. */
  reportRetentionDays: number;
  /** @default RetentionDays.ONE_MONTH */
  logRetention?: RetentionDays;
}

/**
 * What the world hears of jobs: the notifier reads the jobs table's stream (job items only, by the
 * event source's filter), puts an EventBridge event on every job status change and keeps each ended
 * job's report in an encrypted bucket whose objects expire (lib/jobs/events.ts).
 */
export class JobNotifications extends Construct {
  readonly bucket: Bucket;
  readonly notifier: ServiceFunction;
  /** Where the stream's records go when the notifier could not tell them after every retry (their place in the stream, to replay). */
  readonly failures: Queue;

  constructor(scope: Construct, id: string, props: JobNotificationsProps) {
    super(scope, id);
    this.bucket = new Bucket(this, 'Reports', {
      // The AWS-managed key, as the table: its use shows in CloudTrail, at no monthly cost.
      encryption: BucketEncryption.KMS_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(props.reportRetentionDays), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      // Reports are records of what was rebuilt: they outlive a mistaken `cdk destroy`, and expire anyway.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.failures = new Queue(this, 'Failures', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The stream keeps a record 24 h; a failure's pointer into it is worth keeping as long as anyone could act on it.
      retentionPeriod: Duration.days(14),
    });

    this.notifier = new ServiceFunction(this, 'Notifier', {
      entry: ENTRIES.notifier,
      description: 'Bulk rebuild notifier: an EventBridge event on every job status change, the report in S3 when a job ends',
      serviceName: NOTIFIER_SERVICE_NAME,
      // A report of 2,000 servers is about 3 MB of JSON built in memory.
      memorySize: 512,
      // A report is two Query pages and one PutObject: seconds. A minute leaves room for a slow S3.
      timeout: Duration.seconds(60),
      environment: { [DEPLOYMENT_ENV.eventBus]: props.eventBusName, [DEPLOYMENT_ENV.reportBucket]: this.bucket.bucketName },
      ...(props.logRetention !== undefined ? { logRetention: props.logRetention } : {}),
    });
    const fn = this.notifier.fn;
    // It only reads the table: its servers, for a report (the stream's own read is the event source's grant).
    fn.addEnvironment(DEPLOYMENT_ENV.table, props.table.tableName);
    Grant.addToPrincipal({ grantee: fn, actions: ['dynamodb:Query'], resourceArns: [props.table.tableArn] });
    Grant.addToPrincipal({ grantee: fn, actions: ['s3:PutObject'], resourceArns: [this.bucket.arnForObjects('reports/*')] });
    EventBus.fromEventBusName(this, 'Bus', props.eventBusName).grantPutEventsTo(fn);

    fn.addEventSource(
      new DynamoEventSource(props.table, {
        // The stream is as old as the table: from its start, no change made before the notifier was up is lost.
        startingPosition: StartingPosition.TRIM_HORIZON,
        // Job items only: a server's records, locks and claims are most of the stream and tell nothing.
        filters: [FilterCriteria.filter({ dynamodb: { Keys: { sk: { S: FilterRule.isEqual(JOB_SK) } } } })],
        // A job item changes with every server that moves (its counters): a second's window folds
        // a busy job's changes into a few invocations, and an event is still told within seconds.
        batchSize: 100,
        maxBatchingWindow: Duration.seconds(1),
        // The handler names the first record it could not tell; the batch is retried from there, in order.
        reportBatchItemFailures: true,
        // About an hour of retries with Lambda's backoff: an EventBridge or S3 outage outlasted, then the
        // record's place in the stream goes to the failures queue, and the shard goes on.
        retryAttempts: 100,
        onFailure: new SqsDlq(this.failures),
      }),
    );

    const stack = Stack.of(this);
    const bucketId = stack.resolve(stack.getLogicalId(this.bucket.node.defaultChild as CfnBucket)) as string;
    Validations.of(this.notifier).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/reports/*]`,
      reason: "PutObject on the reports/ prefix of this stack's own bucket: one object per ended job, whose key (project, job, run) is only known when the job ends.",
    });
    Validations.of(this.notifier).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: "X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) and the stream event source's dynamodb:ListStreams: none of the three has resource-level permissions, so their only resource is *.",
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Only the notifier writes here (one PutObject per ended job) and nobody reads but through IAM: CloudTrail data events are the audit trail to enable if one is needed, not a second bucket of access logs.',
    });
    Validations.of(this.failures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the failure destination of the notifier\'s event source: it holds pointers to stream records that could not be told, for an operator to replay.',
    });
  }
}
