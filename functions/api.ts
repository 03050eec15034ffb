/**
 * Lambda entry of the HTTP API. Clients and configuration are built once per cold start, by the
 * one composition root (`wiring.ts`); each request only routes and calls a use case.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { apiConfigFromEnv } from '../lib/settings.js';
import { createApi } from './api-app.js';
import { powertoolsSink } from './metrics.js';
import { awsParts } from './wiring.js';

const logger = new Logger({ serviceName: 'rebuild-api' });
const metrics = new Metrics({ namespace: 'OpenStackBulkRebuild', serviceName: 'rebuild-api' });
const { store, queue } = awsParts(process.env);

export const handler = middy(createApi({ store, queue, config: apiConfigFromEnv(process.env), logger, metrics: powertoolsSink(metrics) }))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
