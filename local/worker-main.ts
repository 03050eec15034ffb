/**
 * A worker process: the worker function behind the local event-source poller, configured from
 * the environment a LocalStack hands out (`workerEnv`). The fault suite runs it as a child
 * process so it can kill it at any moment, as Lambda's runtime may die.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { computeConfigFromEnv } from '../lib/openstack/config.js';
import { createComputeApi } from '../lib/openstack/nova.js';
import { DynamoJobStore, createDynamoClient } from '../lib/aws/dynamodb-store.js';
import { SqsConsumer, SqsRebuildQueue, createSqsClient } from '../lib/aws/sqs-queue.js';
import { awsEndpointsFromEnv, workerConfigFromEnv } from '../lib/settings.js';
import { createWorker } from '../functions/worker-app.js';
import { startPoller } from './poller.js';
import { LOCAL_POLLER } from './stack.js';

const config = workerConfigFromEnv(process.env);
const endpoints = awsEndpointsFromEnv(process.env);
const logger = new Logger({ serviceName: 'rebuild-worker', logLevel: (process.env.LOG_LEVEL ?? 'WARN') as 'WARN' });
const sqsClient = createSqsClient(endpoints.sqs ? { endpoint: endpoints.sqs } : {});
const store = new DynamoJobStore(createDynamoClient(endpoints.dynamodb ? { endpoint: endpoints.dynamodb } : {}), config.tableName);
const worker = createWorker({
  store,
  queue: new SqsRebuildQueue(sqsClient, config.queueUrl),
  compute: createComputeApi(computeConfigFromEnv(process.env)),
  settings: config.settings,
  logger,
});
const poller = startPoller(new SqsConsumer(sqsClient, config.queueUrl), worker, {
  ...LOCAL_POLLER,
  ...(process.env.POLLER_MAX_CONCURRENCY ? { maxConcurrency: Number(process.env.POLLER_MAX_CONCURRENCY) } : {}),
  batchingWindowSeconds: 0,
});
process.stdout.write('worker ready\n');
const stop = async () => {
  await poller.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
