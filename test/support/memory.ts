/**
 * In-memory adapters for unit tests of the use cases, the API handler and the model test. They
 * keep the DynamoDB adapter's conditions exactly (seq and status of each record, the job's
 * in-flight guard, `remaining` and the stop on a job's end); integration tests run the real
 * adapters against the local stand-ins instead.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { IdempotencyClaimedError, JobMovedError, MoveLostError, SlotsFullError, StoreUnavailableError } from '../../lib/errors.js';
import type { QueueMessage, RebuildMessage } from '../../lib/jobs/message.js';
import type { JobPlan, JobRecord, JobSelection, JobStop, PreflightEntry, RolloutState, ServerRecord, ServerState, Submission, WatchState } from '../../lib/jobs/model.js';
import type { IdempotencyRecord, JobStore, Page, RebuildQueue, ServerLock, StoredTransition } from '../../lib/jobs/ports.js';

const clone = <T>(v: T): T => structuredClone(v);

export class MemoryJobStore implements JobStore {
  jobs = new Map<string, JobRecord>();
  servers = new Map<string, ServerRecord>();
  claims = new Map<string, IdempotencyRecord>();
  locks = new Map<string, ServerLock>();
  preflight = new Map<string, Record<string, PreflightEntry>>();
  /** Makes putServers fail, as a throttled table would. */
  failServerWrites = false;

  async createJob(job: JobRecord, idempotency?: IdempotencyRecord): Promise<void> {
    if (this.jobs.has(job.jobId)) throw new Error(`job ${job.jobId} exists`);
    if (idempotency) {
      const existing = this.claims.get(idempotency.scope);
      if (existing && existing.expiresAt >= Math.floor(Date.now() / 1000)) throw new IdempotencyClaimedError(existing);
      this.claims.set(idempotency.scope, clone(idempotency));
    }
    this.jobs.set(job.jobId, clone(job));
  }
  async putServers(servers: ServerRecord[]): Promise<void> {
    if (this.failServerWrites) throw new StoreUnavailableError('throttled');
    for (const s of servers) this.servers.set(`${s.jobId}/${s.serverId}`, clone(s));
  }
  async setSubmission(jobId: string, submission: Submission): Promise<void> {
    const job = this.jobs.get(jobId);
    if (job) job.submission = clone(submission);
  }
  async getJob(jobId: string): Promise<JobRecord | undefined> {
    const job = this.jobs.get(jobId);
    return job && clone(job);
  }
  async getIdempotency(scope: string): Promise<IdempotencyRecord | undefined> {
    return this.claims.get(scope);
  }
  async getServer(jobId: string, serverId: string): Promise<ServerRecord | undefined> {
    const s = this.servers.get(`${jobId}/${serverId}`);
    return s && clone(s);
  }

  async applyTransition(t: StoredTransition): Promise<void> {
    // Checked whole before anything is written, as one DynamoDB transaction.
    t.moves.forEach(({ from }, index) => {
      const cur = this.servers.get(`${from.jobId}/${from.serverId}`);
      if (!cur || cur.seq !== from.seq || cur.status !== from.status) throw new MoveLostError(`server ${from.serverId} moved`, index);
    });
    const touchesJob = Object.values(t.job.counts).some((d) => d !== 0) || t.job.inFlight !== 0 || t.job.end !== undefined || t.job.add !== undefined || t.job.reopen !== undefined || t.moves.length > 1;
    const job = this.jobs.get(t.job.jobId);
    if (touchesJob) {
      if (!job) throw new JobMovedError('no job');
      if (t.job.reopen && job.finalStatus !== t.job.reopen.from) throw new JobMovedError('not ended as read');
      if (t.job.maxInFlight !== undefined && !(job.inFlight < t.job.maxInFlight)) throw new SlotsFullError('full');
      const end = t.job.end;
      if (end) {
        if (!end.final && !(job.remaining > end.servers)) throw new JobMovedError('remaining');
        if (end.final && (job.remaining !== end.servers || (job.stop?.by ?? null) !== end.final.stopBy)) throw new JobMovedError('remaining or stop');
      }
    }
    for (const { to } of t.moves) this.servers.set(`${to.jobId}/${to.serverId}`, clone(to));
    for (const l of t.releaseLocks) this.locks.delete(`${l.tenantId}/${l.serverId}`);
    if (touchesJob && job) {
      for (const [state, d] of Object.entries(t.job.counts) as [ServerState, number][]) job.counts[state] += d;
      job.inFlight += t.job.inFlight;
      if (t.job.add) job.remaining += t.job.add;
      if (t.job.reopen) {
        delete job.finalStatus;
        delete job.completedAt;
        delete job.stop;
        delete job.paused;
        job.deadline = t.job.reopen.deadline;
        job.redrives = (job.redrives ?? 0) + 1;
      }
      if (t.job.end) job.remaining -= t.job.end.servers;
      if (t.job.end?.final) {
        job.finalStatus = t.job.end.final.status;
        job.completedAt = t.job.end.final.completedAt;
      }
      job.updatedAt = t.moves[0]?.to.updatedAt ?? job.updatedAt;
    }
  }

  async setStop(jobId: string, stop: JobStop, options: { onlyAwaiting?: boolean } = {}): Promise<boolean> {
    const job = this.jobs.get(jobId);
    if (!job || job.stop || job.finalStatus || (options.onlyAwaiting && !job.awaiting)) return false;
    job.stop = clone(stop);
    return true;
  }
  async setPaused(jobId: string, paused: { at: string; by: string } | null): Promise<boolean> {
    const job = this.jobs.get(jobId);
    if (!job || job.finalStatus || Boolean(job.paused) === Boolean(paused)) return false;
    if (paused) job.paused = clone(paused);
    else delete job.paused;
    return true;
  }
  async openWave(jobId: string, from: RolloutState, to: RolloutState, paused?: { at: string; by: string }): Promise<boolean> {
    const job = this.jobs.get(jobId);
    if (!job || job.stop || job.finalStatus || job.rollout?.open !== from.open) return false;
    job.rollout = clone(to);
    if (paused && !job.paused) job.paused = clone(paused);
    return true;
  }
  async setPlan(jobId: string, plan: JobPlan): Promise<boolean> {
    const job = this.jobs.get(jobId);
    if (!job || job.plan || job.finalStatus) return false;
    job.plan = clone(plan);
    return true;
  }
  async confirmPlan(jobId: string, confirmedAt: string, deadline: string, submission: Submission): Promise<boolean> {
    const job = this.jobs.get(jobId);
    if (!job || !job.awaiting || !job.plan || job.stop || job.finalStatus) return false;
    delete job.awaiting;
    job.confirmedAt = confirmedAt;
    job.deadline = deadline;
    job.submission = clone(submission);
    return true;
  }
  async advanceSelection(jobId: string, from: JobSelection['state'], to: JobSelection['state'], fields: { matched?: number; total?: number; rollout?: RolloutState } = {}): Promise<boolean> {
    const job = this.jobs.get(jobId);
    if (!job?.selection || job.selection.state !== from || job.stop || job.finalStatus) return false;
    job.selection = { ...job.selection, state: to, ...(fields.matched !== undefined ? { matched: fields.matched } : {}) };
    if (fields.total !== undefined) {
      job.total = fields.total;
      job.remaining = fields.total;
      job.counts = { ...job.counts, QUEUED: fields.total };
    }
    if (fields.rollout) job.rollout = clone(fields.rollout);
    return true;
  }
  async claimSelection(jobId: string, now: string, until: string): Promise<boolean> {
    const job = this.jobs.get(jobId);
    const sel = job?.selection;
    if (!job || !sel || job.finalStatus || !['resolving', 'listed', 'ready'].includes(sel.state)) return false;
    if (sel.claimedUntil !== undefined && sel.claimedUntil >= now) return false;
    job.selection = { ...sel, claimedUntil: until };
    return true;
  }
  async failSelection(jobId: string, from: JobSelection['state'], reason: string, at: string, status: 'FAILED' | 'CANCELLED' = 'FAILED'): Promise<boolean> {
    const job = this.jobs.get(jobId);
    if (!job?.selection || job.selection.state !== from || job.finalStatus) return false;
    job.selection = { ...job.selection, state: 'failed', reason };
    job.finalStatus = status;
    job.completedAt = at;
    return true;
  }
  async setMaxInFlight(jobId: string, maxInFlight: number): Promise<boolean> {
    const job = this.jobs.get(jobId);
    if (!job || job.finalStatus) return false;
    job.options = { ...job.options, maxInFlight };
    return true;
  }
  async listServers(jobId: string, query: { limit: number; marker?: string; status?: ServerState }): Promise<Page<ServerRecord>> {
    const all = [...this.servers.values()]
      .filter((s) => s.jobId === jobId && (!query.status || s.status === query.status))
      .sort((a, b) => (a.serverId < b.serverId ? -1 : 1))
      .filter((s) => query.marker === undefined || s.serverId > query.marker);
    const items = all.slice(0, query.limit).map(clone);
    const last = items[items.length - 1];
    return { items, ...(all.length > query.limit && last ? { nextMarker: last.serverId } : {}) };
  }
  async listJobs(tenantId: string, query: { limit: number; marker?: string }): Promise<Page<JobRecord>> {
    const all = [...this.jobs.values()]
      .filter((j) => j.tenantId === tenantId)
      .sort((a, b) => (a.createdAt === b.createdAt ? (a.jobId < b.jobId ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1));
    const start = query.marker === undefined ? 0 : all.findIndex((j) => j.jobId === query.marker) + 1;
    const items = all.slice(start, start + query.limit).map(clone);
    const last = items[items.length - 1];
    return { items, ...(all.length > start + query.limit && last ? { nextMarker: last.jobId } : {}) };
  }
  async listLiveJobs(query: { limit: number; marker?: string }): Promise<Page<JobRecord>> {
    const all = [...this.jobs.values()].filter((j) => !j.finalStatus).sort((a, b) => (a.jobId < b.jobId ? -1 : 1));
    const start = query.marker === undefined ? 0 : all.findIndex((j) => j.jobId === query.marker) + 1;
    const items = all.slice(start, start + query.limit).map(clone);
    const last = items[items.length - 1];
    return { items, ...(all.length > start + query.limit && last ? { nextMarker: last.jobId } : {}) };
  }
  async lockServers(tenantId: string, jobId: string, serverIds: string[], takenAt: string, expiresAt: number): Promise<ServerLock[]> {
    const held: ServerLock[] = [];
    for (const serverId of serverIds) {
      const key = `${tenantId}/${serverId}`;
      const cur = this.locks.get(key);
      if (cur && cur.jobId !== jobId) held.push(clone(cur));
      else this.locks.set(key, { tenantId, serverId, jobId, takenAt, expiresAt });
    }
    return held;
  }
  async takeOverServerLock(stale: ServerLock, jobId: string, takenAt: string, expiresAt: number): Promise<boolean> {
    const key = `${stale.tenantId}/${stale.serverId}`;
    const cur = this.locks.get(key);
    if (!cur || cur.jobId !== stale.jobId || cur.takenAt !== stale.takenAt) return false;
    this.locks.set(key, { tenantId: stale.tenantId, serverId: stale.serverId, jobId, takenAt, expiresAt });
    return true;
  }
  async releaseServerLock(tenantId: string, serverId: string, jobId: string): Promise<void> {
    const key = `${tenantId}/${serverId}`;
    if (this.locks.get(key)?.jobId === jobId) this.locks.delete(key);
  }
  async getServers(jobId: string, serverIds: string[]): Promise<ServerRecord[]> {
    return serverIds.flatMap((id) => {
      const s = this.servers.get(`${jobId}/${id}`);
      return s ? [clone(s)] : [];
    });
  }
  async setWatch(jobId: string, expect: { gen: number; tick: number } | null, watch: WatchState, options: { idle?: boolean } = {}): Promise<boolean> {
    const job = this.jobs.get(jobId);
    if (!job || job.finalStatus) return false;
    if (expect === null ? job.watch !== undefined : job.watch?.gen !== expect.gen || job.watch.tick !== expect.tick) return false;
    if (options.idle && (job.counts.ACCEPTED !== 0 || job.counts.REBUILDING !== 0)) return false;
    job.watch = clone(watch);
    return true;
  }
  async putPreflight(jobId: string, chunk: number, entries: Record<string, PreflightEntry>): Promise<void> {
    this.preflight.set(`${jobId}/${chunk}`, clone(entries));
  }
  async getPreflight(jobId: string, chunk: number): Promise<Record<string, PreflightEntry> | undefined> {
    const e = this.preflight.get(`${jobId}/${chunk}`);
    return e && clone(e);
  }
}

export class MemoryQueue implements RebuildQueue {
  messages: RebuildMessage[] = [];
  scheduled: { message: QueueMessage; delaySeconds: number }[] = [];
  async send(messages: RebuildMessage[]): Promise<void> {
    this.messages.push(...clone(messages));
  }
  async schedule(message: QueueMessage, delaySeconds: number): Promise<void> {
    this.scheduled.push({ message: clone(message), delaySeconds });
  }
}

/** A logger whose every line is kept, so tests can search what was logged. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = new Logger({ serviceName: 'test', logLevel: 'DEBUG' });
  // Powertools writes each entry through its console; capture it instead of printing.
  const sink = (...args: unknown[]) => lines.push(args.map(String).join(' '));
  (logger as unknown as { console: Record<string, unknown> }).console = { log: sink, info: sink, warn: sink, error: sink, debug: sink, trace: sink };
  return { logger, lines };
}
