/**
 * The whole service on one machine: DynamoDB Local, fauxqs, the table and queues, and the API
 * handler behind a local gateway. `npm start` runs it; the integration tests start it too, so
 * what the tests prove is what a user runs.
 */
import { chmodSync, existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { type DynamoJobStore, ensureTable } from '../lib/aws/dynamodb-store.js';
import { SqsConsumer, type SqsRebuildQueue } from '../lib/aws/sqs-queue.js';
import type { MetricsSink } from '../lib/jobs/ports.js';
import { type ApiConfig, DEFAULT_MAX_RECEIVE_COUNT, DEPLOYMENT_ENV, apiConfigFromEnv } from '../lib/settings.js';
import type { WorkerDeps } from '../lib/worker/step.js';
import { type SweepReport, sweep } from '../lib/worker/sweeper.js';
import { createApi } from '../functions/api-app.js';
import { type AwsParts, awsParts, sweeperDeps, workerParts } from '../functions/wiring.js';
import { type WorkerHandler, createWorker } from '../functions/worker-app.js';
import type { JobStatusEvent } from '../lib/jobs/events.js';
import { LOCAL_PRINCIPAL, startGateway } from './gateway.js';
import { type LocalNotifier, startLocalNotifier } from './notifications.js';
import { type Poller, type PollerOptions, startPoller } from './poller.js';
import { WorkerProcess } from './worker-process.js';
import { type ComputeSimulator, type SimulatorOptions, startComputeSimulator } from './sim/index.js';
import { type QueueSpec, type RunningDynamo, type RunningSqs, startDynamoLocal, startSqsLocal } from './standins.js';

/** Names and queue settings of the local resources; the CDK stack uses the same settings. */
export const LOCAL_TABLE = 'rebuild-jobs';
export const LOCAL_QUEUE: QueueSpec = {
  name: 'rebuild-requests',
  dlqName: 'rebuild-requests-dlq',
  // Six times the worker's 60 s timeout, as AWS advises for Lambda event sources.
  visibilityTimeoutSeconds: 360,
  // The worker's and the cloud queue's number (lib/settings.ts explains it).
  maxReceiveCount: DEFAULT_MAX_RECEIVE_COUNT,
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
  /** Called with each job status event the notifier tells (npm start prints a line). */
  onEvent?: (event: JobStatusEvent) => void;
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
        metrics?: MetricsSink;
        crashPoint?: WorkerDeps['crashPoint'];
        /** Start the simulator but no in-process worker: a worker process is run from `workerEnv` (the fault suite kills it). */
        external?: boolean;
        /**
         * Run the worker in a child process of its own (local/worker-process.ts), its logs passed on:
         * what `npm start` does, so a draining job never slows the API's answers (the in-process
         * worker shares the API's one thread). Tests keep it in process, where they can reach it.
         */
        process?: boolean;
        /**
         * How often the sweeper runs, in seconds (the cloud's schedule: every 5 minutes). 0: never
         * on its own — a test calls `stack.sweep()` when it wants one.
         */
        sweepEverySeconds?: number;
      };
}

/** The event source's defaults locally: as the CDK stack sets them in the cloud. */
export const LOCAL_POLLER: PollerOptions = { batchSize: 10, batchingWindowSeconds: 0, maxConcurrency: 5 };
/** The sweeper's pace locally: the cloud runs it every 5 minutes (cdk/constructs/functions.ts); a laptop's jobs are small. */
export const LOCAL_SWEEP_SECONDS = 60;

export interface LocalStack {
  apiUrl: string;
  dynamo: RunningDynamo;
  sqs: RunningSqs;
  store: DynamoJobStore;
  queue: SqsRebuildQueue;
  config: ApiConfig;
  /** The SDK clients the adapters use (benchmarks count their calls). */
  clients: { dynamodb: AwsParts['dynamodb']; sqs: AwsParts['sqs'] };
  /** The environment a worker process (local/worker-main.ts) needs to join this stack. */
  workerEnv: Record<string, string>;
  /** The Compute API simulator, when the worker talks to it. */
  sim?: ComputeSimulator;
  poller?: Poller;
  worker?: WorkerHandler;
  /** The notifier: every job status event and every ended job's report (files under dataDir too). */
  notifier: LocalNotifier;
  /** One sweep now (the sweeper also runs on its own timer, unless sweepEverySeconds is 0); `at`: as if it ran then. */
  sweep(at?: Date): Promise<SweepReport>;
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
    const queueSpec = { ...LOCAL_QUEUE, ...options.queue };
    const sqs = await startSqsLocal(queueSpec, options.sqsPort !== undefined ? { port: options.sqsPort } : {});
    started.push(sqs);

    const w = options.worker === false ? undefined : (options.worker ?? {});
    let sim: ComputeSimulator | undefined;
    let computeEnv: Record<string, string | undefined> = {};
    if (w && !options.env?.COMPUTE_URL && !options.env?.OS_AUTH_URL) {
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
    // Locally, the local principal is granted the simulator's project (or every project, with a real
    // cloud behind); PROJECT_GRANTS in the environment replaces that.
    const grants = JSON.stringify({ [LOCAL_PRINCIPAL]: sim ? [sim.tenantId] : '*' });
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({
      PROJECT_GRANTS: grants,
      MAX_RECEIVE_COUNT: String(queueSpec.maxReceiveCount),
      ...options.env,
      ...computeEnv,
      [DEPLOYMENT_ENV.table]: LOCAL_TABLE,
      [DEPLOYMENT_ENV.queue]: sqs.queueUrl,
      [DEPLOYMENT_ENV.dynamodbEndpoint]: dynamo.endpoint,
      [DEPLOYMENT_ENV.sqsEndpoint]: sqs.endpoint,
      AWS_REGION: LOCAL_AWS.region,
      AWS_ACCESS_KEY_ID: LOCAL_AWS.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_AWS.credentials.secretAccessKey,
    })) {
      if (v !== undefined) env[k] = v;
    }

    const parts = awsParts(env, LOCAL_AWS);
    await ensureTable(parts.dynamodb, LOCAL_TABLE);
    const config = apiConfigFromEnv(env);
    const { store, queue } = parts;
    const logger = options.logger ?? new Logger({ serviceName: 'rebuild-api', logLevel: 'WARN' });
    const notifier = await startLocalNotifier(parts.dynamodb, { ...LOCAL_AWS, endpoint: dynamo.endpoint }, LOCAL_TABLE, store, {
      ...(options.dataDir ? { dir: options.dataDir } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      onError: (err) => logger.warn('a job change could not be told; it is retried', { errorName: (err as Error)?.name, errorMessage: (err as Error)?.message }),
    });
    // Stopped before the table it reads (reverse start order).
    started.push(notifier);
    const copies = options.duplicateMessages ?? 1;
    if (copies > 1) {
      const send = queue.send.bind(queue);
      const schedule = queue.schedule.bind(queue);
      queue.send = async (messages) => send(messages.flatMap((m) => Array.from({ length: copies }, () => m)));
      queue.schedule = async (message, delay) => {
        for (let i = 0; i < copies; i++) await schedule(message, delay);
      };
    }

    const snapshot = options.dataDir ? join(options.dataDir, SNAPSHOT_FILE) : undefined;
    if (snapshot && existsSync(snapshot)) {
      const saved = JSON.parse(readFileSync(snapshot, 'utf8')) as { main: string[]; dlq: string[] };
      const dlq = awsParts({ ...env, [DEPLOYMENT_ENV.queue]: sqs.dlqUrl }, LOCAL_AWS).queue;
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

    const api = createApi({ store, queue, config, logger });
    const gateway = await startGateway(api, options.apiPort ?? 0);
    started.push(gateway);

    let poller: Poller | undefined;
    let worker: WorkerHandler | undefined;
    let sweepNow: (at?: Date) => Promise<SweepReport> = async () => ({ jobs: 0, ended: 0, cancelled: 0, unfinished: false });
    const workerEnv = w ? env : {};
    if (w) {
      const workerLogger = options.logger ?? new Logger({ serviceName: 'rebuild-worker', logLevel: 'WARN' });
      const built = workerParts(env, parts, workerLogger, {}, {
        ...(w.metrics ? { metrics: w.metrics } : {}),
        ...(w.crashPoint ? { crashPoint: w.crashPoint } : {}),
      });
      const sweepDeps = sweeperDeps(built.deps, built.config);
      sweepNow = (at) => sweep(at ? { ...sweepDeps, now: () => at } : sweepDeps);
      const every = w.sweepEverySeconds ?? LOCAL_SWEEP_SECONDS;
      if (every > 0) {
        let running: Promise<unknown> = Promise.resolve();
        const timer = setInterval(() => {
          running = sweepNow().catch((err: unknown) => workerLogger.warn('sweep failed', { errorName: (err as Error)?.name }));
        }, every * 1000);
        timer.unref();
        started.push({ stop: async () => { clearInterval(timer); await running; } });
      }
      if (w.process) {
        const child = new WorkerProcess(env, { echo: true });
        started.push(child);
        await child.start();
      } else if (!w.external) {
        worker = createWorker({ ...built.deps, logger: workerLogger }, built.config.maxReceiveCount);
        poller = startPoller(new SqsConsumer(parts.sqs, sqs.queueUrl), worker, { ...LOCAL_POLLER, ...w.poller });
        // Stopped before the queue it reads, which is stopped before the table (reverse start order).
        started.push(poller);
      }
    }
    return {
      workerEnv,
      sim,
      poller,
      worker,
      notifier,
      sweep: sweepNow,
      apiUrl: gateway.url,
      dynamo,
      sqs,
      store,
      queue,
      config,
      clients: { dynamodb: parts.dynamodb, sqs: parts.sqs },
      aws: { ...LOCAL_AWS, dynamoEndpoint: dynamo.endpoint, sqsEndpoint: sqs.endpoint },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
