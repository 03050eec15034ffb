/**
 * Lambda entry of the sweeper, run by an EventBridge schedule: one pass over the jobs that have not
 * ended (lib/worker/sweeper.ts). Built by the one composition root, with the worker's parts.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { loadSecretSettings, rebuiltOnRotation } from '../lib/aws/secrets.js';
import { deploymentFromEnv } from '../lib/settings.js';
import { sweep } from '../lib/worker/sweeper.js';
import { powertoolsSink } from './metrics.js';
import { awsParts, sweeperDeps, workerParts } from './wiring.js';

const logger = new Logger({ serviceName: 'rebuild-sweeper' });
const metrics = new Metrics({ namespace: 'OpenStackBulkRebuild', serviceName: 'rebuild-sweeper' });
const secretId = deploymentFromEnv(process.env).secretArn;
const aws = awsParts(process.env);
// Built again when the secret changes (a rotation), without a cold start: lib/aws/secrets.ts.
const parts = rebuiltOnRotation(
  async () => (secretId ? loadSecretSettings(secretId) : {}),
  (credentials) => {
    const { config, deps } = workerParts(process.env, aws, logger, credentials, { metrics: powertoolsSink(metrics) });
    return sweeperDeps(deps, config);
  },
);
await parts.current();

export const handler = middy(async () => {
  const report = await sweep(await parts.current());
  logger.info('sweep', { ...report });
  return report;
})
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
