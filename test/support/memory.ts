/**
 * In-memory adapters for unit tests of the use cases and the API handler. Integration tests use
 * the real DynamoDB and SQS adapters against the local stand-ins instead.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { ConditionFailedError, StoreUnavailableError } from '../../lib/errors.js';
import { IN_FLIGHT_STATES, type JobRecord, type JobStop, type ServerRecord, type ServerState, type Submission } from '../../lib/jobs/model.js';
import { IdempotencyClaimedError, type IdempotencyRecord, type JobStore, type Page, type RebuildQueue, SlotsFullError } from '../../lib/jobs/ports.js';
import type { RebuildMessage } from '../../lib/jobs/message.js';

export class MemoryJobStore implements JobStore {
  jobs = new Map<string, JobRecord>();
  servers = new Map<string, ServerRecord>();
  claims = new Map<string, IdempotencyRecord>();
  /** Makes putServers fail, as a throttled table would. */
  failServerWrites = false;

  async createJob(job: JobRecord, idempotency?: IdempotencyRecord): Promise<void> {
    if (idempotency) {
      const existing = this.claims.get(idempotency.scope);
      if (existing) throw new IdempotencyClaimedError(existing);
      this.claims.set(idempotency.scope, structuredClone(idempotency));
    }
    this.jobs.set(job.jobId, structuredClone(job));
  }
  async putServers(servers: ServerRecord[]): Promise<void> {
    if (this.failServerWrites) throw new StoreUnavailableError('throttled');
    for (const s of servers) this.servers.set(`${s.jobId}/${s.serverId}`, structuredClone(s));
  }
  async setSubmission(jobId: string, submission: Submission): Promise<void> {
    const job = this.jobs.get(jobId);
    if (job) job.submission = structuredClone(submission);
  }
  async markNotQueued(job: JobRecord, servers: ServerRecord[], faultName: string, message: string): Promise<void> {
    for (const s of servers) this.servers.set(`${s.jobId}/${s.serverId}`, { ...s, status: 'FAILED', faultName, faultMessage: message });
    const stored = this.jobs.get(job.jobId);
    if (stored) {
      stored.counts.QUEUED -= servers.length;
      stored.counts.FAILED += servers.length;
    }
  }
  async getJob(jobId: string): Promise<JobRecord | undefined> {
    const job = this.jobs.get(jobId);
    return job && structuredClone(job);
  }
  async getIdempotency(scope: string): Promise<IdempotencyRecord | undefined> {
    return this.claims.get(scope);
  }
  async getServer(jobId: string, serverId: string): Promise<ServerRecord | undefined> {
    const s = this.servers.get(`${jobId}/${serverId}`);
    return s && structuredClone(s);
  }
  inFlight = new Map<string, number>();
  async transition(from: ServerRecord, to: ServerRecord, options: { maxInFlight?: number } = {}): Promise<void> {
    const key = `${from.jobId}/${from.serverId}`;
    const cur = this.servers.get(key);
    if (!cur || cur.seq !== from.seq || cur.status !== from.status) throw new ConditionFailedError('lost');
    const slot = Number(IN_FLIGHT_STATES.includes(to.status)) - Number(IN_FLIGHT_STATES.includes(from.status));
    const used = this.inFlight.get(from.jobId) ?? 0;
    if (slot > 0 && options.maxInFlight !== undefined && used >= options.maxInFlight) throw new SlotsFullError('full');
    this.inFlight.set(from.jobId, used + slot);
    this.servers.set(key, structuredClone(to));
    const job = this.jobs.get(from.jobId);
    if (job && from.status !== to.status) {
      job.counts[from.status] -= 1;
      job.counts[to.status] += 1;
    }
  }
  async markCompleted(jobId: string, at: string): Promise<boolean> {
    const job = this.jobs.get(jobId);
    if (!job || job.completedAt) return false;
    job.completedAt = at;
    return true;
  }
  async setStop(jobId: string, stop: JobStop): Promise<boolean> {
    const job = this.jobs.get(jobId);
    if (!job || job.stop) return false;
    job.stop = structuredClone(stop);
    return true;
  }
  async listServers(jobId: string, query: { limit: number; marker?: string; status?: ServerState }): Promise<Page<ServerRecord>> {
    const all = [...this.servers.values()]
      .filter((s) => s.jobId === jobId && (!query.status || s.status === query.status))
      .sort((a, b) => (a.serverId < b.serverId ? -1 : 1))
      .filter((s) => query.marker === undefined || s.serverId > query.marker);
    const items = all.slice(0, query.limit);
    const last = items[items.length - 1];
    return { items, ...(all.length > query.limit && last ? { nextMarker: last.serverId } : {}) };
  }
  async listJobs(tenantId: string, principal: string, query: { limit: number; marker?: string }): Promise<Page<JobRecord>> {
    const all = [...this.jobs.values()]
      .filter((j) => j.tenantId === tenantId && j.principal === principal)
      .sort((a, b) => (a.createdAt === b.createdAt ? (a.jobId < b.jobId ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1));
    const start = query.marker === undefined ? 0 : all.findIndex((j) => j.jobId === query.marker) + 1;
    const items = all.slice(start, start + query.limit);
    const last = items[items.length - 1];
    return { items, ...(all.length > start + query.limit && last ? { nextMarker: last.jobId } : {}) };
  }
}

export class MemoryQueue implements RebuildQueue {
  messages: RebuildMessage[] = [];
  scheduled: { message: RebuildMessage; delaySeconds: number }[] = [];
  async send(messages: RebuildMessage[]): Promise<void> {
    this.messages.push(...structuredClone(messages));
  }
  async schedule(message: RebuildMessage, delaySeconds: number): Promise<void> {
    this.scheduled.push({ message: structuredClone(message), delaySeconds });
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
