/**
 * The model test: random interleavings of everything that can happen to a job — deliveries in any
 * order, duplicate deliveries, a worker dying at any call of any step (before or after that call
 * took effect), messages that run out of deliveries and are dead-lettered, cancels, sweeps, time
 * jumps, servers deleted — against the real worker, its watcher, state machine, sweeper and cancel, over the in-memory store (the
 * DynamoDB adapter's conditions), a queue with SQS's delivery rules on a virtual clock, and an
 * in-memory cloud that fails the way a hostile path does (answers lost before or after Nova acted,
 * 5xx after it acted, a balancer's 504 while Nova acts later, a clock minutes off ours).
 *
 * After each run, run to the end: every server ended exactly once, the counters equal the records,
 * no slot is held, the job ended in one write, no server lock is left, and the cloud rebuilt each
 * server at most once — exactly once for every server that ended SUCCEEDED.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cancelJob } from '../../lib/jobs/cancel.js';
import { type JobRecord, SERVER_STATES, isTerminal } from '../../lib/jobs/model.js';
import type { JobStore, StoredTransition } from '../../lib/jobs/ports.js';
import { DEFAULT_WORKER_SETTINGS } from '../../lib/worker/step.js';
import type { ReadFault, RebuildFault } from '../support/model-cloud.js';
import { type Queued, World } from '../support/world.js';

const RUNS = Number(process.env.MODEL_RUNS ?? 60);

/** The worker died: nothing after this point of the invocation happens. */
class Crash extends Error {
  override readonly name = 'Crash';
}

/** A call site the planned crash may hit: the store's, the queue's and the cloud's calls, counted per delivery. */
class CrashPlan {
  private calls = 0;
  dead = false;
  constructor(
    private readonly at: number | null,
    private readonly after: boolean,
  ) {}
  async around<T>(call: () => Promise<T>): Promise<T> {
    if (this.dead) throw new Crash('dead');
    const n = this.calls++;
    if (n === this.at && !this.after) {
      this.dead = true;
      throw new Crash(`crash before call ${n}`);
    }
    const out = await call();
    if (n === this.at) {
      this.dead = true;
      throw new Crash(`crash after call ${n}`);
    }
    return out;
  }
}

/** Wraps every method of `target` so the crash plan of the current delivery sees its calls. */
function crashing<T extends object>(target: T, plan: () => CrashPlan | undefined): T {
  return new Proxy(target, {
    get(obj, key) {
      const value = Reflect.get(obj, key) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const p = plan();
        const call = () => (value as (...a: unknown[]) => Promise<unknown>).apply(obj, args);
        return p ? p.around(call) : call();
      };
    },
  });
}

type Event =
  | { kind: 'deliver'; pick: number; crashAt: number | null; crashAfter: boolean }
  | { kind: 'duplicate'; pick: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'cancel' }
  | { kind: 'sweep' }
  | { kind: 'busy'; server: number }
  | { kind: 'delete'; server: number };

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat(50), crashAt: fc.option(fc.nat(8), { freq: 3 }), crashAfter: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), pick: fc.nat(50) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 1, max: 30_000 }), fc.integer({ min: 60_000, max: 1_200_000 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('sweep' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('busy' as const), server: fc.nat(30) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), server: fc.nat(200) }) },
);

const rebuildFaultArb = fc.constantFrom<RebuildFault>('none', 'none', 'none', 'busy', 'unavailable', 'unsent', 'lostBefore', 'lostAfter', 'actThen500', 'actThen504', 'actLate');
const readFaultArb = fc.constantFrom<ReadFault>('none', 'none', 'none', 'none', 'unavailable', 'lost');

const scenarioArb = fc.record({
  // Our clock starts anywhere within a second: the cloud's times are whole seconds, ours are not.
  startMs: fc.integer({ min: 0, max: 999 }),
  // Now and then a job large enough for the watcher's preflight (jobs/watching.ts PREFLIGHT_MIN_SERVERS).
  servers: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 6 }) }, { weight: 1, arbitrary: fc.integer({ min: 20, max: 24 }) }),
  maxInFlight: fc.integer({ min: 1, max: 6 }),
  maxAttempts: fc.integer({ min: 2, max: 8 }),
  // The contract: at least ±5 minutes between our clock and the cloud's.
  skewMs: fc.integer({ min: -300_000, max: 300_000 }),
  rebuildSeconds: fc.integer({ min: 1, max: 600 }),
  // A request held behind a balancer acts before the settle time, as the worker assumes.
  lateSeconds: fc.integer({ min: 1, max: DEFAULT_WORKER_SETTINGS.settleSeconds - 30 }),
  rebuildFaults: fc.array(rebuildFaultArb, { maxLength: 30 }),
  readFaults: fc.array(readFaultArb, { maxLength: 30 }),
  events: fc.array(eventArb, { minLength: 5, maxLength: 120 }),
  secondJob: fc.boolean(),
  // After the job ended: its FAILED and CANCELLED servers run again, while copies of messages of
  // the first run are delivered late.
  redrive: fc.boolean(),
  lateCopies: fc.array(fc.nat(200), { maxLength: 6 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

async function run(s: Scenario): Promise<void> {
  const world = new World({ servers: s.servers, skewMs: s.skewMs, rebuildMs: s.rebuildSeconds * 1000, lateMs: s.lateSeconds * 1000, startMs: s.startMs });
  const { memory, queue, cloud, ids } = world;
  let plan: CrashPlan | undefined;
  // Every transition the store wrote: each server must end exactly once.
  const ends = new Map<string, number>();
  const recorded: JobStore = new Proxy(memory, {
    get(obj, key) {
      const value = Reflect.get(obj, key) as unknown;
      if (key !== 'applyTransition') return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(obj) : value;
      return async (t: StoredTransition) => {
        await obj.applyTransition(t);
        for (const { from, to } of t.moves) if (isTerminal(to.status) && !isTerminal(from.status)) ends.set(to.serverId, (ends.get(to.serverId) ?? 0) + 1);
      };
    },
  });
  world.store = crashing(recorded, () => plan);
  world.workerQueue = crashing(queue, () => plan);
  world.compute = crashing(cloud, () => plan);
  cloud.rebuildFaults = [...s.rebuildFaults];
  cloud.readFaults = [...s.readFaults];
  const options = { maxAttempts: s.maxAttempts, maxInFlight: s.maxInFlight };
  const { jobId } = await world.submit(options);
  // The same servers again while the first job lives: refused whole, nothing written.
  if (s.secondJob) {
    await expect(world.submit(options)).rejects.toThrow(/being rebuilt by another live job/);
    world.jobId = jobId;
    expect(memory.jobs.size).toBe(1);
  }
  const deps = world.deps();
  const deliver = async (m: Queued, crash?: CrashPlan) => {
    plan = crash;
    try {
      await world.deliver(m, deps);
    } finally {
      plan = undefined;
    }
  };

  for (const e of s.events) {
    cloud.settle();
    switch (e.kind) {
      case 'deliver': {
        const visible = queue.visible();
        const m = visible[e.pick % Math.max(1, visible.length)];
        if (m) await deliver(m, e.crashAt === null ? undefined : new CrashPlan(e.crashAt, e.crashAfter));
        break;
      }
      case 'duplicate': {
        const m = queue.messages[e.pick % Math.max(1, queue.messages.length)];
        if (m) await queue.schedule(m.msg, 0);
        break;
      }
      case 'advance':
        world.now += e.ms;
        break;
      case 'cancel':
        await cancelJob(world.store, deps.life, world.caller, jobId, world.clock).catch(() => undefined);
        break;
      case 'sweep':
        await world.sweep();
        break;
      case 'busy':
        cloud.reboot(ids[e.server % ids.length] as string, 30_000);
        break;
      case 'delete':
        // Rarely: someone deletes a server (any time: before, during or after its rebuild).
        if (e.server < ids.length) cloud.delete(ids[e.server] as string);
        break;
    }
  }

  // Run to the end, the cloud and the queue behaving from now on.
  cloud.rebuildFaults = [];
  cloud.readFaults = [];
  // Messages of the first run kept for a late delivery after the redrive.
  const late = s.lateCopies.map((i) => queue.messages[i % Math.max(1, queue.messages.length)]?.msg).filter((m) => m !== undefined);
  let job: JobRecord = await world.runToEnd();
  let runs = 1;
  if (s.redrive && (job.counts.FAILED > 0 || job.counts.CANCELLED > 0)) {
    // The servers that ended before the redrive end once more; each run's ends are counted apart.
    ends.clear();
    for (const r of [...memory.servers.values()].filter((x) => x.jobId === jobId && x.status === 'SUCCEEDED')) ends.set(r.serverId, 1);
    await world.redrive(['FAILED', 'CANCELLED']);
    runs = 2;
    for (const m of late) await queue.schedule(m, 0);
    job = await world.runToEnd();
  }
  const records = [...memory.servers.values()].filter((r) => r.jobId === jobId);
  expect(records).toHaveLength(s.servers);
  // Every server ended, exactly once.
  for (const r of records) {
    expect(isTerminal(r.status), `${r.serverId} ${r.status}`).toBe(true);
    expect(ends.get(r.serverId), `${r.serverId} ended`).toBe(1);
  }
  // The counters equal the records; nothing remains; no slot is held.
  for (const state of SERVER_STATES) expect(job.counts[state], state).toBe(records.filter((r) => r.status === state).length);
  expect(job.remaining).toBe(0);
  expect(job.inFlight).toBe(0);
  // The job ended in one write: its final status and end time, together.
  expect(job.finalStatus).toBeDefined();
  expect(job.completedAt).toBeDefined();
  // Every server lock was released.
  expect([...memory.locks.values()].filter((l) => l.jobId === jobId)).toEqual([]);
  // The cloud rebuilt each server at most once, and every SUCCEEDED server exactly once.
  // With a redrive: at most once per run the server took part in.
  for (const r of records) {
    const rebuilds = cloud.servers.get(r.serverId)?.rebuilds ?? 0;
    const ranTimes = 1 + (r.runs?.length ?? 0);
    expect(rebuilds, `${r.serverId} rebuilt ${rebuilds} times in ${ranTimes} runs (${r.status}, ${r.faultName ?? ''})`).toBeLessThanOrEqual(ranTimes);
    if (r.status === 'SUCCEEDED') expect(rebuilds, r.serverId).toBeGreaterThanOrEqual(1);
    if (r.status === 'CANCELLED' && ranTimes === 1) expect(rebuilds, `${r.serverId} cancelled yet rebuilt`).toBe(0);
  }
  expect(runs === 1 || (job.redrives ?? 0) === 1).toBe(true);
}

describe('the server state machine under random faults', () => {
  it(`ends every server exactly once with exact counters, no slot held, and no server rebuilt twice (${RUNS} runs)`, async () => {
    await fc.assert(fc.asyncProperty(scenarioArb, run), { numRuns: RUNS });
  }, 120_000);
});
