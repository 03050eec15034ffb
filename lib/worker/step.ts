/**
 * The worker's use case: one queue message moves one server one step — an attempt to rebuild
 * it, a check of an attempt whose outcome is unknown, or a follow-up of an accepted rebuild.
 *
 * Exactly once: each step starts with a conditional write on the server record's fencing token
 * (`seq`), so of two deliveries of one message only one acts, and a rebuild is only sent after
 * the record says SUBMITTING under this worker's claim. A worker that dies after Nova's 202 leaves
 * the record SUBMITTING with an expired claim; the message comes back (it was never deleted), and
 * the next worker asks Nova what happened (instance actions, task_state) before sending again.
 *
 * Waiting is done by the queue: the next step is a new message sent with a delay, before the
 * record is moved on, so a crash between the two never leaves a record with no message behind it.
 */
import { randomUUID } from 'node:crypto';
import {
  ComputeAuthError,
  ComputeTransportError,
  type ComputeApi,
  type ComputeTarget,
  type ServerView,
} from '../openstack/compute.js';
import { ConditionFailedError, RetryLaterError } from '../errors.js';
import { type JobRecord, type ServerRecord, type ServerState, TERMINAL_SERVER_STATES, endedCount } from '../jobs/model.js';
import { type JobStore, type MetricsSink, type RebuildQueue, SlotsFullError } from '../jobs/ports.js';
import type { RebuildMessage } from '../jobs/message.js';
import { type Cause, type Decision, type RetrySettings, backoffSeconds, decideRebuild } from './retry-policy.js';

/** The worker's timing settings, in seconds; each default is explained in README's configuration table. */
export interface WorkerSettings {
  retry: RetrySettings;
  /** First look at a server after Nova's 202. */
  followFirstSeconds: number;
  /** Later looks while it rebuilds. */
  followIntervalSeconds: number;
  /** How long a claim (SUBMITTING) is held: at least the worker function's timeout, so a live worker's claim never lapses. */
  claimLeaseSeconds: number;
  /**
   * How far before our attempt a rebuild in Nova's instance actions may have started and still
   * be taken as ours: Nova's start_time is cut to whole seconds, and two NTP-synced clocks differ
   * by well under a second; 5 s covers both with room.
   */
  verifySkewSeconds: number;
  /** Ended servers needed before maxFailurePercentage is judged (fewer in a smaller job: all of them). */
  minFailureSample: number;
}

export const DEFAULT_WORKER_SETTINGS: WorkerSettings = {
  retry: { baseSeconds: 5, capSeconds: 300 },
  followFirstSeconds: 30,
  followIntervalSeconds: 20,
  claimLeaseSeconds: 90,
  verifySkewSeconds: 5,
  minFailureSample: 10,
};

/** SQS's longest message delay; longer waits are chained through `notBefore`. */
const MAX_DELAY_SECONDS = 900;
/**
 * Servers waiting for an in-flight slot look again at about this many times the rate slots free
 * (maxInFlight per rebuild duration), so a freed slot is taken within a fraction of a rebuild's
 * time while the looking costs ~3·maxInFlight/duration messages a second, whatever the backlog.
 */
const SLOT_ARRIVAL_FACTOR = 3;
/** The longest a waiting server goes without looking for a slot. */
const MAX_SLOT_WAIT_SECONDS = 300;

/** The logging the worker needs: Powertools' Logger fits it. */
export interface WorkerLogger {
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
}

/** The worker reports through the shared metrics port. */
export type WorkerMetrics = MetricsSink;

export interface WorkerDeps {
  store: JobStore;
  queue: RebuildQueue;
  compute: ComputeApi;
  settings: WorkerSettings;
  logger: WorkerLogger;
  metrics?: WorkerMetrics;
  now?: () => Date;
  newRequestId?: () => string;
  random?: () => number;
  /** Test seam for "the worker died right here": called after Nova answered a rebuild, before anything is recorded. */
  afterRebuildAnswered?: (serverId: string) => void | Promise<void>;
}

/** What one message led to, for logs and tests. */
export type StepResult =
  | 'dropped' // duplicate, stale, or for a record that is gone
  | 'deferred' // a wait longer than SQS's delay was continued
  | 'retry-scheduled'
  | 'waiting-for-slot'
  | 'accepted'
  | 'following'
  | ServerState;

const iso = (d: Date) => d.toISOString();
const isTerminal = (s: ServerState) => TERMINAL_SERVER_STATES.includes(s);

function imageIdOf(server: ServerView): string | undefined {
  return typeof server.image === 'object' ? server.image?.id : undefined;
}

/** Nova's start_time has no zone and whole seconds: "2026-11-27T02:07:45.000000" is UTC. */
function novaTime(value: string): number {
  return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
}

class Step {
  private readonly now: Date;
  private readonly target: ComputeTarget;
  constructor(
    private readonly deps: WorkerDeps,
    private readonly msg: RebuildMessage,
    private job: JobRecord,
  ) {
    this.now = (deps.now ?? (() => new Date()))();
    this.target = { tenantId: msg.tenantId, microversion: msg.microversion };
  }

  private log(message: string, rec: ServerRecord, extra: Record<string, unknown> = {}) {
    this.deps.logger.info(message, {
      jobId: rec.jobId,
      serverId: rec.serverId,
      attempt: rec.attempts,
      seq: rec.seq,
      ...(rec.attemptRequestId ? { requestId: rec.attemptRequestId } : {}),
      ...extra,
    });
  }

  private metric(name: string, cause?: string) {
    this.deps.metrics?.record(name, 1, 'Count', cause);
  }

  private pastDeadline(): boolean {
    return this.now.getTime() > Date.parse(this.msg.deadline);
  }

  /** Sends the message for the record's next step, `seconds` from now. */
  private async schedule(seq: number, phase: RebuildMessage['phase'], seconds: number): Promise<void> {
    const { notBefore: _drop, ...base } = this.msg;
    const next: RebuildMessage = { ...base, seq, phase };
    if (seconds > MAX_DELAY_SECONDS) next.notBefore = iso(new Date(this.now.getTime() + seconds * 1000));
    await this.deps.queue.schedule(next, Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil(seconds))));
  }

  private async move(from: ServerRecord, to: Partial<ServerRecord> & { status: ServerState }, options?: { maxInFlight?: number }): Promise<ServerRecord> {
    const next: ServerRecord = { ...from, ...to, seq: from.seq + 1, updatedAt: iso(this.now) };
    if (isTerminal(next.status)) {
      next.endedAt = iso(this.now);
      delete next.claimedUntil;
      delete next.nextCheckAt;
      delete next.waitingForSlotSince;
    }
    await this.deps.store.transition(from, next, options);
    if (isTerminal(next.status)) await this.afterEnd(next);
    return next;
  }

  /** Ends a server; the job's counters move with it, and the job's end or threshold is checked. */
  private async end(rec: ServerRecord, status: 'SUCCEEDED' | 'FAILED' | 'CANCELLED', fault?: { name: string; message: string; status?: number }) {
    await this.move(rec, {
      status,
      ...(fault ? { faultName: fault.name, faultMessage: fault.message } : {}),
      ...(fault?.status !== undefined ? { lastHttpStatus: fault.status } : {}),
      uncertain: undefined,
    });
    this.metric(status === 'SUCCEEDED' ? 'Succeeded' : status === 'FAILED' ? 'Failed' : 'Cancelled', fault?.name);
    if (status === 'SUCCEEDED') {
      this.deps.metrics?.record('SecondsToSucceed', (this.now.getTime() - Date.parse(rec.createdAt)) / 1000, 'Seconds');
    }
    this.log(`server ${status.toLowerCase()}`, rec, fault ? { fault: fault.name, message: fault.message } : {});
    return status;
  }

  /**
   * After a server ended: stamps the job's end when it was the last, and trips the failure
   * threshold. Also run when a message finds its server already ended, so a worker that died
   * between the server's last write and these is made good by the next delivery.
   */
  private async afterEnd(rec: ServerRecord, known?: JobRecord): Promise<void> {
    const job = known ?? (await this.deps.store.getJob(rec.jobId));
    if (!job) return;
    if (endedCount(job.counts) >= job.total && !job.completedAt) {
      if (await this.deps.store.markCompleted(job.jobId, iso(this.now))) {
        this.deps.metrics?.record('JobSecondsToComplete', (this.now.getTime() - Date.parse(job.createdAt)) / 1000, 'Seconds');
      }
    }
    if (rec.status !== 'FAILED' || job.stop) return;
    const ended = endedCount(job.counts);
    const sample = Math.min(job.total, this.deps.settings.minFailureSample);
    const pct = (job.counts.FAILED / ended) * 100;
    if (ended >= sample && pct > job.options.maxFailurePercentage) {
      const reason = `${job.counts.FAILED} of ${ended} servers ended FAILED (${pct.toFixed(1)}%), over the job's maxFailurePercentage of ${job.options.maxFailurePercentage}%: no more servers are submitted.`;
      if (await this.deps.store.setStop(job.jobId, { by: 'threshold', at: iso(this.now), reason })) {
        this.deps.logger.warn('failure threshold reached', { jobId: job.jobId, failed: job.counts.FAILED, ended });
      }
    }
  }

  /** Entry: decide what this message is for, from the record it finds. */
  async run(rec: ServerRecord): Promise<StepResult> {
    if (isTerminal(rec.status)) {
      await this.afterEnd(rec, this.job);
      return 'dropped';
    }
    if (this.msg.seq > rec.seq) {
      // Sent by a step whose record write has not landed yet (or never will: then the message that
      // step came from is redelivered and redoes it). Not ours to act on or to delete yet.
      throw new RetryLaterError(`message seq ${this.msg.seq} is ahead of the record (${rec.seq})`);
    }
    if (this.msg.seq === rec.seq - 1 && rec.status === 'SUBMITTING') {
      // The message this record's claim was made from, delivered again: its worker died mid-attempt,
      // or is still at work.
      if (rec.claimedUntil && Date.parse(rec.claimedUntil) > this.now.getTime()) {
        throw new RetryLaterError('claim still held by a live worker');
      }
      return this.recover(rec);
    }
    if (this.msg.seq !== rec.seq) return 'dropped';
    if (this.msg.notBefore && Date.parse(this.msg.notBefore) > this.now.getTime()) {
      await this.schedule(rec.seq, this.msg.phase, (Date.parse(this.msg.notBefore) - this.now.getTime()) / 1000);
      return 'deferred';
    }
    if (rec.status === 'QUEUED' || rec.status === 'RETRY_WAIT') return this.attempt(rec);
    if (rec.status === 'ACCEPTED' || rec.status === 'REBUILDING') return this.follow(rec);
    return 'dropped';
  }

  private async attempt(rec: ServerRecord): Promise<StepResult> {
    if (rec.uncertain) {
      // The last attempt may have reached Nova: find out before anything else, cancel included.
      const found = await this.askNova(rec);
      if (found === 'unknown') {
        if (this.pastDeadline()) {
          return this.end(rec, 'FAILED', { name: 'deadlineExceeded', message: "The job's deadline passed and Nova could not be asked whether the last attempt arrived: check the server." });
        }
        return this.retryLater(rec, 'uncertain', 'Could not yet learn whether the last attempt reached Nova.');
      }
      if (found !== 'absent') return this.accepted(rec, found.requestId);
      rec = await this.move(rec, { status: 'RETRY_WAIT', uncertain: undefined });
    }
    if (this.job.stop) return this.end(rec, 'CANCELLED', { name: this.job.stop.by === 'cancel' ? 'cancelled' : 'failureThreshold', message: this.job.stop.reason });
    if (this.pastDeadline()) {
      return this.end(rec, 'FAILED', { name: 'deadlineExceeded', message: `The job's deadline passed before Nova accepted the rebuild.${rec.faultMessage ? ` Last answer: ${rec.faultMessage}` : ''}` });
    }
    if (rec.attempts >= this.msg.maxAttempts) {
      return this.end(rec, 'FAILED', { name: 'attemptsExhausted', message: `Gave up after ${rec.attempts} attempts. Last answer: ${rec.faultMessage ?? 'none'}` });
    }

    const requestId = (this.deps.newRequestId ?? (() => `req-${randomUUID()}`))();
    let claimed: ServerRecord;
    try {
      claimed = await this.move(
        rec,
        {
          status: 'SUBMITTING',
          attempts: rec.attempts + 1,
          attemptRequestId: requestId,
          attemptStartedAt: iso(this.now),
          claimedUntil: iso(new Date(this.now.getTime() + this.deps.settings.claimLeaseSeconds * 1000)),
          waitingForSlotSince: undefined,
        },
        // Older jobs have no maxInFlight: unlimited, as they were submitted.
        this.job.options.maxInFlight !== undefined ? { maxInFlight: this.job.options.maxInFlight } : {},
      );
    } catch (err) {
      if (err instanceof ConditionFailedError) return 'dropped';
      if (err instanceof SlotsFullError) return this.waitForSlot(rec);
      throw err;
    }
    this.metric('RebuildsSent');

    let decision: Decision;
    try {
      decision = decideRebuild(await this.deps.compute.rebuild(this.target, rec.serverId, this.msg.rebuild, requestId));
    } catch (err) {
      decision = this.decideError(err);
    }
    await this.deps.afterRebuildAnswered?.(rec.serverId);

    if (decision.kind === 'accepted') return this.accepted(claimed, decision.computeRequestId);
    // Every answer's Compute request id is kept, refusals included: it is what Nova's operators search their logs for.
    if (decision.computeRequestId) claimed = { ...claimed, computeRequestIds: [...(claimed.computeRequestIds ?? []), decision.computeRequestId] };
    if (decision.kind === 'fail') {
      return this.end(claimed, 'FAILED', { name: decision.faultName ?? decision.cause, message: decision.message, ...(decision.status !== undefined ? { status: decision.status } : {}) });
    }
    this.metric('Retried', decision.cause);
    const wait = backoffSeconds(claimed.attempts, this.deps.settings.retry, decision.retryAfterMs, this.deps.random);
    if (this.now.getTime() + wait * 1000 > Date.parse(this.msg.deadline) && decision.cause !== 'uncertain') {
      return this.end(claimed, 'FAILED', { name: 'deadlineExceeded', message: `The next attempt (in ${wait} s) would fall after the job's deadline. Last answer: ${decision.message}`, ...(decision.status !== undefined ? { status: decision.status } : {}) });
    }
    const seconds = decision.cause === 'uncertain' ? Math.max(1, this.deps.settings.verifySkewSeconds) : wait;
    await this.schedule(claimed.seq + 1, 'attempt', seconds);
    await this.move(claimed, {
      status: 'RETRY_WAIT',
      claimedUntil: undefined,
      uncertain: decision.cause === 'uncertain' ? true : undefined,
      faultName: decision.faultName ?? decision.cause,
      faultMessage: decision.message,
      nextCheckAt: iso(new Date(this.now.getTime() + seconds * 1000)),
      ...(decision.status !== undefined ? { lastHttpStatus: decision.status } : {}),
    });
    this.log('rebuild to be retried', claimed, { cause: decision.cause, status: decision.status, waitSeconds: seconds });
    return 'retry-scheduled';
  }

  /**
   * Every in-flight slot of the job is taken: look again later. The wait is uniform over a spread
   * that grows with the backlog, so waiting servers come back at a steady SLOT_ARRIVAL_FACTOR times
   * the rate slots free — also right after submission, when they all arrive at once.
   */
  private async waitForSlot(rec: ServerRecord): Promise<StepResult> {
    const { counts, options } = this.job;
    const waiting = Math.max(1, counts.QUEUED + counts.RETRY_WAIT);
    const spread = ((waiting / options.maxInFlight) * this.deps.settings.followFirstSeconds) / SLOT_ARRIVAL_FACTOR;
    const wait = Math.min(MAX_SLOT_WAIT_SECONDS, 1 + Math.floor(spread * (this.deps.random ?? Math.random)()));
    await this.schedule(rec.seq + 1, 'attempt', wait);
    await this.move(rec, {
      status: rec.status,
      waitingForSlotSince: rec.waitingForSlotSince ?? iso(this.now),
      nextCheckAt: iso(new Date(this.now.getTime() + wait * 1000)),
    });
    this.metric('WaitedForSlot');
    return 'waiting-for-slot';
  }

  private decideError(err: unknown): Decision {
    if (err instanceof ComputeTransportError) {
      return err.maybeSent
        ? { kind: 'retry', cause: 'uncertain', message: `No answer from Nova (${err.message}); the rebuild may have been accepted.` }
        : { kind: 'retry', cause: 'network', message: `Nova could not be reached (${err.message}).` };
    }
    if (err instanceof ComputeAuthError) return { kind: 'fail', cause: 'unauthorized', status: err.status, message: err.message };
    // Configuration errors (no compute endpoint in the catalog, ...) will not clear by retrying.
    return { kind: 'fail', cause: 'refused', message: err instanceof Error ? err.message : String(err) };
  }

  /** Records a 202 (or a rebuild found in Nova) and schedules the first look at the server. */
  private async accepted(rec: ServerRecord, computeRequestId: string | undefined): Promise<StepResult> {
    const first = this.deps.settings.followFirstSeconds;
    await this.schedule(rec.seq + 1, 'follow', first);
    await this.move(rec, {
      status: 'ACCEPTED',
      claimedUntil: undefined,
      uncertain: undefined,
      lastHttpStatus: 202,
      faultName: undefined,
      faultMessage: undefined,
      acceptedAt: iso(this.now),
      nextCheckAt: iso(new Date(this.now.getTime() + first * 1000)),
      computeRequestIds: computeRequestId ? [...(rec.computeRequestIds ?? []), computeRequestId] : rec.computeRequestIds,
    });
    this.metric('Accepted');
    this.log('rebuild accepted', rec, { computeRequestId });
    return 'accepted';
  }

  /** A claim whose worker died: ask Nova whether the rebuild went through, then go on from there. */
  private async recover(rec: ServerRecord): Promise<StepResult> {
    this.log('recovering an interrupted attempt', rec);
    const found = await this.askNova(rec);
    if (found !== 'absent' && found !== 'unknown') return this.accepted(rec, found.requestId);
    // Absent: the worker died before its request left. Unknown (Nova unreachable): the attempt
    // path asks again before anything is sent, with backoff and within the deadline, so a long
    // outage never leaves the record claimed or its message bouncing to the dead-letter queue.
    const unknown = found === 'unknown';
    const wait = unknown ? backoffSeconds(rec.attempts, this.deps.settings.retry, undefined, this.deps.random) : 1;
    await this.schedule(rec.seq + 1, 'attempt', wait);
    await this.move(rec, {
      status: 'RETRY_WAIT',
      claimedUntil: undefined,
      uncertain: unknown ? true : undefined,
      faultName: 'interrupted',
      faultMessage: unknown
        ? 'The worker stopped during the attempt and Nova could not yet be asked whether it arrived.'
        : 'The worker stopped before the rebuild reached Nova; it is sent again.',
      nextCheckAt: iso(new Date(this.now.getTime() + wait * 1000)),
    });
    return 'retry-scheduled';
  }

  /**
   * Did Nova accept the rebuild of this record's last attempt? Its instance actions list a rebuild
   * with our request id or started since our attempt; a server in a rebuild task_state says so too.
   */
  private async askNova(rec: ServerRecord): Promise<{ requestId?: string } | 'absent' | 'unknown'> {
    const since = Date.parse(rec.attemptStartedAt ?? rec.updatedAt) - this.deps.settings.verifySkewSeconds * 1000;
    try {
      const actions = await this.deps.compute.listInstanceActions(this.target, rec.serverId);
      if (actions.ok) {
        const ours = actions.body.instanceActions.find(
          (a) => a.action === 'rebuild' && (a.request_id === rec.attemptRequestId || novaTime(a.start_time) >= since),
        );
        if (ours) return { requestId: ours.request_id };
      }
      const server = await this.deps.compute.getServer(this.target, rec.serverId);
      if (server.ok) {
        const task = server.body.server['OS-EXT-STS:task_state'] ?? '';
        if (task.startsWith('rebuild')) return {};
        return actions.ok ? 'absent' : 'unknown';
      }
      // The server is gone: there is nothing to rebuild; the next attempt meets Nova's 404.
      if (server.status === 404) return 'absent';
      return 'unknown';
    } catch (err) {
      if (err instanceof ComputeTransportError || err instanceof ComputeAuthError) return 'unknown';
      throw err;
    }
  }

  private async retryLater(rec: ServerRecord, cause: Cause, message: string): Promise<StepResult> {
    const wait = backoffSeconds(rec.attempts, this.deps.settings.retry, undefined, this.deps.random);
    await this.schedule(rec.seq + 1, this.msg.phase, wait);
    await this.move(rec, { status: rec.status, faultName: cause, faultMessage: message, nextCheckAt: iso(new Date(this.now.getTime() + wait * 1000)) });
    return 'retry-scheduled';
  }

  /** Looks at an accepted rebuild: done on the new image, failed, or still going. */
  private async follow(rec: ServerRecord): Promise<StepResult> {
    let view;
    try {
      view = await this.deps.compute.getServer(this.target, rec.serverId);
    } catch (err) {
      if (!(err instanceof ComputeTransportError || err instanceof ComputeAuthError)) throw err;
      view = undefined;
    }
    if (view && !view.ok && view.status === 404) {
      return this.end(rec, 'FAILED', { name: 'itemNotFound', message: view.message, status: 404 });
    }
    if (view?.ok) {
      const server = view.body.server;
      const task = server['OS-EXT-STS:task_state'] ?? null;
      const novaState = `${server.status}${task ? `/${task}` : ''}`;
      if (server.status === 'ERROR') {
        const f = server.fault;
        return this.end({ ...rec, novaState }, 'FAILED', { name: 'serverError', message: `The server went to ERROR${f?.message ? `: ${f.message}` : ''}`, ...(f?.code ? { status: f.code } : {}) });
      }
      if (!task && (server.status === 'ACTIVE' || server.status === 'SHUTOFF')) {
        const image = imageIdOf(server);
        if (image === rec.imageId) return this.end({ ...rec, novaState }, 'SUCCEEDED');
        return this.end({ ...rec, novaState }, 'FAILED', { name: 'wrongImage', message: `The rebuild ended with the server on image ${image ?? 'unknown'}, not ${rec.imageId}.` });
      }
      rec = { ...rec, novaState };
    }
    if (this.pastDeadline()) {
      return this.end(rec, 'FAILED', { name: 'deadlineExceeded', message: `Timed out: the server was still ${rec.novaState ?? 'rebuilding'} at the job's deadline.` });
    }
    const wait = view?.ok ? this.deps.settings.followIntervalSeconds : backoffSeconds(2, this.deps.settings.retry, view && !view.ok ? view.retryAfterMs : undefined, this.deps.random);
    await this.schedule(rec.seq + 1, 'follow', wait);
    try {
      await this.move(rec, { status: 'REBUILDING', nextCheckAt: iso(new Date(this.now.getTime() + wait * 1000)) });
    } catch (err) {
      // A duplicate delivery polled first; the message just sent is then a spare and will be dropped.
      if (err instanceof ConditionFailedError) return 'dropped';
      throw err;
    }
    return 'following';
  }
}

/** Handles one queue message. Throws RetryLaterError when the queue should deliver it again later. */
export async function handleRebuildMessage(deps: WorkerDeps, msg: RebuildMessage): Promise<StepResult> {
  const [rec, job] = await Promise.all([deps.store.getServer(msg.jobId, msg.serverId), deps.store.getJob(msg.jobId)]);
  if (!rec || !job) {
    deps.logger.warn('no record for message: job expired or deleted', { jobId: msg.jobId, serverId: msg.serverId });
    return 'dropped';
  }
  try {
    return await new Step(deps, msg, job).run(rec);
  } catch (err) {
    // Another delivery moved the record between our read and our write: it owns the step now.
    if (err instanceof ConditionFailedError) return 'dropped';
    throw err;
  }
}
