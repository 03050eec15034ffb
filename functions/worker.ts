/**
 * Lambda entry of the worker: the composition root. Clients, credentials (read once from Secrets
 * Manager when OPENSTACK_SECRET_ARN is set, else from the environment) and configuration are
 * built once per cold start.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { computeConfigFromEnv } from '../lib/openstack/config.js';
import { createComputeApi } from '../lib/openstack/nova.js';
import { DynamoJobStore, createDynamoClient } from '../lib/aws/dynamodb-store.js';
import { loadSecretSettings } from '../lib/aws/secrets.js';
import { SqsRebuildQueue, createSqsClient } from '../lib/aws/sqs-queue.js';
import { awsEndpointsFromEnv, workerConfigFromEnv } from '../lib/settings.js';
import { powertoolsSink } from './metrics.js';
import { createWorker } from './worker-app.js';

const config = workerConfigFromEnv(process.env);
const endpoints = awsEndpointsFromEnv(process.env);
const logger = new Logger({ serviceName: 'rebuild-worker' });
const metrics = new Metrics({ namespace: 'OpenStackBulkRebuild', serviceName: 'rebuild-worker' });
const secretId = process.env.OPENSTACK_SECRET_ARN;
const credentials = secretId ? await loadSecretSettings(secretId) : {};
const store = new DynamoJobStore(createDynamoClient(endpoints.dynamodb ? { endpoint: endpoints.dynamodb } : {}), config.tableName);
const queue = new SqsRebuildQueue(createSqsClient(endpoints.sqs ? { endpoint: endpoints.sqs } : {}), config.queueUrl);
const compute = createComputeApi(computeConfigFromEnv({ ...process.env, ...credentials }));

export const handler = middy(createWorker({ store, queue, compute, settings: config.settings, logger, metrics: powertoolsSink(metrics) }))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
