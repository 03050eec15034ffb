/**
 * Reading jobs: one job (one read, whatever its size), its servers and the project's jobs, shaped
 * as the API answers them. A job is visible to every principal granted its project (the API has
 * checked the grant); in any other project it does not exist.
 */
import { BadRequestError, JobNotFoundError } from '../errors.js';
import { type JobRecord, type ServerRecord, type ServerState, SERVER_STATES, TERMINAL_SERVER_STATES, jobStatus } from './model.js';
import type { JobStore, Page } from './ports.js';
import type { Caller } from './grants.js';

/** Nova's default page size for lists is 1,000 (`osapi_max_limit`); ours too. */
export const MAX_PAGE_SIZE = 1000;

export interface Link {
  rel: string;
  href: string;
}

/** Loads a job the caller may see, or throws 404. */
export async function loadJob(store: JobStore, caller: Caller, jobId: string): Promise<JobRecord> {
  const job = await store.getJob(jobId);
  if (!job || job.tenantId !== caller.tenantId) throw new JobNotFoundError(jobId);
  return job;
}

/** The URL a job's `Location` header and self link point at. */
export function jobLocation(baseUrl: string, job: Pick<JobRecord, 'tenantId' | 'jobId'>): string {
  return `${baseUrl}/v2/${encodeURIComponent(job.tenantId)}/rebuild-jobs/${job.jobId}`;
}

/** The submission as the caller sees it: an unfinished one past its window is INTERRUPTED. */
function submissionView(job: JobRecord, now: Date): Record<string, unknown> {
  const s = job.submission;
  if (s.state === 'IN_PROGRESS' && now.getTime() > Date.parse(s.deadline)) {
    return {
      state: 'INTERRUPTED',
      message:
        "The submit function stopped before it had queued every server. Servers still QUEUED whose message was never sent end FAILED at the job's deadline: cancel the job to end them now, then submit them again.",
    };
  }
  const { deadline: _deadline, ...rest } = s;
  return rest;
}

/** `{"rebuildJob": {...}}` as every job endpoint answers it. */
export function jobView(job: JobRecord, baseUrl: string, now: Date): { rebuildJob: Record<string, unknown> } {
  const self = jobLocation(baseUrl, job);
  return {
    rebuildJob: {
      id: job.jobId,
      tenantId: job.tenantId,
      kind: job.kind,
      status: jobStatus(job),
      total: job.total,
      counts: job.counts,
      createdBy: job.createdBy,
      createdAt: job.createdAt,
      updatedAt: job.updatedAt,
      deadline: job.deadline,
      ...(job.completedAt ? { completedAt: job.completedAt } : {}),
      ...(job.stop ? { stop: job.stop } : {}),
      ...(job.paused ? { paused: job.paused } : {}),
      ...(job.redrives ? { redrives: job.redrives } : {}),
      ...(job.rollout ? { rollout: job.rollout } : {}),
      ...(job.awaiting ? { awaiting: job.awaiting } : {}),
      ...(job.selection
        ? {
            selection: {
              filters: job.selection.filters,
              excluded: job.selection.exclude.length,
              max: job.selection.max,
              state: job.selection.state,
              ...(job.selection.matched !== undefined ? { matched: job.selection.matched } : {}),
              ...(job.selection.reason ? { reason: job.selection.reason } : {}),
            },
          }
        : {}),
      ...(job.confirmedAt ? { confirmedAt: job.confirmedAt } : {}),
      options: job.options,
      rebuild: job.rebuild,
      submission: submissionView(job, now),
      links: [
        { rel: 'self', href: self },
        { rel: 'servers', href: `${self}/servers` },
        { rel: 'report', href: `${self}/report` },
        ...(job.options.confirm === 'manual' ? [{ rel: 'plan', href: `${self}/plan` }] : []),
      ] satisfies Link[],
    },
  };
}

/** One server as the servers list shows it. */
export function serverView(s: ServerRecord): Record<string, unknown> {
  return {
    id: s.serverId,
    index: s.index,
    status: s.status,
    imageRef: s.imageId,
    attempts: s.attempts,
    ...(s.lastHttpStatus !== undefined ? { lastHttpStatus: s.lastHttpStatus } : {}),
    ...(s.faultName || s.faultMessage ? { fault: { name: s.faultName, message: s.faultMessage } } : {}),
    ...(s.uncertain ? { uncertainSince: s.uncertain.since } : {}),
    computeRequestIds: s.computeRequestIds ?? [],
    ...(s.novaState ? { novaState: s.novaState } : {}),
    ...(s.nextCheckAt && !TERMINAL_SERVER_STATES.includes(s.status) ? { nextCheckAt: s.nextCheckAt } : {}),
    ...(s.waitingForSlotSince ? { waitingForSlotSince: s.waitingForSlotSince } : {}),
    ...(s.acceptedAt ? { acceptedAt: s.acceptedAt } : {}),
    ...(s.endedAt ? { endedAt: s.endedAt } : {}),
    rebuild: s.rebuild,
    ...(s.runs?.length ? { runs: s.runs } : {}),
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

/** Reads Nova-style `limit` (1..1000; default and cap 1000). */
export function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return MAX_PAGE_SIZE;
  if (!/^\d+$/.test(raw)) throw new BadRequestError(`limit must be a non-negative integer; it is '${raw.slice(0, 32)}'`);
  const n = Number(raw);
  // Nova treats limit=0 as "the default", and caps at its maximum.
  return n === 0 ? MAX_PAGE_SIZE : Math.min(n, MAX_PAGE_SIZE);
}

function parseStatus(raw: string | undefined): ServerState | undefined {
  if (raw === undefined) return undefined;
  const s = raw.toUpperCase();
  if (!(SERVER_STATES as readonly string[]).includes(s)) {
    throw new BadRequestError(`status must be one of ${SERVER_STATES.join(', ')}; it is '${raw.slice(0, 32)}'`);
  }
  return s as ServerState;
}

export function pageLinks(url: string, query: Record<string, string | undefined>, page: Page<unknown>): Link[] {
  if (!page.nextMarker) return [];
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && k !== 'marker') params.set(k, v);
  params.set('marker', page.nextMarker);
  return [{ rel: 'next', href: `${url}?${params.toString()}` }];
}

/** `{"servers": [...], "servers_links": [...]}` for a job the caller may see. */
export async function listJobServers(
  store: JobStore,
  caller: Caller,
  jobId: string,
  query: { limit?: string; marker?: string; status?: string },
  baseUrl: string,
): Promise<Record<string, unknown>> {
  const job = await loadJob(store, caller, jobId);
  const limit = parseLimit(query.limit);
  const status = parseStatus(query.status);
  const page = await store.listServers(job.jobId, { limit, status, ...(query.marker ? { marker: query.marker } : {}) });
  return {
    servers: page.items.map(serverView),
    servers_links: pageLinks(`${jobLocation(baseUrl, job)}/servers`, { ...query, limit: String(limit) }, page),
  };
}

/** `{"rebuildJobs": [...], "rebuildJobs_links": [...]}`: the project's jobs, newest first. */
export async function listProjectJobs(
  store: JobStore,
  caller: Caller,
  query: { limit?: string; marker?: string },
  baseUrl: string,
  now: Date,
): Promise<Record<string, unknown>> {
  const limit = parseLimit(query.limit);
  const page = await store.listJobs(caller.tenantId, { limit, ...(query.marker ? { marker: query.marker } : {}) });
  return {
    rebuildJobs: page.items.map((j) => jobView(j, baseUrl, now).rebuildJob),
    rebuildJobs_links: pageLinks(`${baseUrl}/v2/${encodeURIComponent(caller.tenantId)}/rebuild-jobs`, { ...query, limit: String(limit) }, page),
  };
}
