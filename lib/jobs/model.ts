/**
 * Jobs and server records: their states, the records the store keeps, and the job's status as it
 * follows from the per-state counts.
 */
import type { JobOptions } from '../request/job-request.js';

export const SERVER_STATES = [
  'QUEUED',
  'SUBMITTING',
  'ACCEPTED',
  'REBUILDING',
  'RETRY_WAIT',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
] as const;
export type ServerState = (typeof SERVER_STATES)[number];

export const TERMINAL_SERVER_STATES: readonly ServerState[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

export type JobStatus = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'PARTIAL' | 'FAILED' | 'CANCELLED';

export type Counts = Record<ServerState, number>;

/** Counts with every state at zero. */
export function zeroCounts(): Counts {
  return Object.fromEntries(SERVER_STATES.map((s) => [s, 0])) as Counts;
}

/**
 * How far the submit function got. IN_PROGRESS: records and messages being written (reported
 * INTERRUPTED once past the deadline: the function died midway); COMPLETE: every message sent;
 * INCOMPLETE: the store or queue failed after retries, and the servers left unsent were marked
 * FAILED (`notQueued`) so the job still ends.
 */
export type SubmissionState = 'IN_PROGRESS' | 'COMPLETE' | 'INCOMPLETE';

export interface Submission {
  state: SubmissionState;
  /** When the submit function gives up at the latest; past it an unfinished state is reported INTERRUPTED. */
  deadline: string;
  notQueued?: number;
  message?: string;
}

/** The job record. Secrets never appear here: `rebuild` is the redacted shared request. */
export interface JobRecord {
  jobId: string;
  tenantId: string;
  /** The IAM principal (ARN) that submitted it; only it can see the job. */
  principal: string;
  kind: 'bulk' | 'single';
  createdAt: string;
  updatedAt: string;
  total: number;
  counts: Counts;
  options: JobOptions;
  rebuild: Record<string, unknown>;
  submission: Submission;
  idempotencyKey?: string;
  /** Set when no more servers may be submitted: cancelled by its caller, or the failure threshold tripped. */
  stop?: JobStop;
  /** When the last server ended. */
  completedAt?: string;
  /** Epoch seconds: DynamoDB's TTL deletes the job and its servers after this. */
  expiresAt: number;
}

export interface JobStop {
  by: 'cancel' | 'threshold';
  at: string;
  reason: string;
}

/** One server's record. */
export interface ServerRecord {
  jobId: string;
  serverId: string;
  /** Position in the request, so lists and errors can name the item. */
  index: number;
  status: ServerState;
  /** The image the server is rebuilt to (UUID), for the follow-up check. */
  imageId: string;
  /** Redacted per-server fields (overrides of the shared request). */
  rebuild: Record<string, unknown>;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  lastHttpStatus?: number;
  faultName?: string;
  faultMessage?: string;
  computeRequestIds?: string[];
  expiresAt: number;
  /**
   * Fencing token: every transition requires the value it read and moves it on, and every queue
   * message names the value it was sent for. A duplicate or stale message finds another value
   * and is dropped, so no step — above all no rebuild — happens twice.
   */
  seq: number;
  /** While SUBMITTING: the claim's end. A claim past it belongs to a worker that died. */
  claimedUntil?: string;
  /** `X-Openstack-Request-Id` we sent with the last rebuild attempt, and when. */
  attemptRequestId?: string;
  attemptStartedAt?: string;
  /** The last attempt's outcome is unknown (timeout, reset): ask Nova before sending again. */
  uncertain?: boolean;
  /** When the next attempt or check is due (RETRY_WAIT, following). */
  nextCheckAt?: string;
  /** Nova's view at the last follow-up: status/task_state. */
  novaState?: string;
  acceptedAt?: string;
  endedAt?: string;
  /** Since when it waits for one of the job's in-flight slots (maxInFlight reached); QUEUED or RETRY_WAIT only. */
  waitingForSlotSince?: string;
}

/** States that hold one of the job's in-flight slots: between the claim and the end. */
export const IN_FLIGHT_STATES: readonly ServerState[] = ['SUBMITTING', 'ACCEPTED', 'REBUILDING'];

/** The job's status, from its counts and flags: no extra write is needed when a server ends. */
export function jobStatus(job: Pick<JobRecord, 'total' | 'counts' | 'stop'>): JobStatus {
  const { counts, total } = job;
  const ended = counts.SUCCEEDED + counts.FAILED + counts.CANCELLED;
  if (ended < total) return counts.QUEUED === total && !job.stop ? 'QUEUED' : 'RUNNING';
  if (counts.SUCCEEDED === total) return 'SUCCEEDED';
  if (job.stop?.by === 'threshold') return 'FAILED';
  if (job.stop?.by === 'cancel' && counts.CANCELLED > 0) return 'CANCELLED';
  if (counts.SUCCEEDED === 0) return counts.FAILED > 0 ? 'FAILED' : 'CANCELLED';
  return 'PARTIAL';
}

/** Servers that ended, of every kind. */
export function endedCount(counts: Counts): number {
  return counts.SUCCEEDED + counts.FAILED + counts.CANCELLED;
}
