/**
 * What the submit path and the worker share about a job's watcher (worker/watch.ts): the state a
 * new job starts with, the watcher's message, and how the preflight's findings are chunked.
 */
import type { RebuildRequest } from '../request/rebuild-schema.js';
import { MESSAGE_VERSION, type WatchMessage } from './message.js';
import type { JobRecord, WatchState } from './model.js';

/**
 * Jobs of at least this many servers look their servers up in one paged list of the project before
 * the first rebuild (one call per 1,000 servers of the project) instead of one GET each. A smaller
 * job's GETs are few, run in parallel with no wait, and a list of a large project would cost it more.
 * Every job's preflight checks its target images in Glance (worker/plan.ts), whatever its size.
 */
export const PREFLIGHT_MIN_SERVERS = 20;

/** Whether a job's preflight lists the project: a large job, or a plan (which must see every server). */
export function preflightLists(job: Pick<JobRecord, 'total' | 'awaiting'>): boolean {
  return job.awaiting !== undefined || job.total >= PREFLIGHT_MIN_SERVERS;
}
/**
 * Servers per preflight item: a chunk of 250 entries is about 25 KB, so a step reads ~7 KB-units
 * of DynamoDB for its server's entry, and a 10,000-server job needs 40 items, far below the 400 KB
 * item limit each.
 */
export const PREFLIGHT_CHUNK = 250;

/** The preflight chunk a server's entry is in (by its position in the request). */
export function preflightChunk(index: number): number {
  return Math.floor(index / PREFLIGHT_CHUNK);
}

/**
 * A new job's watch state: generation 1, its preflight pending — every job starts with one (the
 * watcher's first message): a list of the project when the job is large or a plan, and a check of
 * its target images in Glance.
 */
export function newWatchState(now: Date): WatchState {
  return { gen: 1, tick: 0, durations: [], preflight: 'pending', mode: 'list', lists: 0, nextLookAt: now.toISOString() };
}

/** The secret fields of a rebuild body: what the watcher's message carries to scrub the cloud's text. */
export function secretsOf(body: Partial<RebuildRequest>): WatchMessage['secrets'] {
  const out: NonNullable<WatchMessage['secrets']> = {};
  if (body.adminPass !== undefined) out.adminPass = body.adminPass;
  if (body.personality !== undefined) out.personality = body.personality.map((f) => ({ path: f.path, contents: f.contents }));
  if (body.user_data !== undefined) out.user_data = body.user_data;
  return out;
}

/** The watcher's message for a generation and tick. */
export function watchMessage(job: Pick<JobRecord, 'jobId' | 'tenantId' | 'deadline' | 'options'>, gen: number, tick: number, secrets: WatchMessage['secrets'] | undefined): WatchMessage {
  return {
    v: MESSAGE_VERSION,
    kind: 'watch',
    jobId: job.jobId,
    tenantId: job.tenantId,
    microversion: job.options.microversion,
    deadline: job.deadline,
    gen,
    tick,
    ...(secrets ? { secrets } : {}),
  };
}
