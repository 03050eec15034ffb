import { Duration } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IAlarm,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface RebuildDashboardProps {
  queue: IQueue;
  deadLetterQueue: IQueue;
  api: IFunction;
  worker: IFunction;
  httpApi: IHttpApi;
  /** Namespace of the functions' embedded metrics. */
  metricsNamespace: string;
  /** The worker's Powertools service name (`service` dimension of its metrics). */
  workerService: string;
  /** The API function's Powertools service name. */
  apiService: string;
  alarms?: IAlarm[];
  /**
   * Period of every graph.
   * @default 5 minutes
   */
  period?: Duration;
}

/** The service on one page: outcomes, the queue, the functions and the API. */
export class RebuildDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: RebuildDashboardProps) {
    super(scope, id);
    const period = props.period ?? Duration.minutes(5);
    const ns = props.metricsNamespace;
    const emf = (name: string, service: string, statistic = 'Sum', label = name) =>
      new Metric({ namespace: ns, metricName: name, dimensionsMap: { service }, statistic, period, label });
    // A metric recorded with and without a `cause` dimension is summed over every dimension set.
    const total = (name: string, label = name) =>
      new MathExpression({ expression: `SUM(SEARCH('Namespace="${ns}" MetricName="${name}"', 'Sum', ${period.toSeconds()}))`, usingMetrics: {}, label, period });
    const byCause = (name: string, service: string) =>
      new MathExpression({
        expression: `SEARCH('{${ns},cause,service} MetricName="${name}" service="${service}"', 'Sum', ${period.toSeconds()})`,
        usingMetrics: {},
        label: '',
        period,
      });
    const graph = (title: string, left: IMetric[], right: IMetric[] = [], width = 8) =>
      new GraphWidget({ title, left, right, width, height: 6, period });

    const w = props.worker;
    const a = props.api;
    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(6) });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: '# Bulk rebuild\nServer outcomes (worker metrics, namespace `' + ns + '`), the queue, the functions and the API.',
        width: 18,
        height: 2,
      }),
      ...(props.alarms && props.alarms.length > 0 ? [new AlarmStatusWidget({ title: 'Alarms', alarms: props.alarms, width: 6, height: 2 })] : []),
    );
    this.dashboard.addWidgets(
      graph('Submitted', [emf('JobsSubmitted', props.apiService), emf('ServersSubmitted', props.apiService)], [byCause('RequestsRefused', props.apiService)]),
      graph('Servers: outcomes', [total('Succeeded'), total('Failed'), total('Cancelled')], [total('Accepted', 'Accepted by Nova'), total('RebuildsSent')]),
      graph('Seconds to succeed (server) and to complete (job)', [
        emf('SecondsToSucceed', props.workerService, 'p50', 'server p50'),
        emf('SecondsToSucceed', props.workerService, 'p90', 'server p90'),
        emf('JobSecondsToComplete', props.workerService, 'Maximum', 'job'),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Retried, by cause; waits for a slot', [byCause('Retried', props.workerService)], [total('WaitedForSlot')]),
      graph('Failed, by cause', [byCause('Failed', props.workerService)]),
      graph('Poison messages and dead letters', [total('PoisonMessages')], [
        props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum', label: 'in dead-letter queue' }),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Queue depth', [
        props.queue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum', label: 'visible' }),
        props.queue.metricApproximateNumberOfMessagesNotVisible({ period, statistic: 'Maximum', label: 'in flight' }),
        props.queue.metric('ApproximateNumberOfMessagesDelayed', { period, statistic: 'Maximum', label: 'delayed (waits)' }),
      ]),
      graph('Oldest message (s)', [props.queue.metricApproximateAgeOfOldestMessage({ period, statistic: 'Maximum' })]),
      graph('Worker: invocations, errors, throttles', [
        w.metricInvocations({ period, statistic: 'Sum' }),
        w.metricErrors({ period, statistic: 'Sum' }),
        w.metricThrottles({ period, statistic: 'Sum' }),
      ], [w.metric('ConcurrentExecutions', { period, statistic: 'Maximum', label: 'concurrent' })]),
    );
    this.dashboard.addWidgets(
      graph('Worker duration (ms)', [
        w.metricDuration({ period, statistic: 'p50', label: 'p50' }),
        w.metricDuration({ period, statistic: 'p99', label: 'p99' }),
        w.metricDuration({ period, statistic: 'Maximum', label: 'max' }),
      ]),
      graph('API function: errors, throttles', [
        a.metricInvocations({ period, statistic: 'Sum' }),
        a.metricErrors({ period, statistic: 'Sum' }),
        a.metricThrottles({ period, statistic: 'Sum' }),
      ]),
      graph('API function duration (ms)', [
        a.metricDuration({ period, statistic: 'p50', label: 'p50' }),
        a.metricDuration({ period, statistic: 'p99', label: 'p99' }),
        a.metricDuration({ period, statistic: 'Maximum', label: 'max' }),
      ]),
    );
    this.dashboard.addWidgets(
      graph('API requests and errors', [
        props.httpApi.metricCount({ period, statistic: 'Sum', label: 'requests' }),
        props.httpApi.metricClientError({ period, statistic: 'Sum', label: '4xx' }),
        props.httpApi.metricServerError({ period, statistic: 'Sum', label: '5xx' }),
      ], [], 12),
      graph('API latency (ms)', [
        props.httpApi.metricLatency({ period, statistic: 'p50', label: 'p50' }),
        props.httpApi.metricLatency({ period, statistic: 'p99', label: 'p99' }),
        props.httpApi.metricIntegrationLatency({ period, statistic: 'p99', label: 'integration p99' }),
      ], [], 12),
    );
  }
}
