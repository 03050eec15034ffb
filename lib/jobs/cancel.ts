/**
 * Cancelling a job: no server not yet submitted is submitted any more; rebuilds already accepted
 * by Nova are followed to their end. The job ends CANCELLED when its last server ends.
 */
import { BadRequestError, ConditionFailedError, ConflictError } from '../errors.js';
import { loadJob } from './views.js';
import { type JobRecord, type ServerState, endedCount } from './model.js';
import type { JobStore } from './ports.js';
import type { Caller } from './submit.js';

/**
 * How long the API spends cancelling waiting servers itself, so the job shows them CANCELLED at
 * once. 10 s stays well inside API Gateway's 30 s; servers left over are cancelled by the worker
 * when their next message arrives (within SQS's 15-minute maximum delay).
 */
export const CANCEL_BUDGET_MS = 10_000;

/** Reads `{"cancel": null}` as Nova reads an action body. */
export function parseJobAction(body: unknown): 'cancel' {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const keys = Object.keys(body);
    if (keys.length === 1 && keys[0] === 'cancel') {
      if ((body as { cancel: unknown }).cancel !== null) {
        throw new BadRequestError("Invalid input for field/attribute cancel. The value must be null: {\"cancel\": null}");
      }
      return 'cancel';
    }
    if (keys.length === 1) throw new BadRequestError(`There is no such action: ${keys[0]}`);
  }
  throw new BadRequestError('Malformed request body: send {"cancel": null}');
}

/** Cancels a job the caller may see; returns it as it stands afterwards. */
export async function cancelJob(store: JobStore, caller: Caller, jobId: string, now: () => Date): Promise<JobRecord> {
  const job = await loadJob(store, caller, jobId);
  if (endedCount(job.counts) >= job.total) throw new ConflictError(`Rebuild job ${jobId} has already ended; there is nothing to cancel.`);
  await store.setStop(jobId, { by: 'cancel', at: now().toISOString(), reason: `Cancelled by ${caller.principal}.` });
  const until = Date.now() + CANCEL_BUDGET_MS;
  for (const status of ['QUEUED', 'RETRY_WAIT'] as ServerState[]) {
    let marker: string | undefined;
    do {
      const page = await store.listServers(jobId, { limit: 100, status, ...(marker ? { marker } : {}) });
      await Promise.all(
        page.items
          // An attempt whose outcome is unknown may be running in Nova: the worker finds out first.
          .filter((s) => !s.uncertain)
          .map(async (s) => {
            const at = now().toISOString();
            const { nextCheckAt: _next, ...rest } = s;
            try {
              await store.transition(s, { ...rest, status: 'CANCELLED', seq: s.seq + 1, updatedAt: at, endedAt: at, faultName: 'cancelled', faultMessage: `Cancelled by ${caller.principal}.` });
            } catch (err) {
              if (!(err instanceof ConditionFailedError)) throw err; // the worker moved it first
            }
          }),
      );
      marker = page.nextMarker;
    } while (marker && Date.now() < until);
  }
  const after = (await store.getJob(jobId)) ?? job;
  if (endedCount(after.counts) >= after.total) await store.markCompleted(jobId, now().toISOString());
  return (await store.getJob(jobId)) ?? after;
}
