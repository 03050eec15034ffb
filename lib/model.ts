/**
 * Jobs and server records: their states, the records the store keeps, and the job's status as it
 * follows from the per-state counts.
 */
import type { JobOptions } from './job-request.js';

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
  cancelRequested?: boolean;
  /** Why the job ended FAILED or CANCELLED as a whole (threshold, cancel), if it did. */
  reason?: string;
  completedAt?: string;
  /** Epoch seconds: DynamoDB's TTL deletes the job and its servers after this. */
  expiresAt: number;
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
}

/** The job's status, from its counts and flags: no extra write is needed when a server ends. */
export function jobStatus(job: Pick<JobRecord, 'total' | 'counts' | 'cancelRequested' | 'reason'>): JobStatus {
  const { counts, total } = job;
  const ended = counts.SUCCEEDED + counts.FAILED + counts.CANCELLED;
  if (ended < total) return counts.QUEUED === total ? 'QUEUED' : 'RUNNING';
  if (counts.SUCCEEDED === total) return 'SUCCEEDED';
  if (job.cancelRequested && counts.CANCELLED > 0) return 'CANCELLED';
  if (job.reason && counts.CANCELLED > 0) return 'FAILED';
  if (counts.SUCCEEDED === 0) return counts.FAILED > 0 ? 'FAILED' : 'CANCELLED';
  return 'PARTIAL';
}
