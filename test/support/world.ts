/**
 * A virtual world for the worker's pure tests: a clock that moves only when told, the in-memory
 * store, a queue with SQS's delivery rules (delays, visibility, receive counts, dead letters) on
 * that clock, and the in-memory cloud; the real submit path, worker, state machine and sweeper run
 * in it. The model test drives it at random; step tests drive it by hand.
 */
import { principalKey } from '../../lib/jobs/grants.js';
import { ServerLife } from '../../lib/jobs/lifecycle.js';
import { type QueueMessage, type RebuildMessage, isWatchMessage } from '../../lib/jobs/message.js';
import type { JobRecord, ServerRecord } from '../../lib/jobs/model.js';
import type { JobOptions } from '../../lib/request/job-request.js';
import type { JobStore, RebuildQueue } from '../../lib/jobs/ports.js';
import { submitJob } from '../../lib/jobs/submit.js';
import { redriveJob } from '../../lib/jobs/redrive.js';
import type { RebuildRequest } from '../../lib/request/rebuild-schema.js';
import { DEFAULT_WORKER_SETTINGS, type StepResult, type WorkerDeps, type WorkerSettings, handleRebuildMessage } from '../../lib/worker/step.js';
import { DEFAULT_SWEEP, type SweepReport, sweep } from '../../lib/worker/sweeper.js';
import { type WatchResult, handleWatchMessage } from '../../lib/worker/watch.js';
import type { ComputeApi } from '../../lib/openstack/compute.js';
import { MemoryJobStore } from './memory.js';
import { ModelCloud } from './model-cloud.js';

export const IMAGE = '70a599e0-31e7-49b7-b260-868f441e862b';
export const TENANT = '6f70656e737461636b20342065766572';
export const PRINCIPAL = 'arn:aws:sts::123456789012:assumed-role/Ops/alice';
/** SQS's visibility timeout as the stack sets it (6 × the worker's 60 s). */
export const VISIBILITY_MS = 360_000;
export const MAX_RECEIVES = 5;

export interface Queued {
  id: number;
  msg: QueueMessage;
  visibleAt: number;
  receives: number;
}

/** SQS's delivery rules on a virtual clock: delays, visibility, receive counts, dead-lettering. */
export class VirtualQueue implements RebuildQueue {
  messages: Queued[] = [];
  deadLettered = 0;
  private nextId = 1;
  constructor(private readonly now: () => number) {}
  async send(messages: RebuildMessage[]): Promise<void> {
    for (const msg of messages) this.messages.push({ id: this.nextId++, msg: structuredClone(msg), visibleAt: this.now(), receives: 0 });
  }
  async schedule(message: QueueMessage, delaySeconds: number): Promise<void> {
    this.messages.push({ id: this.nextId++, msg: structuredClone(message), visibleAt: this.now() + delaySeconds * 1000, receives: 0 });
  }
  visible(): Queued[] {
    return this.messages.filter((m) => m.visibleAt <= this.now());
  }
}

export interface WorldOptions {
  servers: number;
  skewMs?: number;
  rebuildMs?: number;
  lateMs?: number;
  startMs?: number;
  settings?: Partial<WorkerSettings>;
}

/** One job's world. */
export class World {
  now: number;
  readonly memory = new MemoryJobStore();
  readonly queue: VirtualQueue;
  readonly cloud: ModelCloud;
  readonly ids: string[];
  readonly settings: WorkerSettings;
  readonly caller = { tenantId: TENANT, principal: PRINCIPAL, principalKey: principalKey(PRINCIPAL) };
  /** The store, queue and cloud the worker sees (the model test wraps them to crash). */
  store: JobStore;
  workerQueue: RebuildQueue;
  compute: ComputeApi;
  jobId = '';

  constructor(options: WorldOptions) {
    this.now = Date.parse('2026-12-01T02:00:00Z') + (options.startMs ?? 0);
    this.queue = new VirtualQueue(() => this.now);
    this.cloud = new ModelCloud(() => this.now, options.skewMs ?? 0, options.rebuildMs ?? 60_000, options.lateMs ?? 30_000);
    this.ids = Array.from({ length: options.servers }, (_, i) => `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`);
    for (const id of this.ids) this.cloud.add(id, TENANT, 'a2459075-d96c-40d5-893e-577ff92e721c');
    this.settings = { ...DEFAULT_WORKER_SETTINGS, ...options.settings };
    this.store = this.memory;
    this.workerQueue = this.queue;
    this.compute = this.cloud;
  }

  clock = (): Date => new Date(this.now);

  life(): ServerLife {
    return new ServerLife({ store: this.store, now: this.clock, minFailureSample: this.settings.minFailureSample });
  }

  deps(): WorkerDeps {
    return {
      store: this.store,
      life: this.life(),
      queue: this.workerQueue,
      compute: this.compute,
      settings: this.settings,
      logger: { info: () => undefined, warn: () => undefined },
      now: this.clock,
    };
  }

  /** Submits the job through the real submit path (its records, locks and messages). */
  async submit(options: Partial<JobOptions> = {}, rebuild: Partial<RebuildRequest> = { adminPass: 'seekr3t' }, preflight: 'run' | 'queued' = 'run'): Promise<JobRecord> {
    const body = { imageRef: IMAGE, ...rebuild } as RebuildRequest;
    const { job } = await submitJob(
      { store: this.memory, queue: this.queue, life: new ServerLife({ store: this.memory, now: this.clock, minFailureSample: this.settings.minFailureSample }), now: this.clock, retentionDays: 30 },
      {
        caller: this.caller,
        kind: 'bulk',
        request: {
          options: { microversion: '2.1', maxAttempts: 30, deadlineSeconds: 7200, maxFailurePercentage: 100, maxInFlight: 50, ...options },
          shared: body,
          servers: this.ids.map((id) => ({ id, rebuild: body, overrides: {} })),
        },
      },
    );
    this.jobId = job.jobId;
    // Every job's watcher message goes first and runs its preflight (images, and a large job's
    // list); a test of what happens while it has not run yet says so.
    if (preflight === 'run') {
      const watcher = this.queue.messages.find((m) => isWatchMessage(m.msg));
      if (watcher) await this.deliver(watcher);
    }
    return (await this.memory.getJob(job.jobId)) ?? job;
  }

  /** Runs the ended job's servers of these statuses again, through the real redrive path (secrets given again). */
  async redrive(statuses: ('FAILED' | 'CANCELLED')[], secrets: Partial<RebuildRequest> = { adminPass: 'seekr3t' }): Promise<JobRecord> {
    return redriveJob({ store: this.memory, queue: this.queue, life: this.life(), now: this.clock }, this.caller, this.jobId, { statuses, secrets });
  }

  /** Delivers one message as the event source does: deleted when handled, left (then dead-lettered) when the step throws. */
  async deliver(m: Queued, deps: WorkerDeps = this.deps()): Promise<StepResult | WatchResult | 'threw'> {
    m.receives++;
    m.visibleAt = this.now + VISIBILITY_MS;
    try {
      const msg = m.msg;
      // As functions/worker-app.ts does: a watcher message that fails on its last delivery is let go.
      const result = isWatchMessage(msg)
        ? await handleWatchMessage(deps, msg).catch((err: unknown) => {
            if (m.receives >= MAX_RECEIVES) return 'dropped' as const;
            throw err;
          })
        : await handleRebuildMessage(deps, msg, { lastDelivery: m.receives >= MAX_RECEIVES });
      this.queue.messages = this.queue.messages.filter((x) => x !== m);
      return result;
    } catch {
      if (m.receives >= MAX_RECEIVES) {
        this.queue.messages = this.queue.messages.filter((x) => x !== m);
        this.queue.deadLettered++;
      }
      return 'threw';
    }
  }

  async sweep(): Promise<SweepReport> {
    return sweep({ store: this.store, life: this.life(), queue: this.queue, compute: this.cloud, settings: this.settings, sweep: DEFAULT_SWEEP, logger: { info: () => undefined, warn: () => undefined }, now: this.clock });
  }

  /** Delivers what is due; with nothing due, moves the clock to the next message (or ten minutes) and sweeps. Until the job ended. */
  async runToEnd(maxSteps = 20_000): Promise<JobRecord> {
    for (let step = 0; step < maxSteps; step++) {
      this.cloud.settle();
      const job = (await this.memory.getJob(this.jobId)) as JobRecord;
      if (job.finalStatus && this.queue.messages.length === 0 && this.cloud.pendingLate === 0) return job;
      const [next] = this.queue.visible();
      if (next) {
        await this.deliver(next);
        continue;
      }
      const at = Math.min(...this.queue.messages.map((m) => m.visibleAt), this.now + 600_000);
      this.now = Math.max(this.now + 1000, at);
      await this.sweep();
    }
    throw new Error('the job never ended');
  }

  async record(serverId: string): Promise<ServerRecord> {
    return (await this.memory.getServer(this.jobId, serverId)) as ServerRecord;
  }
}
