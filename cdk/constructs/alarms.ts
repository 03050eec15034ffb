import { Duration, Validations } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Alarm, ComparisonOperator, type IAlarm, type IMetric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface RebuildAlarmsProps {
  queue: IQueue;
  deadLetterQueue: IQueue;
  worker: IFunction;
  httpApi: IHttpApi;
  /** A new topic is created with this address subscribed (it must confirm the subscription). */
  email?: string;
  /** An existing topic to notify. */
  topicArn?: string;
  /**
   * The age of the oldest message that means the worker is not keeping up.
   * @default 30 minutes: a wait is a message delayed up to 15 minutes, so ages up to that are normal
   */
  oldestMessageAge?: Duration;
}

/**
 * What wakes someone up: a poison message, a queue the worker does not keep up with, a worker
 * that crashes or is throttled, and API 5xx answers. All notify one topic, when there is one.
 */
export class RebuildAlarms extends Construct {
  readonly alarms: IAlarm[] = [];
  readonly topic?: ITopic;

  constructor(scope: Construct, id: string, props: RebuildAlarmsProps) {
    super(scope, id);
    if (props.email !== undefined && props.topicArn !== undefined) {
      throw new Error('RebuildAlarms: give email or topicArn, not both');
    }
    if (props.topicArn !== undefined) {
      this.topic = Topic.fromTopicArn(this, 'Topic', props.topicArn);
    } else if (props.email !== undefined) {
      const topic = new Topic(this, 'Topic', { displayName: 'Bulk rebuild alarms', enforceSSL: true });
      topic.addSubscription(new EmailSubscription(props.email));
      Validations.of(topic).acknowledge({
        id: 'AwsSolutions-SNS2',
        reason: 'The topic carries CloudWatch alarm notices (alarm names and metric values, no job data or credentials). CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed key would cost more than every other resource at rest.',
      });
      this.topic = topic;
    }
    const oldest = props.oldestMessageAge ?? Duration.minutes(30);
    const fiveMinutes = Duration.minutes(5);

    this.add('DeadLetters', {
      description: 'Messages in the rebuild dead-letter queue: a step failed five times (poison message or repeated worker crash). Look at the worker logs (PoisonMessages metric), then redrive or delete.',
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 0,
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });
    this.add('OldestMessage', {
      description: `The oldest rebuild message is older than ${oldest.toHumanString()}: the worker is not keeping up (maxConcurrency too low, or it is failing).`,
      metric: props.queue.metricApproximateAgeOfOldestMessage({ period: fiveMinutes, statistic: 'Maximum' }),
      threshold: oldest.toSeconds(),
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      // Fifteen minutes over: a burst the worker is catching up on does not page anyone.
      evaluationPeriods: 3,
    });
    this.add('WorkerErrors', {
      description: 'The worker function failed (crash, timeout, or a cold start that could not read its settings or secret). Step failures are partial batch responses and do not count here.',
      metric: props.worker.metricErrors({ period: fiveMinutes, statistic: 'Sum' }),
      threshold: 1,
      comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
    this.add('WorkerThrottles', {
      description: 'The worker was throttled: the account or Region has no concurrency left for it (the event source keeps it within maxConcurrency).',
      metric: props.worker.metricThrottles({ period: fiveMinutes, statistic: 'Sum' }),
      threshold: 1,
      comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
    this.add('Api5xx', {
      description: 'The API answered 5xx: the function failed, timed out, or the table or queue was unavailable (a 503 names the job whose servers were not queued).',
      metric: props.httpApi.metricServerError({ period: fiveMinutes, statistic: 'Sum' }),
      threshold: 1,
      comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
  }

  private add(id: string, p: { description: string; metric: IMetric; threshold: number; comparison: ComparisonOperator; evaluationPeriods: number }) {
    const alarm = new Alarm(this, id, {
      alarmDescription: p.description,
      metric: p.metric,
      threshold: p.threshold,
      comparisonOperator: p.comparison,
      evaluationPeriods: p.evaluationPeriods,
      // No data is no trouble: an idle service publishes no errors and no 5xx.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (this.topic) {
      alarm.addAlarmAction(new SnsAction(this.topic));
      alarm.addOkAction(new SnsAction(this.topic));
    }
    this.alarms.push(alarm);
  }
}
