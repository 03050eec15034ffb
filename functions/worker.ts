/**
 * Lambda entry of the worker. Clients and configuration are built by the one composition root
 * (`wiring.ts`); the credentials come from Secrets Manager when OPENSTACK_SECRET_ARN is set (read
 * through Powertools' cache, and the Compute client built again when they rotate), else from the
 * environment.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { loadSecretSettings, rebuiltOnRotation } from '../lib/aws/secrets.js';
import { deploymentFromEnv } from '../lib/settings.js';
import { powertoolsSink } from './metrics.js';
import { awsParts, workerParts } from './wiring.js';
import { createWorker } from './worker-app.js';

const logger = new Logger({ serviceName: 'rebuild-worker' });
const metrics = new Metrics({ namespace: 'OpenStackBulkRebuild', serviceName: 'rebuild-worker' });
const secretId = deploymentFromEnv(process.env).secretArn;
const aws = awsParts(process.env);
// Built again when the secret changes (a rotation), without a cold start: lib/aws/secrets.ts.
const parts = rebuiltOnRotation(
  async () => (secretId ? loadSecretSettings(secretId) : {}),
  (credentials) => {
    const { config, deps } = workerParts(process.env, aws, logger, credentials, { metrics: powertoolsSink(metrics) });
    return createWorker({ ...deps, logger }, config.maxReceiveCount);
  },
);
// Read at init, as before: a secret that cannot be read fails the cold start, not each message.
await parts.current();

export const handler = middy(async (event: Parameters<Awaited<ReturnType<typeof parts.current>>>[0]) => (await parts.current())(event))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
