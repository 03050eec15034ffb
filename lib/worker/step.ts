/**
 * The worker's use case: one queue message moves one server one step — an attempt to rebuild it,
 * a check of an attempt whose outcome is unknown, or the safety net of an accepted rebuild (which
 * the job's watcher, `watch.ts`, follows to its end). Every move goes through the server's life
 * (`jobs/lifecycle.ts`).
 *
 * Exactly once: each step starts with a conditional write on the server record's fencing token
 * (`seq`), so of two deliveries of one message only one acts, and a rebuild is only sent after the
 * record says SUBMITTING under this worker's claim. Whenever the cloud may have acted without our
 * knowing — no answer, a broken connection, a 5xx other than 503, a worker that died mid-call —
 * the record keeps that mark until the cloud's own records give a definite answer (`verify.ts`).
 *
 * Waiting is done by the queue: the next step is a new message sent with a delay, before the
 * record is moved on, so a crash between the two never leaves a record with no message behind it.
 */
import { randomUUID } from 'node:crypto';
import { ConditionFailedError, RetryLaterError, SlotsFullError } from '../errors.js';
import type { Change, ServerLife } from '../jobs/lifecycle.js';
import type { RebuildMessage } from '../jobs/message.js';
import { preflightChunk, secretsOf } from '../jobs/watching.js';
import { advanceRollout, waitsForWave, wavesAhead } from '../jobs/rollout.js';
import { errorRefusal, imageRefusal, preflightStands } from '../jobs/plan.js';
import { type JobRecord, type PreflightEntry, type ServerRecord, type Uncertainty, isTerminal, stopFaultName } from '../jobs/model.js';
import type { JobStore, MetricsSink, RebuildQueue } from '../jobs/ports.js';
import { SECRET_FIELDS, SecretScrubber } from '../request/secrets.js';
import { ComputeAuthError, ComputeTransportError, type ComputeApi, type ComputeTarget, type ServerView } from '../openstack/compute.js';
import { ComputeConfigError } from '../openstack/config.js';
import { CloudText } from './cloud-text.js';
import { novaStateOf, serverOutcome } from './outcome.js';
import { DEFAULT_WATCH_SETTINGS, type WatchSettings, armWatch, expectedDurationSeconds, overdueSeconds, preflightEntry } from './watch.js';
import { type Decision, type RetrySettings, backoffSeconds, decideRebuild, rebuildRunning } from './retry-policy.js';
import { type CloudAnswer, askCloud } from './verify.js';

/** The worker's timing settings, in seconds; each default is explained where it is set. */

/** The end a server's view shows, when its task is over. */
type ServerEndView = { status: 'SUCCEEDED' | 'FAILED'; novaState: string; fault?: { name: string; message: string; status?: number } };

export interface WorkerSettings {
  retry: RetrySettings;
  /** How accepted rebuilds are watched (watch.ts). */
  watch: WatchSettings;
  /** How long a claim (SUBMITTING) is held: at least the worker function's timeout, so a live worker's claim never lapses. */
  claimLeaseSeconds: number;
  /** How far the cloud's clock may be from ours, either way, when its records are matched to our attempts. */
  clockSkewSeconds: number;
  /** How long after an attempt whose outcome is unknown the cloud's "no such rebuild" is final. */
  settleSeconds: number;
  /** The first look at the cloud after an attempt whose outcome is unknown. */
  verifyFirstSeconds: number;
  /** Ended servers needed before maxFailurePercentage is judged (fewer in a smaller job: all of them). */
  minFailureSample: number;
}

export const DEFAULT_WORKER_SETTINGS: WorkerSettings = {
  retry: { baseSeconds: 5, capSeconds: 300 },
  watch: DEFAULT_WATCH_SETTINGS,
  // The worker function's timeout is 60 s (cdk/constructs/functions.ts); half a minute more covers
  // the clock skew between two workers' hosts.
  claimLeaseSeconds: 90,
  // The contract: at least ±5 minutes between our clock and the cloud's. NTP keeps clocks within a
  // second; five minutes covers a cloud whose NTP broke, and a wider window only risks taking an
  // operator's own rebuild of the same server in it for ours (never a second rebuild).
  clockSkewSeconds: 300,
  // A request we got no answer to can still be acted on for as long as something holds it: our
  // client gives up after 50 s (connect 5 + headers 30 + body 15), a load balancer in front of Nova
  // after its own timeout (60 s by default in haproxy, nginx and AWS's ALB) while Nova's API worker
  // may still be on it. Three minutes is three times the longest of those.
  settleSeconds: 180,
  // Most uncertain attempts were taken: a look five seconds on finds them, and the rebuild is
  // followed without waiting for the settle time.
  verifyFirstSeconds: 5,
  minFailureSample: 10,
};

/** SQS's longest message delay; longer waits are chained through `notBefore`. */
export const MAX_DELAY_SECONDS = 900;
/**
 * Servers waiting for an in-flight slot look again at about this many times the rate slots free
 * (maxInFlight per rebuild duration), so a freed slot is taken within a fraction of a rebuild's
 * time while the looking costs ~3·maxInFlight/duration messages a second, whatever the backlog.
 */
const SLOT_ARRIVAL_FACTOR = 3;
/** The longest a waiting server goes without looking for a slot. */
const MAX_SLOT_WAIT_SECONDS = 300;
/** How often a paused job's servers look again: see waitWhilePaused. */
const PAUSE_LOOK_MIN_SECONDS = 5;
const PAUSE_LOOK_MAX_SECONDS = 300;
/** How often a server whose wave is next looks at the gate: see waitForWave. */
const WAVE_LOOK_MIN_SECONDS = 5;
const WAVE_LOOK_MAX_SECONDS = 60;

/** The logging the worker needs: Powertools' Logger fits it. */
export interface WorkerLogger {
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
}

export interface WorkerDeps {
  store: JobStore;
  life: ServerLife;
  queue: RebuildQueue;
  compute: ComputeApi;
  settings: WorkerSettings;
  logger: WorkerLogger;
  metrics?: MetricsSink;
  now?: () => Date;
  newRequestId?: () => string;
  random?: () => number;
  /**
   * Test seam for "the worker died right here": called when a step starts and after the cloud
   * answered a rebuild (before anything is recorded); what it throws ends the invocation.
   */
  crashPoint?: (point: 'stepStart' | 'afterRebuildAnswered', serverId: string) => void | Promise<void>;
}

/** What one message led to, for logs and tests. */
export type StepResult =
  | 'dropped' // duplicate, stale, or for a record that is gone
  | 'deferred' // a wait longer than SQS's delay was continued
  | 'retry-scheduled'
  | 'verify-scheduled'
  | 'waiting-for-slot'
  | 'waiting-for-preflight'
  | 'waiting-for-wave'
  | 'paused'
  | 'accepted'
  | 'following'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'CANCELLED';

const iso = (d: Date) => d.toISOString();

/** One message's step. */
export class Step {
  private readonly now: Date;
  private readonly target: ComputeTarget;
  private readonly text: CloudText;

  constructor(
    private readonly deps: WorkerDeps,
    private readonly msg: RebuildMessage,
    private job: JobRecord,
  ) {
    this.now = (deps.now ?? (() => new Date()))();
    this.target = { tenantId: msg.tenantId, microversion: msg.microversion };
    this.text = new CloudText(SecretScrubber.forRequest(msg.rebuild));
  }

  /** Cleans an error's text for a log line. */
  cleanError(err: unknown): string {
    return this.text.error(err);
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

  private at(seconds: number): string {
    return iso(new Date(this.now.getTime() + seconds * 1000));
  }

  /** Whole seconds from now until `t`, at least one: a message is never due before it. */
  private secondsUntil(t: Date): number {
    return Math.max(1, Math.ceil((t.getTime() - this.now.getTime()) / 1000));
  }

  /** Sends the message for the record's next step, `seconds` from now (past 900 s: chained with notBefore). */
  private async schedule(seq: number, phase: RebuildMessage['phase'], seconds: number): Promise<void> {
    const { notBefore: _drop, ...base } = this.msg;
    const next: RebuildMessage = { ...base, seq, phase };
    if (seconds > MAX_DELAY_SECONDS) next.notBefore = this.at(seconds);
    await this.deps.queue.schedule(next, Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil(seconds))));
  }

  /**
   * Looks again `seconds` from now, with no move of state: the message for the next seq, then the
   * record written to it (with `change`). The fence every wait shares: a copy of this message
   * delivered twice finds the record moved on and is dropped, so copies never multiply.
   */
  private async lookAgain(rec: ServerRecord, phase: RebuildMessage['phase'], seconds: number, change: Change = { status: rec.status }): Promise<void> {
    await this.schedule(rec.seq + 1, phase, seconds);
    await this.move(rec, { ...change, nextCheckAt: this.at(seconds) });
  }

  private move(from: ServerRecord, change: Change, options?: { maxInFlight?: number }): Promise<ServerRecord> {
    return this.deps.life.move(this.job, from, change, options);
  }

  /** Ends a server. */
  private async end(rec: ServerRecord, status: 'SUCCEEDED' | 'FAILED' | 'CANCELLED', fault?: { name: string; message: string; status?: number }, extra: Change = { status }): Promise<StepResult> {
    await this.move(rec, {
      ...extra,
      status,
      ...(fault ? { faultName: fault.name, faultMessage: fault.message } : {}),
      ...(fault?.status !== undefined ? { lastHttpStatus: fault.status } : {}),
    });
    this.log(`server ${status.toLowerCase()}`, rec, fault ? { fault: fault.name, message: fault.message } : {});
    return status;
  }

  /** Entry: decide what this message is for, from the record it finds. */
  async run(rec: ServerRecord): Promise<StepResult> {
    if (isTerminal(rec.status)) return 'dropped';
    if (this.msg.seq > rec.seq) {
      // Sent by a step whose record write has not landed yet (or never will: then the message that
      // step came from is redelivered and redoes it). Not ours to act on or to delete yet.
      throw new RetryLaterError(`message seq ${this.msg.seq} is ahead of the record (${rec.seq})`);
    }
    if (this.msg.seq === rec.seq - 1 && rec.status === 'SUBMITTING') {
      // The message this record's claim was made from, delivered again: its worker died mid-attempt,
      // or is still at work.
      if (rec.claimedUntil && Date.parse(rec.claimedUntil) > this.now.getTime()) throw new RetryLaterError('claim still held by a live worker');
      return this.recover(rec);
    }
    if (this.msg.seq !== rec.seq) return 'dropped';
    if (this.msg.notBefore && Date.parse(this.msg.notBefore) > this.now.getTime()) {
      // Chained on, fenced (lookAgain): copies of a message delivered twice do not each chain one.
      await this.lookAgain(rec, this.msg.phase, (Date.parse(this.msg.notBefore) - this.now.getTime()) / 1000);
      return 'deferred';
    }
    if (rec.status === 'QUEUED' || rec.status === 'RETRY_WAIT') return rec.uncertain ? this.verify(rec, rec.uncertain) : this.attempt(rec);
    if (rec.status === 'ACCEPTED' || rec.status === 'REBUILDING') return this.follow(rec);
    return 'dropped';
  }

  /**
   * What the job's preflight list found of this server (watch.ts): its entry (the server is in the
   * project), null (not listed, or no preflight: the server checks itself), or 'wait' while the
   * preflight still runs — for at most preflightWaitSeconds after the job was created.
   */
  private async fromPreflight(rec: ServerRecord): Promise<PreflightEntry | null | 'wait'> {
    const state = this.job.watch?.preflight;
    if (state === 'pending') {
      const waited = this.now.getTime() - Date.parse(this.job.createdAt);
      return waited < this.deps.settings.watch.preflightWaitSeconds * 1000 ? 'wait' : null;
    }
    // A server run again (a redrive) takes a fresh look: the preflight's baseline is its first run's.
    if (state !== 'done' || rec.runs?.length) return null;
    const entries = await this.deps.store.getPreflight(rec.jobId, preflightChunk(rec.index));
    return entries?.[rec.serverId] ?? null;
  }

  /** Checks the server belongs to the job's project, once, before the first rebuild call. */
  private async checkProject(rec: ServerRecord): Promise<{ ok: Change; seen: PreflightEntry } | { end: StepResult } | { retry: StepResult }> {
    let view;
    try {
      view = await this.deps.compute.getServer(this.target, rec.serverId);
    } catch (err) {
      if (err instanceof ComputeAuthError) return { end: await this.end(rec, 'FAILED', { name: 'unauthorized', message: this.text.error(err), status: err.status }) };
      if (!(err instanceof ComputeTransportError)) throw err;
      return { retry: await this.retryLater(rec, { cause: 'unsent', message: this.text.error(err) }) };
    }
    if (!view.ok) {
      const message = this.text.clean(view.message);
      if (view.status === 404) return { end: await this.end(rec, 'FAILED', { name: 'itemNotFound', message, status: 404 }) };
      if (view.status >= 500 || view.status === 429 || view.unsent) return { retry: await this.retryLater(rec, { cause: 'unavailable', message, ...(view.retryAfterMs !== undefined ? { retryAfterMs: view.retryAfterMs } : {}) }) };
      return { end: await this.end(rec, 'FAILED', { name: view.faultName ?? 'refused', message, status: view.status }) };
    }
    const server = view.body.server;
    if (server.tenant_id !== this.job.tenantId) {
      const message = server.tenant_id === undefined
        ? `The cloud did not say which project server ${rec.serverId} belongs to, so it is not rebuilt as part of project ${this.job.tenantId}.`
        : `Server ${rec.serverId} belongs to project ${server.tenant_id}, not to the job's project ${this.job.tenantId}: it is not rebuilt.`;
      return { end: await this.end(rec, 'FAILED', { name: 'wrongProject', message }) };
    }
    return { ok: { status: rec.status, projectChecked: true, ...(server.updated ? { baselineUpdated: server.updated } : {}) }, seen: preflightEntry(server) };
  }

  private async attempt(rec: ServerRecord): Promise<StepResult> {
    if (this.job.stop) return this.end(rec, 'CANCELLED', { name: stopFaultName(this.job.stop), message: this.job.stop.reason });
    if (this.pastDeadline()) {
      return this.end(rec, 'FAILED', { name: 'deadlineExceeded', message: `The job's deadline passed before the cloud accepted the rebuild.${rec.faultMessage ? ` Last answer: ${rec.faultMessage}` : ''}` });
    }
    if (rec.attempts >= this.msg.maxAttempts) {
      return this.end(rec, 'FAILED', { name: 'attemptsExhausted', message: `Gave up after ${rec.attempts} attempts. Last answer: ${rec.faultMessage ?? 'none'}` });
    }
    if (this.job.paused) return this.waitWhilePaused(rec);
    if (waitsForWave(this.job, rec.index)) return this.waitForWave(rec);
    let checked: Change = { status: rec.status };
    if (!rec.projectChecked) {
      let found = await this.fromPreflight(rec);
      if (found === 'wait') {
        // A look again a second later, no try used; fenced (lookAgain), so copies of a message
        // delivered twice do not multiply every second while the preflight runs.
        await this.lookAgain(rec, 'attempt', 1);
        return 'waiting-for-preflight';
      }
      // The list's view is a snapshot: past its few minutes, or when it saw ERROR (which a person
      // may have mended since), the server is looked at now, and judged by what it is now.
      if (found && (found.status === 'ERROR' || !preflightStands(this.job, this.now))) found = null;
      let seen: Pick<PreflightEntry, 'status' | 'flavor'>;
      if (found) {
        checked = { status: rec.status, projectChecked: true, ...(found.updated ? { baselineUpdated: found.updated } : {}) };
        seen = found;
      } else {
        const check = await this.checkProject(rec);
        if ('end' in check) return check.end;
        if ('retry' in check) return check.retry;
        checked = check.ok;
        seen = check.seen;
      }
      // The job's preflight checked its image in Glance: a rebuild Nova would refuse is not sent.
      const refused = imageRefusal(this.job, rec, seen.flavor, this.now);
      if (refused) return this.end(rec, 'FAILED', { name: 'imageNotUsable', message: refused });
      // Nor is a server in ERROR, on a bulk job's first run (jobs/plan.ts errorRefusal).
      const inError = errorRefusal(this.job, rec, seen.status);
      if (inError) return this.end(rec, 'FAILED', { name: 'serverInError', message: `Not sent: the server is ${inError}.` });
    }

    const requestId = (this.deps.newRequestId ?? (() => `req-${randomUUID()}`))();
    let claimed: ServerRecord;
    try {
      claimed = await this.move(
        rec,
        {
          ...checked,
          status: 'SUBMITTING',
          attempts: rec.attempts + 1,
          tries: rec.tries + 1,
          attemptRequestId: requestId,
          attemptStartedAt: iso(this.now),
          claimedUntil: this.at(this.deps.settings.claimLeaseSeconds),
          waitingForSlotSince: undefined,
          nextCheckAt: this.at(this.deps.settings.claimLeaseSeconds),
        },
        { maxInFlight: this.job.options.maxInFlight },
      );
    } catch (err) {
      if (err instanceof SlotsFullError) return this.waitForSlot(rec, checked);
      throw err;
    }
    this.metric('RebuildsSent');

    let decision: Decision;
    try {
      const answer = await this.deps.compute.rebuild(this.target, rec.serverId, this.msg.rebuild, requestId);
      // After an attempt whose outcome was unknown, a rebuild found running may be that attempt's.
      decision = rec.everUncertain && rebuildRunning(answer) ? { kind: 'accepted', ...(answer.computeRequestId ? { computeRequestId: answer.computeRequestId } : {}) } : decideRebuild(answer);
    } catch (err) {
      decision = this.decideError(err);
    }
    await this.deps.crashPoint?.('afterRebuildAnswered', rec.serverId);

    if (decision.kind === 'accepted') return this.accepted(claimed, decision.computeRequestId);
    // Every answer's Compute request id is kept, refusals included: it is what the cloud's operators search their logs for.
    const ids = decision.computeRequestId ? [...(claimed.computeRequestIds ?? []), decision.computeRequestId] : claimed.computeRequestIds;
    const message = this.text.clean(decision.message);
    const answered = { ...(ids ? { computeRequestIds: ids } : {}), ...(decision.status !== undefined ? { lastHttpStatus: decision.status } : {}) };
    if (decision.kind === 'fail') {
      return this.end(claimed, 'FAILED', { name: decision.faultName ?? decision.cause, message, ...(decision.status !== undefined ? { status: decision.status } : {}) }, { status: 'FAILED', ...answered });
    }
    if (decision.kind === 'uncertain') {
      const uncertainty: Uncertainty = {
        since: claimed.uncertain?.since ?? (claimed.attemptStartedAt as string),
        lastAttemptAt: claimed.attemptStartedAt as string,
        novaRequestIds: [...(rec.uncertain?.novaRequestIds ?? []), ...(decision.computeRequestId ? [decision.computeRequestId] : [])],
      };
      this.metric('Uncertain');
      return this.markUncertain(claimed, uncertainty, { ...answered, faultName: decision.faultName ?? 'uncertain', faultMessage: message });
    }
    this.metric('Retried', decision.cause);
    const unsent = decision.cause === 'unsent';
    const wait = backoffSeconds(claimed.tries, this.deps.settings.retry, decision.retryAfterMs, this.deps.random);
    if (this.now.getTime() + wait * 1000 > Date.parse(this.msg.deadline)) {
      return this.end(claimed, 'FAILED', { name: 'deadlineExceeded', message: `The next attempt (in ${wait} s) would fall after the job's deadline. Last answer: ${message}`, ...(decision.status !== undefined ? { status: decision.status } : {}) }, { status: 'FAILED', ...answered, ...(unsent ? { attempts: claimed.attempts - 1 } : {}) });
    }
    await this.schedule(claimed.seq + 1, 'attempt', wait);
    await this.move(claimed, {
      status: 'RETRY_WAIT',
      ...answered,
      // A request that certainly never left does not use up the job's attempts (the deadline still holds).
      ...(unsent ? { attempts: claimed.attempts - 1 } : {}),
      claimedUntil: undefined,
      faultName: decision.faultName ?? decision.cause,
      faultMessage: message,
      nextCheckAt: this.at(wait),
    });
    this.log('rebuild to be retried', claimed, { cause: decision.cause, status: decision.status, waitSeconds: wait });
    return 'retry-scheduled';
  }

  /** Records an attempt whose outcome is unknown and schedules the first look at the cloud. */
  private async markUncertain(from: ServerRecord, uncertainty: Uncertainty, change: Partial<Change>): Promise<StepResult> {
    const wait = Math.max(1, this.deps.settings.verifyFirstSeconds);
    await this.schedule(from.seq + 1, 'attempt', wait);
    await this.move(from, { ...change, status: 'RETRY_WAIT', claimedUntil: undefined, uncertain: uncertainty, everUncertain: true, nextCheckAt: this.at(wait) });
    this.log('rebuild outcome unknown: the cloud is asked before anything is sent again', from, { waitSeconds: wait });
    return 'verify-scheduled';
  }

  /**
   * Every in-flight slot of the job is taken: look again later. The wait is uniform over a spread
   * that grows with the backlog, so waiting servers come back at a steady SLOT_ARRIVAL_FACTOR times
   * the rate slots free — also right after submission, when they all arrive at once.
   */
  private async waitForSlot(rec: ServerRecord, checked: Change): Promise<StepResult> {
    const { counts, options } = this.job;
    const waiting = Math.max(1, counts.QUEUED + counts.RETRY_WAIT);
    const spread = ((waiting / options.maxInFlight) * expectedDurationSeconds(this.deps.settings.watch, this.job.watch, this.now)) / SLOT_ARRIVAL_FACTOR;
    const wait = Math.min(MAX_SLOT_WAIT_SECONDS, 1 + Math.floor(spread * (this.deps.random ?? Math.random)()));
    await this.lookAgain(rec, 'attempt', wait, { ...checked, status: rec.status, waitingForSlotSince: rec.waitingForSlotSince ?? iso(this.now) });
    this.metric('WaitedForSlot');
    return 'waiting-for-slot';
  }

  /**
   * The job is held: nothing is sent. The server looks again after a quarter of the time the job
   * has been paused (5 s to 5 min, ±50 %), so it goes on within seconds of a short pause's end and
   * within minutes of a long one's, for a handful of queue messages an hour.
   */
  private async waitWhilePaused(rec: ServerRecord): Promise<StepResult> {
    const pausedFor = (this.now.getTime() - Date.parse(this.job.paused?.at ?? iso(this.now))) / 1000;
    const base = Math.min(PAUSE_LOOK_MAX_SECONDS, Math.max(PAUSE_LOOK_MIN_SECONDS, pausedFor / 4));
    const wait = Math.max(1, Math.round(base * (0.5 + (this.deps.random ?? Math.random)())));
    await this.lookAgain(rec, 'attempt', wait);
    return 'paused';
  }

  /**
   * The server's wave has not opened. If the waves before it are over (their last end's writer
   * died before it opened the next), it opens it, and the attempt is judged again on the job as
   * written. Else it looks again later: the next wave's servers about twice per rebuild (5 s to a
   * minute, ±50 %), so a wave starts within a rebuild's time of the last one's end; a server more
   * waves back as much less often, up to five minutes, so a long rollout costs a handful of
   * messages a server an hour.
   */
  private async waitForWave(rec: ServerRecord): Promise<StepResult> {
    const advanced = await advanceRollout(this.deps.store, this.job, this.now);
    if (advanced) {
      this.job = advanced;
      return this.attempt(rec);
    }
    const perWave = Math.min(WAVE_LOOK_MAX_SECONDS, Math.max(WAVE_LOOK_MIN_SECONDS, expectedDurationSeconds(this.deps.settings.watch, this.job.watch, this.now) / 2));
    const base = Math.min(PAUSE_LOOK_MAX_SECONDS, perWave * wavesAhead(this.job, rec.index));
    const wait = Math.max(1, Math.round(base * (0.5 + (this.deps.random ?? Math.random)())));
    await this.lookAgain(rec, 'attempt', wait);
    return 'waiting-for-wave';
  }

  private decideError(err: unknown): Decision {
    if (err instanceof ComputeTransportError) {
      return err.maybeSent
        ? { kind: 'uncertain', message: `No answer from the cloud (${err.message}); the rebuild may have been taken.` }
        : { kind: 'retry', cause: 'unsent', message: `The cloud could not be reached (${err.message}).` };
    }
    if (err instanceof ComputeAuthError) return { kind: 'fail', cause: 'unauthorized', status: err.status, message: err.message };
    // The client cannot work with its settings or the catalog (no compute endpoint...): nothing was sent, and trying again will not help.
    if (err instanceof ComputeConfigError) return { kind: 'fail', cause: 'refused', message: err.message };
    // Anything else (a configuration error, a bug) happened around the call, not in the cloud:
    // whether the request left is unknown, so it counts as uncertain and the cloud is asked.
    return { kind: 'uncertain', message: `The call failed in the worker (${err instanceof Error ? err.name : 'error'}); the rebuild may have been sent.` };
  }

  /**
   * Records a 202 (or a rebuild of ours found in the cloud), parks the server's message as its safety
   * net, and makes sure the job's watcher is looking.
   */
  private async accepted(rec: ServerRecord, computeRequestId: string | undefined, settled?: ServerEndView, holdUntil?: Date): Promise<StepResult> {
    const first = Math.min(this.deps.settings.watch.safetyNetSeconds, holdUntil ? this.secondsUntil(holdUntil) : Number.POSITIVE_INFINITY);
    // Sent even when the server ends below: should the end's write fail, this message follows the
    // accepted server; once it has ended, the message finds another seq and is dropped.
    await this.schedule(rec.seq + 1, 'follow', first);
    const ids = computeRequestId && !(rec.computeRequestIds ?? []).includes(computeRequestId) ? [...(rec.computeRequestIds ?? []), computeRequestId] : rec.computeRequestIds;
    const moved = await this.move(rec, {
      status: 'ACCEPTED',
      claimedUntil: undefined,
      uncertain: undefined,
      lastHttpStatus: 202,
      faultName: undefined,
      faultMessage: undefined,
      // The clock read now, after the 202, not the step's start: the watcher trusts a list for this
      // server only if it was taken after acceptedAt, and a list taken between the step's start and
      // the 202 (seconds, on a loaded worker) shows the server before its rebuild began.
      acceptedAt: iso((this.deps.now ?? (() => new Date()))()),
      holdUntil: holdUntil ? iso(holdUntil) : undefined,
      nextCheckAt: this.at(first),
      ...(ids ? { computeRequestIds: ids } : {}),
    });
    this.metric('Accepted');
    this.log('rebuild accepted', rec, { computeRequestId });
    if (settled) return this.end(moved, settled.status, settled.fault, { status: settled.status, novaState: settled.novaState });
    // The job read after the move: a watcher that went idle before it is seen idle, and one that
    // goes idle after it cannot (its idle write is conditional on nothing in flight).
    const job = await this.deps.store.getJob(rec.jobId);
    if (job) await armWatch(this.deps, job, this.watchSecrets(rec));
    return 'accepted';
  }

  /**
   * A rebuild of ours found in the cloud after an attempt whose outcome was unknown may have ended
   * long ago (the attempt's worker died, and its message came back minutes later): the watcher's
   * lists start from its cursor and may never show that server again. So it is looked at once, now:
   * its end, if its task is over. A look that fails leaves it to the watcher and the safety net.
   */
  private async endedAlready(rec: ServerRecord): Promise<ServerEndView | undefined> {
    try {
      const view = await this.deps.compute.getServer(this.target, rec.serverId);
      return view.ok ? this.serverEnd(view.body.server, rec) : undefined;
    } catch (err) {
      if (err instanceof ComputeTransportError || err instanceof ComputeAuthError) return undefined;
      throw err;
    }
  }

  /** The secrets a watcher started from this message may carry: the job's shared ones, which are this server's when it has none of its own. */
  private watchSecrets(rec: ServerRecord) {
    return SECRET_FIELDS.some((f) => rec.rebuild[f] !== undefined) ? undefined : secretsOf(this.msg.rebuild);
  }

  /** A claim whose worker died: the attempt may have been sent. Ask the cloud, then go on from there. */
  private async recover(rec: ServerRecord): Promise<StepResult> {
    this.log('recovering an interrupted attempt', rec);
    const startedAt = rec.attemptStartedAt ?? rec.updatedAt;
    const uncertainty: Uncertainty = { since: rec.uncertain?.since ?? startedAt, lastAttemptAt: startedAt, novaRequestIds: rec.uncertain?.novaRequestIds ?? [] };
    return this.verify(rec, uncertainty);
  }

  /**
   * An attempt's outcome is unknown (`rec` RETRY_WAIT with the mark, or SUBMITTING whose worker
   * died): the cloud decides. Ours → followed; gone → failed; absent → sent again, but only once
   * the attempt can no longer act (the settle time); not known → asked again later. A job stopped or
   * past its deadline ends such a server only on a definite answer, or at the deadline with "unknown".
   */
  private async verify(rec: ServerRecord, uncertainty: Uncertainty): Promise<StepResult> {
    let answer: CloudAnswer;
    try {
      answer = await askCloud(this.deps.compute, this.target, rec, uncertainty, this.deps.settings.clockSkewSeconds);
    } catch (err) {
      answer = { kind: 'unknown', message: this.text.error(err) };
    }
    this.metric('Verified', answer.kind);
    if (answer.kind === 'ours') {
      // Ended at once only when nothing of ours can still act: the rebuild found is certainly ours
      // (by its request id), or the attempt can no longer be taken (the settle time passed). A
      // window match could be someone else's rebuild while ours is still on its way: then the server
      // keeps its lock and slot, and the watcher and safety net follow it, as for any 202.
      const settledAt = Date.parse(uncertainty.lastAttemptAt) + this.deps.settings.settleSeconds * 1000;
      const nothingInFlight = answer.by === 'requestId' || this.now.getTime() >= settledAt;
      if (nothingInFlight) return this.accepted(rec, answer.novaRequestId, await this.endedAlready(rec));
      // And no list or look ends it before the settle time (holdUntil): whatever the match showed
      // ending might be that other rebuild.
      return this.accepted(rec, answer.novaRequestId, undefined, new Date(settledAt));
    }
    if (answer.kind === 'gone') return this.end(rec, 'FAILED', { name: 'itemNotFound', message: this.text.clean(answer.message), status: 404 });
    const mark: Change = { status: 'RETRY_WAIT', claimedUntil: undefined, uncertain: uncertainty, everUncertain: true };
    if (answer.kind === 'unknown') {
      if (this.pastDeadline()) {
        return this.end(rec, 'FAILED', { name: 'outcomeUnknown', message: "The job's deadline passed and the cloud could not be asked whether the last attempt was taken: check the server." });
      }
      // Each unanswered look counts as a try, so the looks back off as an outage lasts.
      const tries = rec.tries + 1;
      const wait = backoffSeconds(tries, this.deps.settings.retry, undefined, this.deps.random);
      await this.schedule(rec.seq + 1, 'attempt', wait);
      await this.move(rec, { ...mark, tries, faultName: 'uncertain', faultMessage: `Could not yet learn whether the last attempt was taken: ${this.text.clean(answer.message)}`, nextCheckAt: this.at(wait) });
      return 'verify-scheduled';
    }
    // Absent. Final only once the attempt can no longer be acted on.
    const settledAt = Date.parse(uncertainty.lastAttemptAt) + this.deps.settings.settleSeconds * 1000;
    if (this.now.getTime() < settledAt) {
      const wait = this.secondsUntil(new Date(settledAt));
      await this.schedule(rec.seq + 1, 'attempt', wait);
      await this.move(rec, { ...mark, nextCheckAt: this.at(wait) });
      return 'verify-scheduled';
    }
    // A second ago is soon enough for the next attempt; it goes through attempt()'s checks (stop, deadline, budget).
    await this.schedule(rec.seq + 1, 'attempt', 1);
    await this.move(rec, { status: 'RETRY_WAIT', claimedUntil: undefined, uncertain: undefined, everUncertain: true, nextCheckAt: this.at(1) });
    this.log('the cloud never took the last attempt: it may be sent again', rec);
    return 'retry-scheduled';
  }

  private async retryLater(rec: ServerRecord, why: { cause: string; message: string; retryAfterMs?: number }): Promise<StepResult> {
    const tries = rec.tries + 1;
    const wait = backoffSeconds(tries, this.deps.settings.retry, why.retryAfterMs, this.deps.random);
    if (this.now.getTime() + wait * 1000 > Date.parse(this.msg.deadline)) {
      return this.end(rec, 'FAILED', { name: 'deadlineExceeded', message: `The next try (in ${wait} s) would fall after the job's deadline. Last answer: ${why.message}` });
    }
    await this.lookAgain(rec, this.msg.phase, wait, { status: rec.status, tries, faultName: why.cause, faultMessage: why.message });
    return 'retry-scheduled';
  }

  /**
   * An accepted server's safety net, every safetyNetSeconds while the watcher follows it: restarts a
   * watcher that was lost, and looks at the server by itself only when it is long overdue (the one
   * server a list could have missed), at the job's deadline, or when the cloud refuses lists.
   */
  private async follow(rec: ServerRecord): Promise<StepResult> {
    const s = this.deps.settings.watch;
    const perServer = this.job.watch?.mode === 'per-server';
    const age = (this.now.getTime() - Date.parse(rec.acceptedAt ?? rec.updatedAt)) / 1000;
    // A held server (model.ts) is looked at once its hold is over: the watcher skipped its ends
    // until then, and its lists may have moved past it. Before that, no look ends it.
    const held = rec.holdUntil !== undefined && this.now.getTime() < Date.parse(rec.holdUntil);
    const holdOver = rec.holdUntil !== undefined && !held;
    const look = perServer || holdOver || this.pastDeadline() || age > overdueSeconds(s, this.job.watch);
    if (!perServer) await armWatch(this.deps, this.job, this.watchSecrets(rec));
    let current = rec;
    let view;
    if (look) {
      try {
        view = await this.deps.compute.getServer(this.target, rec.serverId);
      } catch (err) {
        if (!(err instanceof ComputeTransportError || err instanceof ComputeAuthError)) throw err;
        view = undefined;
      }
      if (view && !view.ok && view.status === 404) {
        return this.end(rec, 'FAILED', { name: 'deleted', message: `The server was deleted while it was rebuilt: ${this.text.clean(view.message)}`, status: 404 });
      }
      if (view?.ok) {
        const ended = held && !this.pastDeadline() ? undefined : this.serverEnd(view.body.server, rec);
        if (ended) return this.end({ ...rec }, ended.status, ended.fault, { status: ended.status, novaState: ended.novaState });
        current = { ...rec, novaState: novaStateOf(view.body.server) };
      }
    }
    if (this.pastDeadline()) {
      return this.end(current, 'FAILED', { name: 'deadlineExceeded', message: `Timed out: the server was still ${current.novaState ?? 'rebuilding'} at the job's deadline.` }, { status: 'FAILED', ...(current.novaState ? { novaState: current.novaState } : {}) });
    }
    // An unanswered look backs off as retries do (retry-policy.ts owns the numbers).
    const every =
      look && !view?.ok
        ? backoffSeconds(2, this.deps.settings.retry, view && !view.ok ? view.retryAfterMs : undefined, this.deps.random)
        : perServer
          ? s.perServerIntervalSeconds
          : s.safetyNetSeconds;
    const wait = held ? Math.min(every, this.secondsUntil(new Date(Date.parse(rec.holdUntil as string)))) : every;
    // The hold is cleared by the look after it, once that look was answered.
    const release = holdOver && view?.ok ? { holdUntil: undefined } : {};
    await this.schedule(rec.seq + 1, 'follow', wait);
    await this.move(rec, { status: 'REBUILDING', ...(current.novaState ? { novaState: current.novaState } : {}), ...release, nextCheckAt: this.at(wait) });
    return 'following';
  }

  /** The end a server has reached, if its task is over: on the image (SUCCEEDED), or not, or ERROR. */
  private serverEnd(server: ServerView, rec: ServerRecord): ServerEndView | undefined {
    return serverOutcome(server, rec.imageId, this.text);
  }

  /**
   * The last allowed delivery of this message failed too: rather than leave the server to the
   * dead-letter queue, end it now — after asking the cloud whether a rebuild of ours is running —
   * and give its slot back.
   */
  async giveUp(rec: ServerRecord, err: unknown): Promise<StepResult> {
    const why = { name: 'abandoned', message: `The worker failed on this server's step on every delivery (${this.text.error(err)}).` };
    // A claim made from this very message is this worker's own, whatever its lease says.
    return finishNow(this.deps, this.job, rec, why, this.text, { ownClaim: rec.status === 'SUBMITTING' && rec.seq === this.msg.seq + 1 });
  }
}

/**
 * Ends a server now, whatever state it is in: what the sweeper does at a job's deadline or to a
 * server whose messages were lost, and what the worker does on a message's last delivery. A server
 * that was never sent ends with `why`; one the cloud may have (an unknown outcome, a claim whose
 * worker died, an accepted rebuild) ends as the cloud shows it — SUCCEEDED when it is done on the
 * new image — or with `why` and what the cloud said. A claim still held by a live worker is left to it.
 */
export async function finishNow(
  deps: Pick<WorkerDeps, 'compute' | 'life' | 'now' | 'logger' | 'settings'>,
  job: JobRecord,
  rec: ServerRecord,
  why: { name: string; message: string },
  text: CloudText,
  options: { ownClaim?: boolean } = {},
): Promise<StepResult> {
  const now = (deps.now ?? (() => new Date()))();
  if (isTerminal(rec.status)) return 'dropped';
  const liveClaim = rec.status === 'SUBMITTING' && rec.claimedUntil !== undefined && Date.parse(rec.claimedUntil) > now.getTime();
  if (liveClaim && !options.ownClaim) return 'dropped';
  const end = async (status: 'SUCCEEDED' | 'FAILED', fault?: { name: string; message: string; status?: number }, novaState?: string) => {
    await deps.life.move(job, rec, {
      status,
      ...(fault ? { faultName: fault.name, faultMessage: fault.message, ...(fault.status !== undefined ? { lastHttpStatus: fault.status } : {}) } : {}),
      ...(novaState ? { novaState } : {}),
    });
    deps.logger.info(`server ${status.toLowerCase()}`, { jobId: rec.jobId, serverId: rec.serverId, fault: fault?.name, by: why.name });
    return status;
  };
  const unsent = (rec.status === 'QUEUED' || rec.status === 'RETRY_WAIT') && !rec.uncertain;
  if (unsent) return end('FAILED', why);

  const target = { tenantId: job.tenantId, microversion: job.options.microversion };
  const sent = rec.status === 'ACCEPTED' || rec.status === 'REBUILDING';
  if (!sent) {
    // An unknown outcome: ours or not?
    const startedAt = rec.attemptStartedAt ?? rec.updatedAt;
    const uncertainty = rec.uncertain ?? { since: startedAt, lastAttemptAt: startedAt, novaRequestIds: [] };
    let answer: CloudAnswer;
    try {
      answer = await askCloud(deps.compute, target, rec, uncertainty, deps.settings.clockSkewSeconds);
    } catch (err) {
      answer = { kind: 'unknown', message: err instanceof Error ? err.name : 'error' };
    }
    if (answer.kind === 'absent') return end('FAILED', why);
    if (answer.kind === 'gone') return end('FAILED', { name: 'itemNotFound', message: `${why.message} The server no longer exists.`, status: 404 });
    if (answer.kind === 'unknown') return end('FAILED', { name: why.name, message: `${why.message} The cloud could not be asked whether the last attempt was taken: check the server.` });
  }
  // Held (model.ts): what the cloud shows may be another's rebuild while ours may still act; the
  // server ends without taking that view for its outcome.
  if (rec.holdUntil !== undefined && now.getTime() < Date.parse(rec.holdUntil)) {
    return end('FAILED', { name: why.name, message: `${why.message} The rebuild the cloud showed may be someone else's, and ours may still be held by the cloud until ${rec.holdUntil}: check the server.` });
  }
  // Ours was taken: how does it stand?
  try {
    const view = await deps.compute.getServer(target, rec.serverId);
    if (view.ok) {
      const outcome = serverOutcome(view.body.server, rec.imageId, text);
      if (outcome) return end(outcome.status, outcome.fault, outcome.novaState);
      return end('FAILED', { name: why.name, message: `${why.message} The server was still ${novaStateOf(view.body.server)}.` }, novaStateOf(view.body.server));
    }
    if (view.status === 404) return end('FAILED', { name: 'deleted', message: `${why.message} The server no longer exists.`, status: 404 });
  } catch {
    // Not answered: said below.
  }
  return end('FAILED', { name: why.name, message: `${why.message} The rebuild was taken; the cloud could not be asked how it ended: check the server.` });
}

/**
 * Handles one queue message. Throws RetryLaterError when the queue should deliver it again later;
 * on the message's last allowed delivery (`lastDelivery`), a step that fails ends its server instead.
 */
export async function handleRebuildMessage(deps: WorkerDeps, msg: RebuildMessage, options: { lastDelivery?: boolean } = {}): Promise<StepResult> {
  const [rec, job] = await Promise.all([deps.store.getServer(msg.jobId, msg.serverId), deps.store.getJob(msg.jobId)]);
  if (!rec || !job) {
    deps.logger.warn('no record for message: job expired or deleted', { jobId: msg.jobId, serverId: msg.serverId });
    return 'dropped';
  }
  const step = new Step(deps, msg, job);
  try {
    await deps.crashPoint?.('stepStart', msg.serverId);
    return await step.run(rec);
  } catch (err) {
    // Another delivery moved the record between our read and our write: it owns the step now.
    if (err instanceof ConditionFailedError) return 'dropped';
    if (!options.lastDelivery) throw err;
    // On the last delivery a step left for later is a spare (its record moved on, or a live worker holds the claim).
    if (err instanceof RetryLaterError) return 'dropped';
    deps.logger.warn('step failed on its last delivery: the server is ended', { jobId: msg.jobId, serverId: msg.serverId, errorName: (err as Error)?.name, errorMessage: step.cleanError(err) });
    const [fresh, freshJob] = await Promise.all([deps.store.getServer(msg.jobId, msg.serverId), deps.store.getJob(msg.jobId)]);
    if (!fresh || !freshJob) return 'dropped';
    // The record is this message's (untouched, or claimed from it); moved any further, a newer message owns it.
    const ours = fresh.seq === msg.seq || (fresh.seq === msg.seq + 1 && fresh.status === 'SUBMITTING');
    if (!ours) return 'dropped';
    return new Step(deps, msg, freshJob).giveUp(fresh, err);
  }
}
