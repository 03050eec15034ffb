/**
 * Lambda entry of the worker: the composition root. Clients, credentials and configuration are
 * built once per cold start.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { computeConfigFromEnv, createComputeApi } from '../lib/adapters/compute-http.js';
import { DynamoJobStore, createDynamoClient } from '../lib/adapters/dynamodb-store.js';
import { SqsRebuildQueue, createSqsClient } from '../lib/adapters/sqs-queue.js';
import { awsEndpointsFromEnv, workerConfigFromEnv } from '../lib/config.js';
import { createWorker } from './worker-app.js';

const config = workerConfigFromEnv(process.env);
const endpoints = awsEndpointsFromEnv(process.env);
const logger = new Logger({ serviceName: 'rebuild-worker' });
const store = new DynamoJobStore(createDynamoClient(endpoints.dynamodb ? { endpoint: endpoints.dynamodb } : {}), config.tableName);
const queue = new SqsRebuildQueue(createSqsClient(endpoints.sqs ? { endpoint: endpoints.sqs } : {}), config.queueUrl);
const compute = createComputeApi(computeConfigFromEnv(process.env));

export const handler = middy(createWorker({ store, queue, compute, settings: config.settings, logger })).use(
  injectLambdaContext(logger, { resetKeys: true }),
);
