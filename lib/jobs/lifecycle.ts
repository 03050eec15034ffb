/**
 * A server's life: the one place that writes server records. It knows which moves are allowed,
 * what each does to the job's per-state counters and in-flight count, and when a job ends; the
 * submit path, the worker, cancel and the sweeper all go through it.
 *
 * Every write is conditional on the record as it was read (its `seq` and status), so a record
 * someone else moved is never overwritten; a server that ends gives its lock back (jobs/locks.ts)
 * in the same write. A job's end is one write: the transition that ends its
 * last servers also writes the job's final status and `completedAt`, conditional on exactly those
 * servers remaining and on the stop it was read with, so no reader ever sees a job that has ended
 * without its end time, or a final status its counters do not add up to.
 */
import { ConditionFailedError, JobMovedError, MoveLostError } from '../errors.js';
import {
  type Counts,
  type JobRecord,
  type RunSummary,
  type ServerRecord,
  type ServerState,
  IN_FLIGHT_STATES,
  endedCount,
  finalStatusOf,
  isTerminal,
} from './model.js';
import { advanceRollout } from './rollout.js';
import { type JobStore, MAX_MOVES_PER_WRITE, type MetricsSink, type StoredTransition } from './ports.js';

/** The moves a server may make. A move to the same state re-fences the record (a new seq) for a new message. */
const ALLOWED: Record<ServerState, readonly ServerState[]> = {
  QUEUED: ['QUEUED', 'SUBMITTING', 'FAILED', 'CANCELLED'],
  RETRY_WAIT: ['RETRY_WAIT', 'SUBMITTING', 'ACCEPTED', 'FAILED', 'CANCELLED'],
  SUBMITTING: ['ACCEPTED', 'RETRY_WAIT', 'FAILED'],
  ACCEPTED: ['REBUILDING', 'SUCCEEDED', 'FAILED'],
  REBUILDING: ['REBUILDING', 'SUCCEEDED', 'FAILED'],
  SUCCEEDED: [],
  FAILED: [],
  CANCELLED: [],
};

/**
 * How often a write is made again because the job moved between our read of it and our write
 * (other servers ended: the `remaining` condition) or a record of a batch was moved by someone
 * else (dropped, then the rest written). Each retry follows someone else's progress, so this bounds
 * the ends that can race one write: far above the worker's concurrency.
 */
const WRITE_RETRIES = 1000;

/** A move: the new status and the fields that change; a field set to undefined is removed. */
export type Change = Partial<Omit<ServerRecord, 'jobId' | 'serverId' | 'tenantId' | 'index' | 'seq' | 'status'>> & { status: ServerState };

/** A move that is not allowed from the state the record is in: a bug in the caller, never the cloud's doing. */
export class ForbiddenMoveError extends Error {
  override readonly name = 'ForbiddenMoveError';
}

export interface LifeDeps {
  store: JobStore;
  now: () => Date;
  metrics?: MetricsSink;
  /** Ended servers needed before maxFailurePercentage is judged (in a smaller job: all of them). */
  minFailureSample: number;
}

const iso = (d: Date) => d.toISOString();

function countsAfter(counts: Counts, deltas: Partial<Record<ServerState, number>>): Counts {
  const out = { ...counts };
  for (const [s, d] of Object.entries(deltas) as [ServerState, number][]) out[s] += d;
  return out;
}

/** The server state machine. */
export class ServerLife {
  constructor(private readonly deps: LifeDeps) {}

  /** Writes a new job's server records; each starts QUEUED at seq 0. */
  async create(records: ServerRecord[]): Promise<void> {
    for (const r of records) {
      if (r.status !== 'QUEUED' || r.seq !== 0) throw new ForbiddenMoveError(`server ${r.serverId} must start QUEUED at seq 0`);
    }
    await this.deps.store.putServers(records);
  }

  /**
   * Moves one server from the record as read (`from`) by `change`, in the job as read. Throws
   * ConditionFailedError when someone else moved it first, and SlotsFullError when a claim
   * (`maxInFlight`) finds the job's slots taken. Returns the record as written.
   */
  async move(job: JobRecord, from: ServerRecord, change: Change, options: { maxInFlight?: number } = {}): Promise<ServerRecord> {
    const { moved } = await this.write(job, [{ from, change }], options, false);
    const to = moved[0];
    if (!to) throw new ConditionFailedError(`server ${from.serverId} is no longer ${from.status} at seq ${from.seq}`);
    return to;
  }

  /**
   * Moves many servers of one job, as few writes as it takes; records someone else moved first are
   * left as they are. Returns what was written, what was skipped, and the job as it was left.
   */
  async moveMany(job: JobRecord, items: { from: ServerRecord; change: Change }[]): Promise<{ moved: ServerRecord[]; skipped: ServerRecord[]; job: JobRecord }> {
    const moved: ServerRecord[] = [];
    const skipped: ServerRecord[] = [];
    let current = job;
    for (let i = 0; i < items.length; i += MAX_MOVES_PER_WRITE) {
      const out = await this.write(current, items.slice(i, i + MAX_MOVES_PER_WRITE), {}, true);
      moved.push(...out.moved);
      skipped.push(...out.skipped);
      current = out.job;
    }
    return { moved, skipped, job: current };
  }

  /**
   * Runs ended servers again under their job (a redrive): each FAILED or CANCELLED record goes
   * back to QUEUED with a fresh attempt budget, the run it ends kept in its history, its project
   * checked again before its first rebuild (a fresh baseline for the verify window). The first
   * write reopens the job if it has ended — conditional on the final status read — so the job is
   * never seen reopened without servers to run. Returns the records as written and the job.
   */
  async redrive(job: JobRecord, records: ServerRecord[], deadline: string): Promise<{ moved: ServerRecord[]; job: JobRecord }> {
    const now = this.deps.now();
    const moved: ServerRecord[] = [];
    let current = job;
    for (let i = 0; i < records.length; i += MAX_MOVES_PER_WRITE) {
      const moves = records.slice(i, i + MAX_MOVES_PER_WRITE).map((from) => {
        if (from.status !== 'FAILED' && from.status !== 'CANCELLED') {
          throw new ForbiddenMoveError(`server ${from.serverId}: only FAILED or CANCELLED servers are run again, not ${from.status}`);
        }
        const run: RunSummary = {
          status: from.status,
          attempts: from.attempts,
          ...(from.lastHttpStatus !== undefined ? { lastHttpStatus: from.lastHttpStatus } : {}),
          ...(from.faultName !== undefined ? { faultName: from.faultName } : {}),
          ...(from.faultMessage !== undefined ? { faultMessage: from.faultMessage } : {}),
          ...(from.acceptedAt !== undefined ? { acceptedAt: from.acceptedAt } : {}),
          ...(from.endedAt !== undefined ? { endedAt: from.endedAt } : {}),
          ...(from.computeRequestIds?.length ? { computeRequestIds: from.computeRequestIds } : {}),
        };
        const to: ServerRecord = {
          ...from,
          status: 'QUEUED',
          seq: from.seq + 1,
          attempts: 0,
          tries: 0,
          updatedAt: iso(now),
          nextCheckAt: iso(now),
          runs: [...(from.runs ?? []), run],
        };
        for (const k of ['lastHttpStatus', 'faultName', 'faultMessage', 'computeRequestIds', 'claimedUntil', 'attemptRequestId', 'attemptStartedAt', 'projectChecked', 'baselineUpdated', 'uncertain', 'novaState', 'acceptedAt', 'holdUntil', 'endedAt', 'waitingForSlotSince'] as const) delete to[k];
        return { from, to };
      });
      const counts: Partial<Record<ServerState, number>> = { QUEUED: moves.length };
      for (const { from } of moves) counts[from.status] = (counts[from.status] ?? 0) - 1;
      const reopen = current.finalStatus ? { from: current.finalStatus, deadline } : undefined;
      await this.deps.store.applyTransition({
        moves,
        releaseLocks: [],
        job: { jobId: job.jobId, counts, inFlight: 0, add: moves.length, ...(reopen ? { reopen } : {}) },
      });
      const { finalStatus: _f, completedAt: _c, stop: _s, paused: _p, ...rest } = current;
      current = {
        ...(reopen ? { ...rest, deadline, redrives: (current.redrives ?? 0) + 1 } : current),
        counts: countsAfter(current.counts, counts),
        remaining: current.remaining + moves.length,
      };
      moved.push(...moves.map((m) => m.to));
    }
    return { moved, job: current };
  }

  /** One write of up to MAX_MOVES_PER_WRITE moves, made again while the job moves under it. */
  private async write(
    job: JobRecord,
    items: { from: ServerRecord; change: Change }[],
    options: { maxInFlight?: number },
    dropLost: boolean,
  ): Promise<{ moved: ServerRecord[]; skipped: ServerRecord[]; job: JobRecord }> {
    const now = this.deps.now();
    let pending = items.map(({ from, change }) => ({ from, to: this.next(from, change, now) }));
    const skipped: ServerRecord[] = [];
    let current = job;
    for (let retry = 0; pending.length > 0; retry++) {
      const t = this.transition(current, pending, options, now);
      try {
        await this.deps.store.applyTransition(t);
      } catch (err) {
        if (retry >= WRITE_RETRIES) throw err;
        if (err instanceof MoveLostError && dropLost) {
          const [lost] = pending.splice(err.index, 1);
          if (lost) skipped.push(lost.from);
          continue;
        }
        if (err instanceof MoveLostError) throw new ConditionFailedError(err.message, { cause: err });
        if (!(err instanceof JobMovedError)) throw err;
        const reread = await this.deps.store.getJob(job.jobId);
        if (!reread) throw err;
        current = reread;
        continue;
      }
      const after: JobRecord = {
        ...current,
        counts: countsAfter(current.counts, t.job.counts),
        remaining: current.remaining - (t.job.end?.servers ?? 0),
        inFlight: current.inFlight + t.job.inFlight,
        ...(t.job.end?.final ? { finalStatus: t.job.end.final.status, completedAt: t.job.end.final.completedAt } : {}),
      };
      await this.afterWrite(current, after, pending, now);
      return { moved: pending.map((p) => p.to), skipped, job: after };
    }
    return { moved: [], skipped, job: current };
  }

  /** The record a change makes of `from`; a move the state machine does not allow is refused. */
  private next(from: ServerRecord, change: Change, now: Date): ServerRecord {
    if (!ALLOWED[from.status].includes(change.status)) {
      throw new ForbiddenMoveError(`server ${from.serverId}: ${from.status} → ${change.status} is not a move a server makes`);
    }
    const to: ServerRecord = { ...from, ...change, seq: from.seq + 1, updatedAt: iso(now) };
    if (isTerminal(to.status)) {
      to.endedAt = iso(now);
      for (const k of ['claimedUntil', 'nextCheckAt', 'waitingForSlotSince', 'uncertain', 'holdUntil'] as const) delete to[k];
    }
    return to;
  }

  /** What the moves do to the job: counters, in-flight slots, and its end when they end its last servers. */
  private transition(job: JobRecord, moves: { from: ServerRecord; to: ServerRecord }[], options: { maxInFlight?: number }, now: Date): StoredTransition {
    const counts: Partial<Record<ServerState, number>> = {};
    let inFlight = 0;
    let ending = 0;
    for (const { from, to } of moves) {
      if (from.status !== to.status) {
        counts[from.status] = (counts[from.status] ?? 0) - 1;
        counts[to.status] = (counts[to.status] ?? 0) + 1;
      }
      inFlight += Number(IN_FLIGHT_STATES.includes(to.status)) - Number(IN_FLIGHT_STATES.includes(from.status));
      if (isTerminal(to.status)) ending++;
    }
    const t: StoredTransition = {
      moves,
      releaseLocks: moves.filter(({ to }) => isTerminal(to.status)).map(({ to }) => ({ tenantId: to.tenantId, serverId: to.serverId })),
      job: { jobId: job.jobId, counts, inFlight, ...(inFlight > 0 && options.maxInFlight !== undefined ? { maxInFlight: options.maxInFlight } : {}) },
    };
    if (ending > 0) {
      const last = job.remaining === ending;
      t.job.end = {
        servers: ending,
        ...(last
          ? { final: { status: finalStatusOf(countsAfter(job.counts, counts), job.total, job.stop), completedAt: iso(now), stopBy: job.stop?.by ?? null } }
          : {}),
      };
    }
    return t;
  }

  /** After servers ended: their outcomes counted, the failure threshold judged, the rollout moved on. */
  private async afterWrite(before: JobRecord, after: JobRecord, moves: { from: ServerRecord; to: ServerRecord }[], now: Date): Promise<void> {
    const m = this.deps.metrics;
    let failed = false;
    let ended = false;
    for (const { to } of moves) {
      if (!isTerminal(to.status)) continue;
      ended = true;
      m?.record(to.status === 'SUCCEEDED' ? 'Succeeded' : to.status === 'FAILED' ? 'Failed' : 'Cancelled', 1, 'Count', to.faultName);
      if (to.status === 'SUCCEEDED') m?.record('SecondsToSucceed', (now.getTime() - Date.parse(to.createdAt)) / 1000, 'Seconds');
      failed ||= to.status === 'FAILED';
    }
    if (after.finalStatus && !before.finalStatus) {
      m?.record('JobSecondsToComplete', (now.getTime() - Date.parse(after.createdAt)) / 1000, 'Seconds');
    }
    const rolling = ended && after.rollout !== undefined && !after.redrives && after.rollout.open < after.total;
    if (!(failed || rolling) || after.stop || after.finalStatus) return;
    // Judged on the job as it is now: other servers ended since it was read, and the condition on
    // `remaining` only says this was not the last of them.
    const fresh = await this.deps.store.getJob(after.jobId);
    if (!fresh || fresh.stop || fresh.finalStatus) return;
    const endedNow = endedCount(fresh.counts);
    const sample = Math.min(fresh.total, this.deps.minFailureSample);
    const pct = (fresh.counts.FAILED / endedNow) * 100;
    if (failed && endedNow >= sample && pct > fresh.options.maxFailurePercentage) {
      const reason = `${fresh.counts.FAILED} of ${endedNow} servers ended FAILED (${pct.toFixed(1)}%), over the job's maxFailurePercentage of ${fresh.options.maxFailurePercentage}%: no more servers are submitted.`;
      await this.deps.store.setStop(fresh.jobId, { by: 'threshold', at: iso(now), reason });
      return;
    }
    // The waiting servers see the gate move when they next look (worker/step.ts, waitForWave).
    if (rolling) await advanceRollout(this.deps.store, fresh, now);
  }
}
