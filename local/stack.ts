/**
 * The whole service on one machine: DynamoDB Local, fauxqs, the table and queues, and the API
 * handler behind a local gateway. `npm start` runs it; the integration tests start it too, so
 * what the tests prove is what a user runs.
 */
import { chmodSync, existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { computeConfigFromEnv } from '../lib/openstack/config.js';
import { createComputeApi } from '../lib/openstack/nova.js';
import { DynamoJobStore, createDynamoClient, ensureTable } from '../lib/aws/dynamodb-store.js';
import { SqsConsumer, SqsRebuildQueue, createSqsClient } from '../lib/aws/sqs-queue.js';
import { type ApiConfig, apiConfigFromEnv, workerConfigFromEnv } from '../lib/settings.js';
import type { WorkerDeps, WorkerMetrics } from '../lib/worker/step.js';
import { createApi } from '../functions/api-app.js';
import { type WorkerHandler, createWorker } from '../functions/worker-app.js';
import { startGateway } from './gateway.js';
import { type Poller, type PollerOptions, startPoller } from './poller.js';
import { type ComputeSimulator, type SimulatorOptions, startComputeSimulator } from './sim/index.js';
import { type QueueSpec, type RunningDynamo, type RunningSqs, startDynamoLocal, startSqsLocal } from './standins.js';

/** Names and queue settings of the local resources; the CDK stack uses the same settings. */
export const LOCAL_TABLE = 'rebuild-jobs';
export const LOCAL_QUEUE: QueueSpec = {
  name: 'rebuild-requests',
  dlqName: 'rebuild-requests-dlq',
  // Six times the worker's 60 s timeout, as AWS advises for Lambda event sources.
  visibilityTimeoutSeconds: 360,
  // The worker waits by sending new delayed messages, not by failing, so a message is received
  // more than once only when the worker crashed on it; five crashes mark it poison.
  maxReceiveCount: 5,
};
/** The stand-ins take any credentials; these keep the SDK from looking for real ones. */
const LOCAL_AWS = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
const SNAPSHOT_FILE = 'queue-snapshot.json';

export interface LocalStackOptions {
  /** API port; 0 picks a free one. */
  apiPort?: number;
  dynamoPort?: number;
  sqsPort?: number;
  /** Where DynamoDB data and the queue snapshot live; without it everything is in memory. */
  dataDir?: string;
  /** Start from nothing: delete dataDir's contents first. */
  clean?: boolean;
  /** Environment for the API's and worker's settings (limits, quotas, backoff); TABLE_NAME and QUEUE_URL are set here. */
  env?: Record<string, string | undefined>;
  logger?: Logger;
  /** Queue settings other than the defaults (tests shorten the visibility timeout). */
  queue?: Partial<QueueSpec>;
  /**
   * SQS delivers at least once; this makes "more than once" happen on purpose: every message
   * the API or the worker sends is sent this many times. For the exactly-once tests and faults.
   */
  duplicateMessages?: number;
  /**
   * The worker and its event source. Without `COMPUTE_URL` or `OS_AUTH_URL` in `env`, it talks to
   * the Compute API simulator, started here. `false`: no worker (the submit path alone).
   */
  worker?:
    | false
    | {
        poller?: Partial<PollerOptions>;
        simulator?: SimulatorOptions;
        metrics?: WorkerMetrics;
        afterRebuildAnswered?: WorkerDeps['afterRebuildAnswered'];
        /** Start the simulator but no in-process worker: a worker process is run from `workerEnv` (the fault suite kills it). */
        external?: boolean;
      };
}

/** The event source's defaults locally: as the CDK stack sets them in the cloud. */
export const LOCAL_POLLER: PollerOptions = { batchSize: 10, batchingWindowSeconds: 1, maxConcurrency: 5 };

export interface LocalStack {
  apiUrl: string;
  dynamo: RunningDynamo;
  sqs: RunningSqs;
  store: DynamoJobStore;
  queue: SqsRebuildQueue;
  config: ApiConfig;
  /** The SDK clients the adapters use (benchmarks count their calls). */
  clients: { dynamodb: ReturnType<typeof createDynamoClient>; sqs: ReturnType<typeof createSqsClient> };
  /** The environment a worker process (local/worker-main.ts) needs to join this stack. */
  workerEnv: Record<string, string>;
  /** The Compute API simulator, when the worker talks to it. */
  sim?: ComputeSimulator;
  poller?: Poller;
  worker?: WorkerHandler;
  /** SDK client settings that reach the stand-ins, for tests that look at them directly. */
  aws: { region: string; credentials: { accessKeyId: string; secretAccessKey: string }; dynamoEndpoint: string; sqsEndpoint: string };
  stop(): Promise<void>;
}

/** Starts every local part; `stop()` ends all it started. */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  if (options.dataDir && options.clean) rmSync(options.dataDir, { recursive: true, force: true });
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    for (const s of [...started].reverse()) await s.stop().catch(() => undefined);
    started.length = 0;
  };
  try {
    const dynamo = await startDynamoLocal({
      ...(options.dynamoPort !== undefined ? { port: options.dynamoPort } : {}),
      ...(options.dataDir ? { dataDir: join(options.dataDir, 'dynamodb') } : {}),
    });
    started.push(dynamo);
    const sqs = await startSqsLocal({ ...LOCAL_QUEUE, ...options.queue }, options.sqsPort !== undefined ? { port: options.sqsPort } : {});
    started.push(sqs);

    const dynamoClient = createDynamoClient({ ...LOCAL_AWS, endpoint: dynamo.endpoint });
    await ensureTable(dynamoClient, LOCAL_TABLE);
    const sqsClient = createSqsClient({ ...LOCAL_AWS, endpoint: sqs.endpoint });
    const config = apiConfigFromEnv({ ...options.env, TABLE_NAME: LOCAL_TABLE, QUEUE_URL: sqs.queueUrl });
    const store = new DynamoJobStore(dynamoClient, LOCAL_TABLE);
    const queue = new SqsRebuildQueue(sqsClient, sqs.queueUrl);
    const copies = options.duplicateMessages ?? 1;
    if (copies > 1) {
      const send = queue.send.bind(queue);
      const schedule = queue.schedule.bind(queue);
      queue.send = async (messages) => send(messages.flatMap((m) => Array.from({ length: copies }, () => m)));
      queue.schedule = async (message, delay) => {
        for (let i = 0; i < copies; i++) await schedule(message, delay);
      };
    }
    const dlq = new SqsRebuildQueue(sqsClient, sqs.dlqUrl);

    const snapshot = options.dataDir ? join(options.dataDir, SNAPSHOT_FILE) : undefined;
    if (snapshot && existsSync(snapshot)) {
      const saved = JSON.parse(readFileSync(snapshot, 'utf8')) as { main: string[]; dlq: string[] };
      await queue.sendRaw(saved.main);
      await dlq.sendRaw(saved.dlq);
      unlinkSync(snapshot);
    }
    // fauxqs keeps messages in memory only; saving them at stop is what lets an unfinished job
    // go on after a restart. The file holds what the queue holds (secrets included), so only
    // its owner may read it, and it is deleted as soon as it is read back.
    started.push({
      stop: async () => {
        if (!snapshot) return;
        writeFileSync(snapshot, JSON.stringify({ main: sqs.bodies('main'), dlq: sqs.bodies('dlq') }), { mode: 0o600 });
        chmodSync(snapshot, 0o600);
      },
    });

    const logger = options.logger ?? new Logger({ serviceName: 'rebuild-api', logLevel: 'WARN' });
    const api = createApi({ store, queue, config, logger });
    const gateway = await startGateway(api, options.apiPort ?? 0);
    started.push(gateway);

    let sim: ComputeSimulator | undefined;
    let poller: Poller | undefined;
    let worker: WorkerHandler | undefined;
    const workerEnv: Record<string, string> = {};
    if (options.worker !== false) {
      const w = options.worker ?? {};
      let computeEnv: Record<string, string | undefined> = options.env ?? {};
      if (!computeEnv.COMPUTE_URL && !computeEnv.OS_AUTH_URL) {
        sim = await startComputeSimulator({ port: 0, ...w.simulator });
        started.push(sim);
        // Keystone password auth against the simulator: the path a real cloud takes.
        computeEnv = {
          OS_AUTH_URL: sim.keystoneUrl,
          OS_USERNAME: sim.credentials.user.name,
          OS_PASSWORD: sim.credentials.user.password,
          OS_USER_DOMAIN_NAME: 'Default',
        };
      }
      for (const [k, v] of Object.entries({
        ...options.env,
        ...computeEnv,
        TABLE_NAME: LOCAL_TABLE,
        QUEUE_URL: sqs.queueUrl,
        DYNAMODB_ENDPOINT: dynamo.endpoint,
        SQS_ENDPOINT: sqs.endpoint,
        AWS_REGION: LOCAL_AWS.region,
        AWS_ACCESS_KEY_ID: LOCAL_AWS.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_AWS.credentials.secretAccessKey,
      })) {
        if (v !== undefined) workerEnv[k] = v;
      }
    }
    if (options.worker !== false && !options.worker?.external) {
      const w = options.worker ?? {};
      const workerConfig = workerConfigFromEnv(workerEnv);
      worker = createWorker({
        store,
        queue,
        compute: createComputeApi(computeConfigFromEnv(workerEnv)),
        settings: workerConfig.settings,
        logger: options.logger ?? new Logger({ serviceName: 'rebuild-worker', logLevel: 'WARN' }),
        ...(w.metrics ? { metrics: w.metrics } : {}),
        ...(w.afterRebuildAnswered ? { afterRebuildAnswered: w.afterRebuildAnswered } : {}),
      });
      poller = startPoller(new SqsConsumer(sqsClient, sqs.queueUrl), worker, { ...LOCAL_POLLER, ...w.poller });
      // Stopped before the queue it reads, which is stopped before the table (reverse start order).
      started.push(poller);
    }
    return {
      workerEnv,
      sim,
      poller,
      worker,
      apiUrl: gateway.url,
      dynamo,
      sqs,
      store,
      queue,
      config,
      clients: { dynamodb: dynamoClient, sqs: sqsClient },
      aws: { ...LOCAL_AWS, dynamoEndpoint: dynamo.endpoint, sqsEndpoint: sqs.endpoint },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
