/**
 * Jobs and server records: their states and the records the store keeps. How a record moves from
 * one state to another, and what that does to its job, is the server's life (`lifecycle.ts`).
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

/** True for the three ends. */
export function isTerminal(status: ServerState): boolean {
  return TERMINAL_SERVER_STATES.includes(status);
}

/** States that hold one of the job's in-flight slots: between the claim and the end. */
export const IN_FLIGHT_STATES: readonly ServerState[] = ['SUBMITTING', 'ACCEPTED', 'REBUILDING'];

/** A job's final status: written once, with `completedAt`, by the transition that ends its last server. */
export type FinalJobStatus = 'SUCCEEDED' | 'PARTIAL' | 'FAILED' | 'CANCELLED';

/**
 * The job's status as the API shows it. QUEUED and RUNNING follow from the counts; PAUSED from
 * `paused`; PLANNING and AWAITING_CONFIRMATION from `awaiting` (a plan being built, then built).
 */
export type JobStatus = 'PLANNING' | 'AWAITING_CONFIRMATION' | 'QUEUED' | 'RUNNING' | 'PAUSED' | FinalJobStatus;

export const FINAL_JOB_STATUSES: readonly FinalJobStatus[] = ['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED'];

export type Counts = Record<ServerState, number>;

/** Counts with every state at zero. */
export function zeroCounts(): Counts {
  return Object.fromEntries(SERVER_STATES.map((s) => [s, 0])) as Counts;
}

/** Servers that ended, of every kind. */
export function endedCount(counts: Counts): number {
  return counts.SUCCEEDED + counts.FAILED + counts.CANCELLED;
}

/**
 * How far the submit function got. IN_PROGRESS: messages being sent (reported INTERRUPTED once past
 * the deadline: the function died midway); COMPLETE: every message sent; INCOMPLETE: the queue
 * failed after retries, and the servers left unsent were ended FAILED (`notQueued`).
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
  /** The principal that submitted it, as API Gateway named it (for audit); every principal granted the project sees the job. */
  createdBy: string;
  kind: 'bulk' | 'single';
  createdAt: string;
  updatedAt: string;
  total: number;
  counts: Counts;
  /** Servers not yet ended: `total` less the ended counts, kept as its own counter so the last end is known in one write. */
  remaining: number;
  /** Servers between claim and end (IN_FLIGHT_STATES); a claim is conditional on it staying under maxInFlight. */
  inFlight: number;
  options: JobOptions;
  /** When every server must have ended: submission time plus the job's deadlineSeconds. */
  deadline: string;
  rebuild: Record<string, unknown>;
  submission: Submission;
  idempotencyKey?: string;
  /** Set when no more servers may be submitted: cancelled by a caller, or the failure threshold tripped. */
  stop?: JobStop;
  /** Set while a caller holds the job: no server is sent; those the cloud has go on to their end. */
  paused?: { at: string; by: string };
  /** How many times the job was redriven (jobs/redrive.ts). */
  redrives?: number;
  /** Which of the job's servers may start, when it rolls out in waves (jobs/rollout.ts). */
  rollout?: RolloutState;
  /**
   * Set while the job waits for a caller to confirm its plan (`options.confirm: "manual"`,
   * jobs/plan.ts): nothing is sent. `until`: when the plan expires (the job's deadline until then).
   */
  awaiting?: { until: string };
  /** What the plan found beyond the preflight's entries: written once, when it is built. */
  plan?: JobPlan;
  /** When a caller confirmed the plan: its servers' messages were sent from then on. */
  confirmedAt?: string;
  /** A job whose servers are chosen by Nova's list filters, and how far their resolution got (worker/select.ts). */
  selection?: JobSelection;
  /** Set, with `completedAt`, in the write that ended the last server. */
  finalStatus?: FinalJobStatus;
  completedAt?: string;
  /** Epoch seconds: DynamoDB's TTL deletes the job and its servers after this. */
  expiresAt: number;
  /** How the job's accepted rebuilds are watched (worker/watch.ts); absent on jobs written before watching existed. */
  watch?: WatchState;
}

/**
 * The job's watcher: one chain of queue messages that follows every accepted rebuild of the job with
 * paged lists of the project's servers changed since a cursor, instead of one GET per server.
 * Its messages carry `gen` and `tick`, fenced here as a server's messages are by `seq`.
 */
export interface WatchState {
  /** Bumped each time a watcher is started (after an idle spell, or when one was lost): messages of another generation are dropped. */
  gen: number;
  /** The tick the generation's next message carries; each look moves it on, so a duplicate message finds another value. */
  tick: number;
  /** When the watcher looks next (our clock). Absent while idle: nothing in flight, nothing polled. */
  nextLookAt?: string;
  /** The next list's `changes-since`, on the cloud's clock (taken from Nova's own `updated` values). */
  cursor?: string;
  /** When the current busy spell began (our clock): a first list looks back from here, less the clock-skew allowance. */
  busySince?: string;
  /** Rebuild durations seen, in seconds (from Nova's 202 to the list that showed the end), newest last. */
  durations: number[];
  /** The job's servers looked up in one paged list of the project before their first rebuild: `pending` until written. */
  preflight: 'pending' | 'done' | 'none';
  /** `per-server` once the cloud refused a list for good (a policy that forbids it): servers are then followed one GET at a time. */
  mode: 'list' | 'per-server';
  /** Lists made, pages included: what watching cost. */
  lists: number;
}

/** What the preflight list showed of one of the job's servers. */
export interface PreflightEntry {
  /** Nova's `updated` (Nova's clock): the verify window's baseline. */
  updated?: string;
  status: string;
  taskState: string | null;
  imageId?: string;
  /** Shown by lists from microversion 2.73 (13h). */
  locked?: boolean;
  /** A selected server's place in the job (worker/select.ts): a chunk's keys keep no order. */
  index?: number;
  /** The flavor's disk and RAM, shown embedded in the server from microversion 2.47. */
  flavor?: { disk?: number; ram?: number };
}

/** A target image as Glance showed it when the plan was built (14a, 14b). */
export interface ImageCheck {
  found: boolean;
  status?: string;
  minDisk?: number;
  minRam?: number;
  /** Why it was not checked (no image endpoint, no answer). */
  unchecked?: string;
}

/**
 * A selection's progress: `resolving` (nothing written), `listed` (the matched servers written in the
 * preflight's chunks, with their place), `ready` (their records and locks written and counted),
 * `sent` (their messages sent, or the job awaits its plan's confirmation), `failed` (the job ended
 * with `reason`, nothing rebuilt).
 */
export interface JobSelection {
  filters: Record<string, string>;
  exclude: string[];
  max: number;
  state: 'resolving' | 'listed' | 'ready' | 'sent' | 'failed';
  /** Servers matched (after the exclusions), once listed. */
  matched?: number;
  reason?: string;
  /** Our clock: the worker resolving it holds it until then (a lease, as a server's claim); past it, its worker died. */
  claimedUntil?: string;
}

/** A plan's findings beyond the preflight entries (jobs/plan.ts). */
export interface JobPlan {
  builtAt: string;
  /** Whether the project's list was read; if not, `unlisted` says why and every server is `unknown`. */
  listed: boolean;
  unlisted?: string;
  images: Record<string, ImageCheck>;
  /** How many servers each planned action has (jobs/plan.ts). */
  summary: Record<'rebuild' | 'wait' | 'fail' | 'unknown', number>;
}

export interface JobStop {
  /** A caller's cancel, the failure threshold, a failure among the canary (jobs/rollout.ts), or a plan left unconfirmed (jobs/plan.ts). */
  by: 'cancel' | 'threshold' | 'canary' | 'expired';
  at: string;
  reason: string;
}

/** The fault name of a server a stop ends before it was sent. */
export function stopFaultName(stop: JobStop): string {
  return { cancel: 'cancelled', threshold: 'failureThreshold', canary: 'canaryFailed', expired: 'planExpired' }[stop.by];
}

/**
 * A rollout's progress. The servers whose `index` (their place in the request's list) is below
 * `open` may start; the others wait. Wave 0 is the canary when the rollout has one.
 */
export interface RolloutState {
  wave: number;
  open: number;
}

/**
 * What the worker knows of an attempt whose outcome it could not learn (no answer, a 5xx that may
 * come after Nova acted, a worker that died mid-call): kept until the cloud gives a definite answer.
 */
export interface Uncertainty {
  /** Our clock: when the first attempt whose outcome is unknown was sent. */
  since: string;
  /** Our clock: when the last such attempt was sent; an answer of "absent" is final only a while after it. */
  lastAttemptAt: string;
  /** Nova's own request ids of those attempts' answers, where it gave one (a 500 has one; a proxy's 504 none). */
  novaRequestIds: string[];
}

/** One server's record. */
export interface ServerRecord {
  jobId: string;
  serverId: string;
  /** The job's project (tenant): the server lock is per project and server. */
  tenantId: string;
  /** Position in the request, so lists and errors can name the item. */
  index: number;
  status: ServerState;
  /** The image the server is rebuilt to (UUID), for the follow-up check. */
  imageId: string;
  /** Redacted per-server fields (overrides of the shared request). */
  rebuild: Record<string, unknown>;
  /** Rebuild calls that may have reached the cloud: what `maxAttempts` counts. */
  attempts: number;
  /** Every try, requests that certainly never left included: what the backoff grows with. */
  tries: number;
  createdAt: string;
  updatedAt: string;
  lastHttpStatus?: number;
  faultName?: string;
  /** Scrubbed of the request's secrets before it was written (request/secrets.ts). */
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
  /** `X-Openstack-Request-Id` we sent with the last rebuild attempt, and when (our clock). */
  attemptRequestId?: string;
  attemptStartedAt?: string;
  /** The server was seen in the job's project (its `tenant_id`) before the first rebuild call. */
  projectChecked?: boolean;
  /** Nova's `updated` of the server when it was checked (Nova's clock): no rebuild of ours started before it. */
  baselineUpdated?: string;
  /** Set while an attempt's outcome is unknown: the cloud is asked before anything is sent again. */
  uncertain?: Uncertainty;
  /** Some attempt of this server had an unknown outcome: a later "busy rebuilding" answer may be ours running. */
  everUncertain?: boolean;
  /** When the next attempt or check is due (our clock); the sweeper ends a server long past it. */
  nextCheckAt?: string;
  /** Nova's view at the last look: status/task_state. */
  novaState?: string;
  /** Our clock, read after the cloud's 202 (or after a rebuild of ours was found running): a list taken before it says nothing of this rebuild. */
  acceptedAt?: string;
  /**
   * Our clock: no list or look ends this accepted server before it. Set when the rebuild found to
   * be ours was matched only by time window or by a running task (verify.ts), before our own last
   * attempt could no longer act: the match may be an operator's rebuild while the cloud still holds
   * ours, and ending the server on it would free its lock and slot before ours runs. It is the
   * attempt's settle time, by which the cloud has acted on anything it holds.
   */
  holdUntil?: string;
  endedAt?: string;
  /** Since when it waits for one of the job's in-flight slots (maxInFlight reached); QUEUED or RETRY_WAIT only. */
  waitingForSlotSince?: string;
  /** Its earlier runs, oldest first, when the job was redriven (jobs/redrive.ts). */
  runs?: RunSummary[];
}

/** How one run of a server ended, kept when the server is run again. */
export interface RunSummary {
  status: ServerState;
  attempts: number;
  lastHttpStatus?: number;
  faultName?: string;
  faultMessage?: string;
  acceptedAt?: string;
  endedAt?: string;
  computeRequestIds?: string[];
}

/** The job's status, from its final status or, while it runs, its counts. */
export function jobStatus(job: Pick<JobRecord, 'total' | 'counts' | 'stop' | 'finalStatus' | 'paused' | 'awaiting' | 'plan' | 'selection'>): JobStatus {
  if (job.finalStatus) return job.finalStatus;
  // Planning until its servers are counted, stopped or not: the watcher (or the sweeper) ends it.
  if (job.selection && ['resolving', 'listed'].includes(job.selection.state)) return 'PLANNING';
  if (job.selection?.state === 'ready' && !job.stop) return 'PLANNING';
  if (job.awaiting && !job.stop) return job.plan ? 'AWAITING_CONFIRMATION' : 'PLANNING';
  if (job.paused && !job.stop) return 'PAUSED';
  return job.counts.QUEUED === job.total && !job.stop ? 'QUEUED' : 'RUNNING';
}

/** The final status of a job whose servers all ended with these counts. */
export function finalStatusOf(counts: Counts, total: number, stop: JobStop | undefined): FinalJobStatus {
  if (counts.SUCCEEDED === total) return 'SUCCEEDED';
  if (stop?.by === 'threshold' || stop?.by === 'canary') return 'FAILED';
  if ((stop?.by === 'cancel' || stop?.by === 'expired') && counts.CANCELLED > 0) return 'CANCELLED';
  if (counts.SUCCEEDED === 0) return counts.FAILED > 0 ? 'FAILED' : 'CANCELLED';
  return 'PARTIAL';
}

/**
 * How long after creation an unfinished submission is reported INTERRUPTED, and how long a server
 * lock taken by a submission holds before its job exists: longer than the API function can live
 * (API Gateway ends every request at 30 s), so a live submission's never lapses.
 */
export const SUBMIT_WINDOW_SECONDS = 60;

/**
 * How long a plan waits for its confirmation (jobs/plan.ts): a day, the Idempotency-Key's window,
 * so a plan submitted before a night's change window is still there when the window opens, and a
 * submit retried with the same key within it finds the same plan rather than a second one.
 */
export const PLAN_TTL_SECONDS = 24 * 3600;
