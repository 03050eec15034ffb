/**
 * The ports the use cases need. Adapters in `lib/aws/` implement them against DynamoDB and
 * SQS; unit tests pass in-memory ones through the same seam.
 */
import type { JobRecord, JobStop, ServerRecord, ServerState, Submission } from './model.js';
import type { RebuildMessage } from './message.js';

/** The idempotency claim: one per (tenant, principal, key), kept 24 h. */
export interface IdempotencyRecord {
  /** Hash of tenant, principal and key: the key itself is the caller's and may be anything. */
  scope: string;
  jobId: string;
  /** Hash of the redacted, normalised request: the same body gives the same job. */
  fingerprint: string;
  expiresAt: number;
}

/** A claim found every in-flight slot of the job taken (transition with maxInFlight). */
export class SlotsFullError extends Error {
  override readonly name = 'SlotsFullError';
}

/** Thrown by createJob when the idempotency scope is already claimed. */
export class IdempotencyClaimedError extends Error {
  override readonly name = 'IdempotencyClaimedError';
  constructor(readonly existing: IdempotencyRecord) {
    super('idempotency key already used');
  }
}

export interface Page<T> {
  items: T[];
  /** Present when there may be more: the marker for the next page. */
  nextMarker?: string;
}

export interface JobStore {
  /** Writes the job (and the idempotency claim, atomically with it). */
  createJob(job: JobRecord, idempotency?: IdempotencyRecord): Promise<void>;
  /** Writes server records in batches; throws StoreUnavailableError if some could not be written. */
  putServers(servers: ServerRecord[]): Promise<void>;
  /** Records how far submission got. */
  setSubmission(jobId: string, submission: Submission): Promise<void>;
  /**
   * Marks servers whose message was never sent FAILED with the given fault, moving the counts.
   * Only called for records no message exists for, so no worker can be moving them.
   */
  markNotQueued(job: JobRecord, servers: ServerRecord[], faultName: string, message: string): Promise<void>;
  getJob(jobId: string): Promise<JobRecord | undefined>;
  getIdempotency(scope: string): Promise<IdempotencyRecord | undefined>;
  listServers(jobId: string, query: { limit: number; marker?: string; status?: ServerState }): Promise<Page<ServerRecord>>;
  listJobs(tenantId: string, principal: string, query: { limit: number; marker?: string }): Promise<Page<JobRecord>>;
  getServer(jobId: string, serverId: string): Promise<ServerRecord | undefined>;
  /**
   * Moves a server record from the state it was read in (`from`: its seq and status) to `to`,
   * moving the job's per-state counters in the same transaction. Throws ConditionFailedError
   * when the record is no longer as read: another delivery got there first. With `maxInFlight`,
   * a move into an in-flight state (a claim) throws SlotsFullError when the job has that many.
   */
  transition(from: ServerRecord, to: ServerRecord, options?: { maxInFlight?: number }): Promise<void>;
  /** Stamps the job's end, once; true if this call stamped it. */
  markCompleted(jobId: string, at: string): Promise<boolean>;
  /** Stops further submissions (cancel or failure threshold), once; false if already stopped. */
  setStop(jobId: string, stop: JobStop): Promise<boolean>;
}

export interface RebuildQueue {
  /**
   * Sends one message per server, in batches; retries failed entries. Throws
   * QueueUnavailableError (with the ids that were sent) when some could not be sent.
   */
  send(messages: RebuildMessage[]): Promise<void>;
  /** Sends one message that the queue holds back for `delaySeconds` (0–900): how the worker waits. */
  schedule(message: RebuildMessage, delaySeconds: number): Promise<void>;
}

/**
 * Figures the service reports (CloudWatch embedded metric format in the cloud). Names and causes
 * are fixed words from the code, never request data, so no secret can reach a metric.
 */
export interface MetricsSink {
  record(name: string, value: number, unit: 'Count' | 'Seconds', cause?: string): void;
}
