/**
 * Lambda entry of the sweeper, run by an EventBridge schedule: one pass over the jobs that have not
 * ended (lib/worker/sweeper.ts). Built by the one composition root, with the worker's parts.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { loadSecretSettings } from '../lib/aws/secrets.js';
import { sweep } from '../lib/worker/sweeper.js';
import { powertoolsSink } from './metrics.js';
import { awsParts, sweeperDeps, workerParts } from './wiring.js';

const logger = new Logger({ serviceName: 'rebuild-sweeper' });
const metrics = new Metrics({ namespace: 'OpenStackBulkRebuild', serviceName: 'rebuild-sweeper' });
const secretId = process.env.OPENSTACK_SECRET_ARN;
const credentials = secretId ? await loadSecretSettings(secretId) : {};
const { config, deps } = workerParts(process.env, awsParts(process.env), logger, credentials, { metrics: powertoolsSink(metrics) });
const sweepDeps = sweeperDeps(deps, config);

export const handler = middy(async () => {
  const report = await sweep(sweepDeps);
  logger.info('sweep', { ...report });
  return report;
})
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
