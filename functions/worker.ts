/**
 * Lambda entry of the worker. Clients, credentials (read once from Secrets Manager when
 * OPENSTACK_SECRET_ARN is set, else from the environment) and configuration are built once per
 * cold start, by the one composition root (`wiring.ts`).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { loadSecretSettings } from '../lib/aws/secrets.js';
import { powertoolsSink } from './metrics.js';
import { awsParts, workerParts } from './wiring.js';
import { createWorker } from './worker-app.js';

const logger = new Logger({ serviceName: 'rebuild-worker' });
const metrics = new Metrics({ namespace: 'OpenStackBulkRebuild', serviceName: 'rebuild-worker' });
const secretId = process.env.OPENSTACK_SECRET_ARN;
const credentials = secretId ? await loadSecretSettings(secretId) : {};
const { config, deps } = workerParts(process.env, awsParts(process.env), logger, credentials, { metrics: powertoolsSink(metrics) });

export const handler = middy(createWorker({ ...deps, logger }, config.maxReceiveCount))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
