/**
 * A worker process: the worker function behind the local event-source poller, configured from
 * the environment a LocalStack hands out (`workerEnv`), by the same composition root as the
 * functions. The fault suite runs it as a child process so it can kill it at any moment, as
 * Lambda's runtime may die.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { SqsConsumer } from '../lib/aws/sqs-queue.js';
import { awsParts, workerParts } from '../functions/wiring.js';
import { createWorker } from '../functions/worker-app.js';
import { startPoller } from './poller.js';
import { LOCAL_POLLER } from './stack.js';
import { localFromEnv } from '../lib/settings.js';

const local = localFromEnv(process.env);
const logger = new Logger({ serviceName: 'rebuild-worker', logLevel: local.logLevel });
const parts = awsParts(process.env);
const { config, deps } = workerParts(process.env, parts, logger);
const worker = createWorker({ ...deps, logger }, config.maxReceiveCount);
const poller = startPoller(new SqsConsumer(parts.sqs, config.queueUrl), worker, {
  ...LOCAL_POLLER,
  ...(local.pollerMaxConcurrency ? { maxConcurrency: local.pollerMaxConcurrency } : {}),
  batchingWindowSeconds: 0,
});
process.stdout.write('worker ready\n');
const stop = async () => {
  await poller.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
