/**
 * One rebuild per server at a time, across jobs. A submission takes a lock for each of its servers
 * (per project and server); a server already held by another live job refuses the whole
 * submission with a 409 that names that job, so a list submitted twice by mistake is never wiped
 * twice. The lock is released when the server ends (`lifecycle.ts`), and a lock whose holder is no
 * longer live — its server ended, its job ended or never came to be — is taken over, so a release
 * lost (a submission that died before its job was written) never blocks a server for good.
 */
import { type JobStore, type ServerLock } from './ports.js';
import { SUBMIT_WINDOW_SECONDS, isTerminal } from './model.js';

/** True when the job holding the lock still has the server to rebuild. */
async function holderIsLive(store: JobStore, lock: ServerLock, now: Date): Promise<boolean> {
  // A submission writes its records, then its locks, then its job: inside its window the job may not exist yet.
  if (now.getTime() - Date.parse(lock.takenAt) < SUBMIT_WINDOW_SECONDS * 1000) return true;
  const [job, server] = await Promise.all([store.getJob(lock.jobId), store.getServer(lock.jobId, lock.serverId)]);
  return job !== undefined && !job.finalStatus && server !== undefined && !isTerminal(server.status);
}

/**
 * Takes the locks of a job's servers; returns the locks live jobs hold (empty: all taken). On
 * conflicts, the locks this call took are released again.
 */
export async function lockServers(store: JobStore, tenantId: string, jobId: string, serverIds: string[], now: Date, expiresAt: number): Promise<ServerLock[]> {
  const takenAt = now.toISOString();
  const held = await store.lockServers(tenantId, jobId, serverIds, takenAt, expiresAt);
  const conflicts: ServerLock[] = [];
  for (const lock of held) {
    if (await holderIsLive(store, lock, now)) conflicts.push(lock);
    else if (!(await store.takeOverServerLock(lock, jobId, takenAt, expiresAt))) conflicts.push(lock);
  }
  if (conflicts.length > 0) await releaseServers(store, tenantId, jobId, serverIds);
  return conflicts;
}

/** Releases the locks this job holds on these servers (best effort: a lock left behind lapses, see above). */
export async function releaseServers(store: JobStore, tenantId: string, jobId: string, serverIds: string[]): Promise<void> {
  // Sixteen at a time: a 2,000-server release is a second or two, without a burst the table throttles.
  for (let i = 0; i < serverIds.length; i += 16) {
    await Promise.allSettled(serverIds.slice(i, i + 16).map((id) => store.releaseServerLock(tenantId, id, jobId)));
  }
}
