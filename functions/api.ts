/**
 * Lambda entry of the HTTP API: the composition root. Clients and configuration are built once
 * per cold start; each request only routes and calls a use case.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { DynamoJobStore, createDynamoClient } from '../lib/aws/dynamodb-store.js';
import { SqsRebuildQueue, createSqsClient } from '../lib/aws/sqs-queue.js';
import { apiConfigFromEnv, awsEndpointsFromEnv } from '../lib/settings.js';
import { createApi } from './api-app.js';
import { powertoolsSink } from './metrics.js';

const config = apiConfigFromEnv(process.env);
const endpoints = awsEndpointsFromEnv(process.env);
const logger = new Logger({ serviceName: 'rebuild-api' });
const metrics = new Metrics({ namespace: 'OpenStackBulkRebuild', serviceName: 'rebuild-api' });
const store = new DynamoJobStore(createDynamoClient(endpoints.dynamodb ? { endpoint: endpoints.dynamodb } : {}), config.tableName);
const queue = new SqsRebuildQueue(createSqsClient(endpoints.sqs ? { endpoint: endpoints.sqs } : {}), config.queueUrl);

export const handler = middy(createApi({ store, queue, config, logger, metrics: powertoolsSink(metrics) }))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
