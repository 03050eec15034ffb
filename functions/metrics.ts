/**
 * The metrics port on Powertools Metrics: CloudWatch embedded metric format, written with the
 * function's logs, published at the end of each invocation by the `logMetrics` middleware.
 */
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { MetricsSink } from '../lib/jobs/ports.js';

/** Records into `metrics`; a metric with a cause goes out on its own with the `cause` dimension. */
export function powertoolsSink(metrics: Metrics): MetricsSink {
  return {
    record(name, value, unit, cause) {
      const u = unit === 'Seconds' ? MetricUnit.Seconds : MetricUnit.Count;
      if (cause === undefined) {
        metrics.addMetric(name, u, value);
        return;
      }
      const single = metrics.singleMetric();
      single.addDimension('cause', cause);
      single.addMetric(name, u, value);
    },
  };
}
