/**
 * Cancelling a job: no server not yet submitted is submitted any more; rebuilds the cloud already
 * accepted (or may have: an attempt whose outcome is unknown) are followed to their end. The job
 * ends when its last server does, CANCELLED when any was cancelled.
 */
import { ConflictError } from '../errors.js';
import type { Caller } from './grants.js';
import type { ServerLife } from './lifecycle.js';
import type { JobRecord, ServerRecord } from './model.js';
import type { JobStore } from './ports.js';
import { loadJob } from './views.js';

/**
 * How long the API spends cancelling waiting servers itself, so the job shows them CANCELLED at
 * once. 10 s stays well inside API Gateway's 30 s; servers left over are cancelled by the worker
 * when their next message arrives, or by the sweeper.
 */
export const CANCEL_BUDGET_MS = 10_000;
/** Servers read per page while cancelling. */
const PAGE = 500;

/** Servers that have not been sent and cannot be in the cloud: cancelling them is safe. */
export function isUnsent(s: ServerRecord): boolean {
  return (s.status === 'QUEUED' || s.status === 'RETRY_WAIT') && !s.uncertain;
}

/** Ends the job's unsent servers CANCELLED (the job already stopped), within `until`; returns the job as left. */
export async function cancelUnsent(store: JobStore, life: ServerLife, job: JobRecord, reason: string, until: number): Promise<JobRecord> {
  // A selection not yet counted has no servers of its own to end: its watcher (or the sweeper)
  // ends the job on seeing the stop (worker/select.ts).
  if (job.selection && (job.selection.state === 'resolving' || job.selection.state === 'listed')) return job;
  let current = job;
  for (const status of ['QUEUED', 'RETRY_WAIT'] as const) {
    let marker: string | undefined;
    do {
      const page = await store.listServers(job.jobId, { limit: PAGE, status, ...(marker ? { marker } : {}) });
      const items = page.items.filter(isUnsent).map((from) => ({ from, change: { status: 'CANCELLED' as const, faultName: 'cancelled', faultMessage: reason } }));
      if (items.length) current = (await life.moveMany(current, items)).job;
      marker = page.nextMarker;
    } while (marker && Date.now() < until);
  }
  return current;
}

/** Cancels a job the caller may see; returns it as it stands afterwards. */
export async function cancelJob(store: JobStore, life: ServerLife, caller: Caller, jobId: string, now: () => Date): Promise<JobRecord> {
  const job = await loadJob(store, caller, jobId);
  if (job.finalStatus) throw new ConflictError(`Rebuild job ${jobId} has already ended; there is nothing to cancel.`);
  const reason = `Cancelled by ${caller.principal}.`;
  await store.setStop(jobId, { by: 'cancel', at: now().toISOString(), reason });
  const stopped = (await store.getJob(jobId)) ?? job;
  await cancelUnsent(store, life, stopped, stopped.stop?.reason ?? reason, Date.now() + CANCEL_BUDGET_MS);
  return (await store.getJob(jobId)) ?? stopped;
}
