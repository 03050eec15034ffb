/**
 * The ports the use cases need. Adapters in `lib/aws/` implement them against DynamoDB and SQS;
 * unit tests pass in-memory ones through the same seam.
 */
import type { QueueMessage, RebuildMessage } from './message.js';
import type { FinalJobStatus, JobPlan, JobRecord, JobSelection, JobStop, PreflightEntry, RolloutState, ServerRecord, ServerState, Submission, WatchState } from './model.js';

/** The idempotency claim: one per (tenant, principal, key), kept 24 h. */
export interface IdempotencyRecord {
  /** Hash of tenant, principal and key: the key itself is the caller's and may be anything. */
  scope: string;
  jobId: string;
  /** Hash of the redacted, normalised request: the same body gives the same job. */
  fingerprint: string;
  expiresAt: number;
}

/** Which live job holds a server of a project (one rebuild per server at a time, across jobs). */
export interface ServerLock {
  tenantId: string;
  serverId: string;
  jobId: string;
  /** When it was taken: a lock of a submission that died before its job was written lapses after the submit window. */
  takenAt: string;
  expiresAt: number;
}

export interface Page<T> {
  items: T[];
  /** Present when there may be more: the marker for the next page. */
  nextMarker?: string;
}

/**
 * Servers' moves as the store writes them, in one transaction: each server record, conditional on
 * the `seq` and status it was read with, and the job item's counters. Built only by
 * `lifecycle.ts`. At most MAX_MOVES_PER_WRITE moves (DynamoDB takes 100 items a transaction: the
 * moves, the locks they release and the job).
 */
export interface StoredTransition {
  moves: { from: ServerRecord; to: ServerRecord }[];
  /**
   * Server locks released in the same write: those of the servers this write ends. No other job
   * can hold them while the server has not ended (jobs/locks.ts), so the release needs no condition.
   */
  releaseLocks: { tenantId: string; serverId: string }[];
  job: {
    jobId: string;
    /** How each per-state counter moves (states that do not move are absent). */
    counts: Partial<Record<ServerState, number>>;
    /** How the job's in-flight count moves. */
    inFlight: number;
    /** A claim (inFlight +1) fails with SlotsFullError when the job already has this many. */
    maxInFlight?: number;
    /**
     * Set when servers end: `servers` of them. Without `final` the write is conditional on more
     * than `servers` remaining; with it, on exactly `servers` remaining and on the stop read, and
     * the job's final status and completedAt are written in the same transaction.
     */
    end?: { servers: number; final?: { status: FinalJobStatus; completedAt: string; stopBy: JobStop['by'] | null } };
    /** Servers run again (a redrive): `remaining` grows by this many. */
    add?: number;
    /**
     * The redrive's first write on an ended job: conditional on the final status it was read
     * with, it removes the final status, end time, stop and pause, sets the new deadline, counts
     * the redrive and puts the job back on the index of live jobs.
     */
    reopen?: { from: FinalJobStatus; deadline: string };
  };
}

/** The most server moves one transition writes: each may release a lock, beside the job item (100 items in all). */
export const MAX_MOVES_PER_WRITE = 49;

export interface JobStore {
  /** Writes the job (and the idempotency claim, atomically with it). */
  createJob(job: JobRecord, idempotency?: IdempotencyRecord): Promise<void>;
  /** Writes new server records in batches; throws StoreUnavailableError if some could not be written. */
  putServers(servers: ServerRecord[]): Promise<void>;
  /** Records how far submission got. */
  setSubmission(jobId: string, submission: Submission): Promise<void>;
  getJob(jobId: string): Promise<JobRecord | undefined>;
  getIdempotency(scope: string): Promise<IdempotencyRecord | undefined>;
  getServer(jobId: string, serverId: string): Promise<ServerRecord | undefined>;
  listServers(jobId: string, query: { limit: number; marker?: string; status?: ServerState }): Promise<Page<ServerRecord>>;
  /** A project's jobs, newest first. */
  listJobs(tenantId: string, query: { limit: number; marker?: string }): Promise<Page<JobRecord>>;
  /** Jobs that have not ended, for the sweeper. */
  listLiveJobs(query: { limit: number; marker?: string }): Promise<Page<JobRecord>>;
  /**
   * Writes servers' moves (see StoredTransition). Throws MoveLostError (naming which move) when a
   * record is no longer as read, SlotsFullError when a claim finds every slot taken, and
   * JobMovedError when the job's remaining count or stop is no longer as read (read it again).
   */
  applyTransition(t: StoredTransition): Promise<void>;
  /** Stops further submissions (cancel or failure threshold), once; false if already stopped or ended. */
  setStop(jobId: string, stop: JobStop, options?: { onlyAwaiting?: boolean }): Promise<boolean>;
  /** Holds the job (`paused`) or lets it go on (null); false when it has ended or was already so. */
  setPaused(jobId: string, paused: { at: string; by: string } | null): Promise<boolean>;
  /**
   * Opens a rollout's next wave, and holds the job there when `paused` is given (unless a caller
   * already holds it); false when the wave moved meanwhile, or the job was stopped or ended.
   */
  openWave(jobId: string, from: RolloutState, to: RolloutState, paused?: { at: string; by: string }): Promise<boolean>;
  /** Writes a job's plan (jobs/plan.ts) once; false when the job has one already, or has ended. */
  setPlan(jobId: string, plan: JobPlan): Promise<boolean>;
  /**
   * Confirms a plan: no longer awaiting, the new deadline (and its place on the index of live
   * jobs) and the submission state, in one write conditional on the job still awaiting with its
   * plan built, not stopped nor ended; false otherwise.
   */
  confirmPlan(jobId: string, confirmedAt: string, deadline: string, submission: Submission): Promise<boolean>;
  /**
   * Moves a selection on (worker/select.ts), conditional on its state being `from` and the job not
   * stopped nor ended: to `listed` with how many matched; to `ready` with the job's total, remaining
   * and QUEUED count set to them (and its rollout's first wave); to `sent`. False otherwise.
   */
  advanceSelection(jobId: string, from: JobSelection['state'], to: JobSelection['state'], fields?: { matched?: number; total?: number; rollout?: RolloutState }): Promise<boolean>;
  /**
   * Takes the lease on a job's selection until `until` (only one worker resolves it at a time),
   * conditional on it not being held past `now` and not being sent, failed or ended; false otherwise.
   */
  claimSelection(jobId: string, now: string, until: string): Promise<boolean>;
  /** Ends a job whose selection could not be run, or was cancelled, before any server was written: FAILED (or CANCELLED) with `reason`, off the index of live jobs. False when it moved on meanwhile. */
  failSelection(jobId: string, from: JobSelection['state'], reason: string, at: string, status?: 'FAILED' | 'CANCELLED'): Promise<boolean>;
  /** Changes the job's maxInFlight; false when it has ended. */
  setMaxInFlight(jobId: string, maxInFlight: number): Promise<boolean>;
  /** Takes each server's lock for the job where it is free; returns the locks other jobs hold. */
  lockServers(tenantId: string, jobId: string, serverIds: string[], takenAt: string, expiresAt: number): Promise<ServerLock[]>;
  /** Takes a lock over from a holder found stale; false when the lock changed meanwhile. */
  takeOverServerLock(stale: ServerLock, jobId: string, takenAt: string, expiresAt: number): Promise<boolean>;
  /** Releases the lock if this job holds it. */
  releaseServerLock(tenantId: string, serverId: string, jobId: string): Promise<void>;
  /** Several of a job's server records at once (those that exist), for the watcher. */
  getServers(jobId: string, serverIds: string[]): Promise<ServerRecord[]>;
  /**
   * Replaces the job's watch state, conditional on the generation and tick it was read with
   * (`expect`; null: the job has none yet). With `idle`, also on nothing being in flight (no server
   * ACCEPTED or REBUILDING), so a watcher never goes idle past a rebuild just accepted. False when
   * the condition failed.
   */
  setWatch(jobId: string, expect: { gen: number; tick: number } | null, watch: WatchState, options?: { idle?: boolean }): Promise<boolean>;
  /** Writes one chunk of the preflight's findings (server id → entry). */
  putPreflight(jobId: string, chunk: number, entries: Record<string, PreflightEntry>, expiresAt: number): Promise<void>;
  getPreflight(jobId: string, chunk: number): Promise<Record<string, PreflightEntry> | undefined>;
}

export interface RebuildQueue {
  /**
   * Sends one message per server, in batches; retries failed entries. Throws
   * QueueUnavailableError (with the ids that were sent) when some could not be sent.
   */
  send(messages: RebuildMessage[]): Promise<void>;
  /** Sends one message that the queue holds back for `delaySeconds` (0–900): how the worker waits. */
  schedule(message: QueueMessage, delaySeconds: number): Promise<void>;
}

/**
 * Figures the service reports (CloudWatch embedded metric format in the cloud). Names and causes
 * are fixed words from the code, never request data, so no secret can reach a metric.
 */
export interface MetricsSink {
  record(name: string, value: number, unit: 'Count' | 'Seconds', cause?: string): void;
}
