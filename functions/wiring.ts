/**
 * The one composition root: builds the store, the queue, the Compute client, the server's life and
 * the settings from an environment, for the Lambda functions, the local stack and the fault suite
 * alike. What differs between them (the stand-ins' endpoints, a test's hooks) comes in through the
 * environment or `overrides`, never through a second copy of this wiring.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoJobStore, createDynamoClient } from '../lib/aws/dynamodb-store.js';
import { EventBridgeSink, S3ReportArchive, createEventBridgeClient, createS3Client } from '../lib/aws/notifications.js';
import { SqsRebuildQueue, createSqsClient } from '../lib/aws/sqs-queue.js';
import type { NotifierDeps } from '../lib/jobs/events.js';
import { ServerLife } from '../lib/jobs/lifecycle.js';
import type { MetricsSink } from '../lib/jobs/ports.js';
import type { ComputeApi } from '../lib/openstack/compute.js';
import { createComputeApi } from '../lib/openstack/nova.js';
import { type WorkerConfig, computeConfigFromEnv, deploymentFromEnv, workerConfigFromEnv } from '../lib/settings.js';
import type { WorkerDeps, WorkerLogger } from '../lib/worker/step.js';
import type { SweepDeps } from '../lib/worker/sweeper.js';

type Env = Record<string, string | undefined>;

/** Credentials and Region for the SDK clients where the environment has none (the local stand-ins). */
export interface AwsClientOptions {
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** The AWS side: clients (built once per process) and the adapters on them. */
export interface AwsParts {
  dynamodb: DynamoDBClient;
  sqs: SQSClient;
  store: DynamoJobStore;
  queue: SqsRebuildQueue;
}

/** The table and queue adapters where the deployment says (lib/settings.ts, deploymentFromEnv). */
export function awsParts(env: Env, clients: AwsClientOptions = {}): AwsParts {
  const { tableName, queueUrl, endpoints } = deploymentFromEnv(env);
  const dynamodb = createDynamoClient({ ...clients, ...(endpoints.dynamodb ? { endpoint: endpoints.dynamodb } : {}) });
  const sqs = createSqsClient({ ...clients, ...(endpoints.sqs ? { endpoint: endpoints.sqs } : {}) });
  return { dynamodb, sqs, store: new DynamoJobStore(dynamodb, tableName), queue: new SqsRebuildQueue(sqs, queueUrl as string) };
}

/** The server's life on a store: the one writer of server records. */
export function lifeOn(parts: Pick<AwsParts, 'store'>, minFailureSample: number, metrics?: MetricsSink, now?: () => Date): ServerLife {
  return new ServerLife({ store: parts.store, now: now ?? (() => new Date()), minFailureSample, ...(metrics ? { metrics } : {}) });
}

/** The Compute client for the environment's OpenStack settings (`credentials`: the secret's, over the environment's). */
export function computeFor(env: Env, credentials: Record<string, string> = {}): ComputeApi {
  return createComputeApi(computeConfigFromEnv({ ...env, ...credentials }));
}

export interface WorkerOverrides {
  metrics?: MetricsSink;
  crashPoint?: WorkerDeps['crashPoint'];
  compute?: ComputeApi;
  now?: () => Date;
}

/** What the worker handler is built from. */
export function workerParts(
  env: Env,
  parts: AwsParts,
  logger: WorkerLogger,
  credentials: Record<string, string> = {},
  overrides: WorkerOverrides = {},
): { config: WorkerConfig; deps: WorkerDeps } {
  const config = workerConfigFromEnv(env);
  const deps: WorkerDeps = {
    store: parts.store,
    queue: parts.queue,
    life: lifeOn(parts, config.settings.minFailureSample, overrides.metrics, overrides.now),
    compute: overrides.compute ?? computeFor(env, credentials),
    settings: config.settings,
    logger,
    ...(overrides.metrics ? { metrics: overrides.metrics } : {}),
    ...(overrides.now ? { now: overrides.now } : {}),
    ...(overrides.crashPoint ? { crashPoint: overrides.crashPoint } : {}),
  };
  return { config, deps };
}

/** What the sweeper is built from: the worker's parts and the sweep's own settings. */
export function sweeperDeps(worker: WorkerDeps, config: WorkerConfig): SweepDeps {
  return {
    store: worker.store,
    life: worker.life,
    queue: worker.queue,
    compute: worker.compute,
    settings: worker.settings,
    sweep: config.sweep,
    logger: worker.logger,
    ...(worker.metrics ? { metrics: worker.metrics } : {}),
    ...(worker.now ? { now: worker.now } : {}),
  };
}

/**
 * What the notifier is built from: the table (to read an ended job's servers for its report), the
 * event bus (EVENT_BUS_NAME) and the report bucket (REPORT_BUCKET; without it no report is kept).
 * Locally the same notifier runs on file outlets instead (local/notifications.ts).
 */
export function notifierParts(env: Env): NotifierDeps {
  const { tableName, eventBusName, reportBucket, endpoints } = deploymentFromEnv(env, ['eventBusName']);
  const dynamodb = createDynamoClient(endpoints.dynamodb ? { endpoint: endpoints.dynamodb } : {});
  return {
    store: new DynamoJobStore(dynamodb, tableName),
    events: new EventBridgeSink(createEventBridgeClient(), eventBusName as string),
    ...(reportBucket ? { reports: new S3ReportArchive(createS3Client(), reportBucket) } : {}),
  };
}
