/**
 * One drain under a fault: start a stack, submit a job with recognisable secrets, let the
 * scenario do its damage while the job runs, wait for the end through the status endpoint, then
 * check every invariant. The scenarios in scenarios.ts differ only in their hooks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ComputeSimulator } from '../../local/sim/index.js';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../local/stack.js';
import { ApiClient, IMAGE, type JobView, type ServerView } from './client.js';
import type { ScenarioContext } from './harness.js';
import { countersExact, exactlyOnce, noSecrets, noneLost, told } from './invariants.js';
import { type Secrets, capturingLogger, newSecrets, scanTable } from './secrets.js';
import type { WorkerDeps } from '../../lib/worker/step.js';
import { WorkerProcess } from '../../local/worker-process.js';

/**
 * Timings scaled down so a drain takes seconds: whole-second follow-ups and backoff (SQS delays
 * are whole seconds), a claim lease below the 4 s visibility timeout so an interrupted attempt
 * is recovered on the message's first return.
 */
export const FAST_ENV = {
  WATCH_FIRST_LOOK_SECONDS: '1',
  WATCH_MAX_PACE_SECONDS: '1',
  BACKOFF_BASE_SECONDS: '1',
  BACKOFF_CAP_SECONDS: '4',
  CLAIM_LEASE_SECONDS: '3',
  // An unknown outcome's absence is final 3 s after the attempt (the default is 3 minutes); the
  // simulated requests that act late do so within 1.5 s.
  SETTLE_SECONDS: '3',
  VERIFY_FIRST_SECONDS: '1',
};
export const VISIBILITY_TIMEOUT_SECONDS = 4;
/** Nova's three rebuild phases, ~0.45 s in all. */
const REBUILD_TIMING = { rebuildingMs: 300, blockDeviceMappingMs: 50, spawningMs: 100 };
/** Left of the budget after the wait for the job's end: for the checks and the stops. */
const CHECK_RESERVE_SECONDS = 45;
/** The notifier reads the stream four times a second and keeps a report in one write: 15 s is slack for a loaded machine. */
const TOLD_WITHIN_SECONDS = 15;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Drain {
  ctx: ScenarioContext;
  stack: LocalStack;
  sim: ComputeSimulator;
  client: ApiClient;
  secrets: Secrets;
  serverIds: string[];
  /** Set once the job is submitted. */
  jobId: string;
  submittedAt: number;
  /** The external worker, when the plan asks for one. */
  worker?: WorkerProcess;
  /** The API's (and the in-process worker's) log lines so far. */
  logs: string[];
}

export interface DrainPlan {
  servers: number;
  /** The job's maxInFlight: lower makes the drain longer, so faults land mid-drain. */
  maxInFlight: number;
  duplicateMessages?: number;
  /** Keep DynamoDB's data in a temp dir (removed afterwards), so a restart keeps it. */
  persistent?: boolean;
  /** Run the worker as a child process (local/worker-main.ts) instead of in this process. */
  externalWorker?: boolean;
  /** How far the simulated cloud's clock is from ours, in ms (negative: behind). */
  clockSkewMs?: number;
  /** The in-process worker's crash seam (see WorkerDeps.crashPoint). */
  crashPoint?: WorkerDeps['crashPoint'];
  /** Called before the job is submitted. */
  beforeSubmit?: (d: Drain) => Promise<void>;
  /** Submits the job another way than the API's 202 (a submission that dies midway); returns the job's id. */
  submit?: (d: Drain, body: unknown) => Promise<string>;
  /** The scenario itself moves some of the job's messages to the dead-letter queue. */
  deadLettersExpected?: boolean;
  /** The servers the scenario expects to end FAILED, with their fault names, never rebuilt; decided once the job ended. */
  expectFailed?: (d: Drain) => Map<string, string>;
  /** The damage, done while the job runs; the job's end is awaited after it returns. */
  during?: (d: Drain) => Promise<void>;
  /** Scenario-specific checks once the job ended and the common invariants were checked. */
  after?: (d: Drain, job: JobView | undefined) => Promise<void>;
}

/** The servers of the job that SUCCEEDED so far, for "mid-drain" triggers. */
export function succeeded(job: JobView): number {
  return job.counts.SUCCEEDED ?? 0;
}

const ENDED = ['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED'];
export const isEnded = (job: JobView) => ENDED.includes(job.status);

/** Runs the plan and records figures and violations on ctx. */
export async function runDrain(ctx: ScenarioContext, plan: DrainPlan): Promise<void> {
  const secrets = newSecrets();
  const { logger, lines } = capturingLogger('faults');
  let dataDir: string | undefined;
  if (plan.persistent) {
    const dir = mkdtempSync(join(tmpdir(), 'faults-ddb-'));
    dataDir = dir;
    ctx.onCleanup('temp data dir', () => rmSync(dir, { recursive: true, force: true }));
  }
  ctx.phase = 'starting the local stack';
  const options: LocalStackOptions = {
    env: FAST_ENV,
    logger,
    queue: { visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS },
    ...(plan.duplicateMessages ? { duplicateMessages: plan.duplicateMessages } : {}),
    ...(dataDir ? { dataDir } : {}),
    worker: {
      poller: { batchSize: 10, batchingWindowSeconds: 0, maxConcurrency: 6 },
      simulator: { serverCount: plan.servers, rebuildTiming: REBUILD_TIMING, ...(plan.clockSkewMs ? { clockSkewMs: plan.clockSkewMs } : {}) },
      ...(plan.externalWorker ? { external: true } : {}),
      ...(plan.crashPoint ? { crashPoint: plan.crashPoint } : {}),
      // The scenarios sweep when they mean to (stack.sweep), never on a timer racing them.
      sweepEverySeconds: 0,
    },
  };
  const stack = await startLocalStack(options);
  ctx.onCleanup('local stack', () => stack.stop());
  const sim = stack.sim;
  if (!sim) throw new Error('the stack started no simulator');
  const serverIds = sim.serverIds.slice(0, plan.servers);
  const client = new ApiClient(stack.apiUrl, sim.tenantId);
  const d: Drain = { ctx, stack, sim, client, secrets, serverIds, jobId: '', submittedAt: 0, logs: lines };
  if (plan.externalWorker) {
    const worker = new WorkerProcess({ ...stack.workerEnv, LOG_LEVEL: 'DEBUG' });
    d.worker = worker;
    // Stopped before the stack (cleanups run in reverse).
    ctx.onCleanup('worker process', () => worker.stop());
    ctx.phase = 'starting the worker process';
    await worker.start();
  }
  await plan.beforeSubmit?.(d);

  ctx.phase = 'submitting the job';
  d.submittedAt = Date.now();
  const body = {
    rebuildJob: {
      rebuild: { imageRef: IMAGE, adminPass: secrets.adminPass, personality: secrets.personality },
      // Every tenth server has its own adminPass: per-server secrets must be kept out too.
      servers: serverIds.map((id, i) => (i % 10 === 0 ? { id, rebuild: { adminPass: `${secrets.adminPass}-${i}` } } : { id })),
      options: { maxInFlight: plan.maxInFlight },
    },
  };
  d.jobId = plan.submit ? await plan.submit(d, body) : (await client.submit(body)).id;
  ctx.figures.servers = plan.servers;
  // The needles must match what a leak would look like: the queue (the one place secrets belong)
  // holds them verbatim right after the submission.
  const queued = stack.sqs.bodies('main').join('\n');
  const blind = [secrets.adminPass, secrets.personality[0]?.contents ?? ''].filter((n) => !queued.includes(n));
  if (blind.length) ctx.violations.push({ invariant: 'no secrets', detail: `canary: ${blind.length} secret(s) not found verbatim in the queued messages, so a leak could go unseen` });

  if (plan.during) {
    ctx.phase = 'injecting the fault';
    await plan.during(d);
  }

  ctx.phase = 'waiting for the job to end';
  const waitSeconds = Math.max(10, Math.floor(ctx.remainingSeconds() - CHECK_RESERVE_SECONDS));
  const progress = process.env.FAULTS_DEBUG
    ? setInterval(() => {
        void stack.store.getJob(d.jobId).then((j) =>
          console.error(`DEBUG ${((Date.now() - d.submittedAt) / 1000).toFixed(0)}s`, JSON.stringify({ counts: j?.counts, inFlight: j?.inFlight, watch: j?.watch && { gen: j.watch.gen, tick: j.watch.tick, next: j.watch.nextLookAt, mode: j.watch.mode, preflight: j.watch.preflight } })),
        );
      }, 10_000)
    : undefined;
  const ended = await client.untilEnded(d.jobId, waitSeconds, ctx.signal);
  if (progress) clearInterval(progress);
  const endedAt = ended.job?.completedAt ? Date.parse(ended.job.completedAt) : Date.now();
  ctx.figures.drain = `${((endedAt - d.submittedAt) / 1000).toFixed(1)}s`;
  // The status is derived from the counters, completedAt written just after the last transition:
  // a poll in between sees a final status without it. Reported, not failed, when it then comes.
  if (ended.completedAtLagMs !== undefined) ctx.figures.completedAtLag = `${ended.completedAtLagMs}ms`;

  if (process.env.FAULTS_DEBUG && !ended.ended) {
    const job = await stack.store.getJob(d.jobId);
    console.error('DEBUG job', JSON.stringify({ counts: job?.counts, inFlight: job?.inFlight, watch: job?.watch }));
    const all = await client.allServers(d.jobId).catch(() => []);
    for (const r of all.filter((x) => x.status !== 'SUCCEEDED').slice(0, 5)) {
      console.error('DEBUG server', JSON.stringify(await stack.store.getServer(d.jobId, r.id)));
      for (const l of lines.filter((x) => x.includes(r.id)).slice(-12)) console.error('   ', l.slice(0, 400));
    }
    console.error('DEBUG watch lines', lines.filter((x) => x.includes('"watch')).slice(-15).map((x) => x.slice(0, 300)).join('\n'));
  }
  ctx.phase = 'checking the invariants';
  let records: ServerView[] | undefined;
  try {
    records = await client.allServers(d.jobId);
  } catch (err) {
    ctx.violations.push({ invariant: 'none lost', detail: `could not list the servers: ${(err as Error).message}` });
  }
  const counts = sim.rebuildCounts();
  const expectedFaults = plan.expectFailed?.(d) ?? new Map<string, string>();
  ctx.figures.expectedFailures = expectedFaults.size;
  ctx.violations.push(...exactlyOnce(counts, serverIds, new Set(expectedFaults.keys())));
  ctx.violations.push(...noneLost(ended, records, serverIds, waitSeconds, expectedFaults));
  // The final counters, read after the records so both are at rest.
  const finalJob = (await client.job(d.jobId)) ?? ended.job;
  ctx.violations.push(...countersExact(finalJob, records));

  const ids = new Set(serverIds);
  const requests = sim.requests();
  const ours = requests.filter((r) => r.serverId !== null && ids.has(r.serverId));
  ctx.figures.rebuilds = serverIds.reduce((n, id) => n + (counts[id] ?? 0), 0);
  ctx.figures.rebuildPosts = ours.filter((r) => r.kind === 'rebuild').length;
  ctx.figures.computeCalls = ours.length;
  ctx.figures.faultsServed = requests.filter((r) => r.fault !== null || r.status === 'reset').length;

  await plan.after?.(d, finalJob);

  // The notifier reads the table's stream a few times a second: its end is told within seconds.
  // The job as it stands now: a scenario may have run it again (a redrive) after its first end.
  ctx.phase = 'waiting for the end to be told';
  const lastJob = plan.after ? ((await client.job(d.jobId)) ?? finalJob) : finalJob;
  const toldBy = Date.now() + TOLD_WITHIN_SECONDS * 1000;
  const eventsOf = () => stack.notifier.events.filter((e) => e.jobId === d.jobId);
  while (lastJob?.completedAt && !eventsOf().some((e) => e.completedAt === lastJob.completedAt && e.report) && Date.now() < toldBy) await sleep(200);
  ctx.violations.push(...told(lastJob, eventsOf(), stack.notifier.reports, serverIds.length));

  // A step message in the dead-letter queue pages an operator: only the scenario that puts some
  // there (as a crashed runtime would) may leave them, and their servers must have ended anyway.
  const stray = stack.sqs.bodies('dlq').filter((b) => b.includes(d.jobId)).length;
  ctx.figures.jobMessagesInDlq = stray;
  if (stray && !plan.deadLettersExpected) ctx.violations.push({ invariant: 'none lost', detail: `${stray} of the job's messages ended in the dead-letter queue` });

  ctx.phase = 'looking for secrets';
  const table = await scanTable(stack);
  const workerOutput = d.worker?.output.join('') ?? '';
  const logText = lines.join('\n');
  ctx.figures.logLines = lines.length + (workerOutput ? workerOutput.split('\n').length - 1 : 0);
  ctx.violations.push(
    ...noSecrets(
      [
        { name: 'the DynamoDB table', text: table.text },
        { name: 'the API and worker logs', text: logText },
        { name: 'the worker process output', text: workerOutput },
        { name: 'API responses', text: client.bodies.join('\n') },
        { name: 'the job status events and kept reports', text: JSON.stringify(stack.notifier.events) + [...stack.notifier.reports.values()].join('\n') },
      ],
      secrets.needles,
    ),
  );
  // A check over nothing proves nothing: the logs and the table must have been seen.
  if (!logText.includes(d.jobId) && !workerOutput.includes(d.jobId)) {
    ctx.violations.push({ invariant: 'no secrets', detail: 'no log line names the job: the log capture saw nothing' });
  }
  if (d.worker && !workerOutput.includes(d.jobId)) {
    ctx.violations.push({ invariant: 'no secrets', detail: 'the worker process output never names the job: its capture saw nothing' });
  }
  if (table.items < plan.servers) ctx.violations.push({ invariant: 'no secrets', detail: `the table scan saw only ${table.items} items` });
}
