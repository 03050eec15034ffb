/**
 * The sweeper: a periodic pass over the jobs that have not ended (EventBridge schedule in the
 * cloud, a timer locally) that ends every server which would otherwise wait forever, returns its
 * slot, and so ends the job. It holds no queue message, hence no secret: what it writes of the
 * cloud's text is withheld (worker/cloud-text.ts).
 *
 * - A job past its deadline: every server still open ends now — unsent ones FAILED
 *   `deadlineExceeded`; ones the cloud may have (accepted, or an unknown outcome) after asking the
 *   cloud how they stand. The deadline holds even when no message arrives.
 * - A job that was stopped (cancelled, or past its failure threshold): its unsent servers end
 *   CANCELLED, those the API's cancel did not reach in its time budget included.
 * - A server whose next step is long overdue: its message was lost (a submission that died midway,
 *   a message dead-lettered after crashing every delivery). It ends `stalled`, after asking the
 *   cloud where a rebuild may have been taken.
 * - A job with rebuilds in flight whose watcher was lost: a new one is started (without secrets:
 *   the cloud's text about a server of a job with secrets is then withheld).
 */
import { isUnsent } from '../jobs/cancel.js';
import type { ServerLife } from '../jobs/lifecycle.js';
import { type JobRecord, type ServerRecord, isTerminal, stopFaultName } from '../jobs/model.js';
import type { JobStore, MetricsSink, RebuildQueue } from '../jobs/ports.js';
import type { ComputeApi } from '../openstack/compute.js';
import { CloudText } from './cloud-text.js';
import { type WorkerLogger, type WorkerSettings, finishNow } from './step.js';
import { buildPlan } from './plan.js';
import { armWatch } from './watch.js';

export interface SweepSettings {
  /**
   * How long past its due time a server's next step may be late before its message counts as lost.
   * A message can legitimately be late by SQS's longest delay (15 min) plus redeliveries after a
   * crash (the visibility timeout, 6 min, up to five times) plus a backlog: an hour is beyond all
   * of them together, so a server whose message is merely late is never ended.
   */
  stallSeconds: number;
  /** How long one sweep may run (the sweeper function's timeout, less a margin); the next sweep goes on. */
  budgetMs: number;
}

export const DEFAULT_SWEEP: SweepSettings = { stallSeconds: 3600, budgetMs: 240_000 };

export interface SweepDeps {
  store: JobStore;
  life: ServerLife;
  queue: RebuildQueue;
  compute: ComputeApi;
  settings: WorkerSettings;
  sweep: SweepSettings;
  logger: WorkerLogger;
  metrics?: MetricsSink;
  now?: () => Date;
}

/** What a sweep did, for logs and tests. */
export interface SweepReport {
  jobs: number;
  ended: number;
  cancelled: number;
  /** Jobs the sweep did not get to (its budget ran out): the next sweep starts with them. */
  unfinished: boolean;
}

/** Servers read per page. */
const PAGE = 500;
/**
 * How long a selection may stay unresolved. Its list is asked again on each redelivery of the
 * watcher's message (a visibility timeout apart, 6 minutes in the cloud): a quarter of an hour is
 * two more tries, long past a cloud that merely answered slowly, and the operator learns within
 * the night's window that the job will not run, rather than at its deadline.
 */
const SELECTION_STALL_SECONDS = 15 * 60;
/** How long a plan may stay unbuilt before the sweeper builds it without its list: as for a selection. */
const PLAN_STALL_SECONDS = SELECTION_STALL_SECONDS;
/** Servers asked about at once (each is a call or two to the cloud). */
const CONCURRENCY = 8;

/** One sweep over every live job. */
export async function sweep(deps: SweepDeps): Promise<SweepReport> {
  const clock = deps.now ?? (() => new Date());
  const started = Date.now();
  const report: SweepReport = { jobs: 0, ended: 0, cancelled: 0, unfinished: false };
  let marker: string | undefined;
  do {
    const page = await deps.store.listLiveJobs({ limit: 100, ...(marker ? { marker } : {}) });
    for (const listed of page.items) {
      if (Date.now() - started > deps.sweep.budgetMs) {
        report.unfinished = true;
        return report;
      }
      // The index is eventually consistent: read the job itself.
      const job = await deps.store.getJob(listed.jobId);
      if (!job || job.finalStatus) continue;
      report.jobs++;
      await sweepJob(deps, job, clock(), report);
    }
    marker = page.nextMarker;
  } while (marker);
  return report;
}

async function sweepJob(deps: SweepDeps, job: JobRecord, now: Date, report: SweepReport): Promise<void> {
  const sel = job.selection;
  if (sel && (sel.state === 'resolving' || sel.state === 'listed')) {
    // Its watcher resolves it within seconds; one that has not within SELECTION_STALL_SECONDS (its
    // message lost, or dead-lettered after failing every delivery), or past its deadline, or whose
    // job was stopped, ends the job: no server was written.
    const stalled = now.getTime() - Date.parse(job.createdAt) > SELECTION_STALL_SECONDS * 1000;
    const due = now.getTime() > Date.parse(job.awaiting?.until ?? job.deadline);
    if (job.stop || stalled || due) {
      const why = job.stop ? job.stop.reason : due ? "The job's deadline passed before its selection was resolved." : `The selection was not resolved within ${SELECTION_STALL_SECONDS / 60} minutes (the cloud did not answer its list).`;
      if (await deps.store.failSelection(job.jobId, sel.state, `${why} Nothing was rebuilt.`, now.toISOString(), job.stop ? 'CANCELLED' : 'FAILED')) report.ended++;
    }
    return;
  }
  if (job.awaiting && !job.stop) {
    // A plan awaiting its confirmation has sent nothing: nothing is overdue until it expires
    // (its deadline until then), and then its servers end CANCELLED, unsent. One already stopped
    // (cancelled, or an expiry whose ending was cut short) has its unsent servers ended below.
    if (now.getTime() <= Date.parse(job.awaiting.until)) {
      // A plan its watcher never built (its message let go after failing every delivery) is
      // built now without the project's list: every server "unknown", for the caller to judge.
      if (!job.plan && now.getTime() - Date.parse(job.createdAt) > PLAN_STALL_SECONDS * 1000) {
        await buildPlan({ ...deps, now: () => now }, job, { tenantId: job.tenantId, microversion: job.options.microversion }, { ok: false, why: `its list was not answered within ${PLAN_STALL_SECONDS / 60} minutes` });
      }
      return;
    }
    const stop = { by: 'expired' as const, at: now.toISOString(), reason: `The plan was not confirmed by ${job.awaiting.until}: nothing was rebuilt.` };
    // Only while it still awaits: a confirmation that landed since the read goes on.
    if (!(await deps.store.setStop(job.jobId, stop, { onlyAwaiting: true }))) return;
    job = { ...job, stop };
  }
  const pastDeadline = !job.awaiting && now.getTime() > Date.parse(job.deadline);
  const overdueBefore = now.getTime() - deps.sweep.stallSeconds * 1000;
  const text = new CloudText(undefined);
  if (job.counts.ACCEPTED + job.counts.REBUILDING > 0 && (await armWatch({ ...deps, now: () => now }, job, undefined))) {
    deps.logger.info('sweep started a watcher for rebuilds in flight', { jobId: job.jobId });
  }
  let current = job;
  let marker: string | undefined;
  do {
    const page = await deps.store.listServers(job.jobId, { limit: PAGE, ...(marker ? { marker } : {}) });
    const open = page.items.filter((s) => !isTerminal(s.status));
    // A confirmed plan's servers were due from its confirmation, whatever their records say.
    const confirmed = job.confirmedAt !== undefined && Date.parse(job.confirmedAt) >= overdueBefore;
    const overdue = (s: ServerRecord) => !confirmed && s.nextCheckAt !== undefined && Date.parse(s.nextCheckAt) < overdueBefore;

    // Unsent servers end in bulk: nothing to ask the cloud.
    const unsent = open.filter(isUnsent);
    const bulk = unsent.filter((s) => pastDeadline || current.stop || overdue(s));
    if (bulk.length) {
      const items = bulk.map((from) => ({ from, change: endOf(from, current, pastDeadline) }));
      const out = await deps.life.moveMany(current, items);
      current = out.job;
      for (const m of out.moved) (m.status === 'CANCELLED' ? report.cancelled++ : report.ended++);
      deps.metrics?.record('Swept', out.moved.length, 'Count', pastDeadline ? 'deadline' : current.stop ? 'stopped' : 'stalled');
    }

    // Servers the cloud may have: asked one by one.
    const asked = open.filter((s) => !isUnsent(s) && (pastDeadline || overdue(s)));
    for (let i = 0; i < asked.length; i += CONCURRENCY) {
      await Promise.all(
        asked.slice(i, i + CONCURRENCY).map(async (rec) => {
          const why = pastDeadline
            ? { name: 'deadlineExceeded', message: "The job's deadline passed before the rebuild was seen to end." }
            : { name: 'stalled', message: `Its next step was due at ${rec.nextCheckAt} and never came (its message was lost or dead-lettered).` };
          const fresh = await deps.store.getJob(job.jobId);
          if (!fresh || fresh.finalStatus) return;
          try {
            const result = await finishNow({ ...deps, now: () => now }, fresh, rec, why, text);
            if (result !== 'dropped') report.ended++;
          } catch (err) {
            // Moved by a worker meanwhile, or the store failed: the next sweep looks again.
            deps.logger.warn('sweep could not end a server', { jobId: rec.jobId, serverId: rec.serverId, errorName: (err as Error)?.name });
          }
        }),
      );
    }
    marker = page.nextMarker;
  } while (marker);
}

/** How an unsent server ends in a sweep. */
function endOf(rec: ServerRecord, job: JobRecord, pastDeadline: boolean) {
  if (pastDeadline) return { status: 'FAILED' as const, faultName: 'deadlineExceeded', faultMessage: `The job's deadline passed before the cloud accepted the rebuild.${rec.faultMessage ? ` Last answer: ${rec.faultMessage}` : ''}` };
  if (job.stop) return { status: 'CANCELLED' as const, faultName: stopFaultName(job.stop), faultMessage: job.stop.reason };
  return {
    status: 'FAILED' as const,
    faultName: 'stalled',
    faultMessage: `It was never sent: its next step was due at ${rec.nextCheckAt} and never came (a submission that stopped midway, or a message that was lost or dead-lettered). Submit it again.`,
  };
}
