/**
 * Resolves a job's selection (`rebuildJob.select`, request/select.ts) in its watcher's first look,
 * in three steps, each ended by one conditional write on the job, so a worker that dies anywhere
 * is followed by one that goes on from the last write, and nothing is sent twice:
 *
 * 1. `resolving` → `listed`: the project listed with the filters (paged, whole), the exclusions and
 *    the cap applied, and what the list showed of each matched server written in the preflight's
 *    chunks with its place. Nothing else is written, so a step run again lists again.
 * 2. `listed` → `ready`: the matched servers' locks taken (one held by another live job fails the
 *    job, naming it), their records written, the job's counts set. The set is the chunks' from
 *    step 1, so a step run again writes the same records; nothing was sent yet.
 * 3. `ready` → `sent`: one message per server at seq 0, with the secrets the watcher's message
 *    carries (duplicates are fenced by seq), or, for a plan, nothing until its confirmation.
 *
 * A selection that matches nothing, more than its `max`, or that Nova refuses (a bad regex: 13i)
 * ends the job FAILED saying so, nothing written but the job.
 */
import { RetryLaterError } from '../errors.js';
import type { WatchMessage } from '../jobs/message.js';
import { type JobRecord, type PreflightEntry, type ServerRecord } from '../jobs/model.js';
import { MESSAGE_VERSION, type RebuildMessage } from '../jobs/message.js';
import { lockServers, releaseServers } from '../jobs/locks.js';
import { sharedRequest } from '../jobs/redrive.js';
import { firstWave } from '../jobs/rollout.js';
import { recordNotQueued } from '../jobs/submit.js';
import { PREFLIGHT_CHUNK, preflightChunk } from '../jobs/watching.js';
import { QueueUnavailableError } from '../errors.js';
import { ComputeAuthError, ComputeTransportError, type ComputeTarget } from '../openstack/compute.js';
import { canonicalUuid } from '../request/nova-formats.js';
import type { RebuildRequest } from '../request/rebuild-schema.js';
import { PLAN_MAX_PAGES, type WatchDeps, preflightEntry } from './watch.js';

/** How many held servers a failed selection names. */
const LISTED = 20;

/** Runs the selection as far as it goes; the job as it stands after, undefined if it is gone. */
export async function runSelection(deps: WatchDeps, job: JobRecord, msg: WatchMessage, target: ComputeTarget): Promise<JobRecord | undefined> {
  const now = () => (deps.now ?? (() => new Date()))();
  // One worker at a time: a second delivery of the watcher's message (SQS delivers at least once)
  // must not list, write or send beside the first. The lease is the servers' claim lease, longer
  // than the worker function can live, so a live worker's never lapses; a dead one's does.
  const at = now();
  if (!(await deps.store.claimSelection(job.jobId, at.toISOString(), new Date(at.getTime() + deps.settings.claimLeaseSeconds * 1000).toISOString()))) {
    const fresh = await deps.store.getJob(job.jobId);
    if (fresh?.selection && ['resolving', 'listed', 'ready'].includes(fresh.selection.state) && !fresh.finalStatus) {
      throw new RetryLaterError('the selection is being resolved by another delivery');
    }
    return fresh;
  }
  let current: JobRecord | undefined = job;
  // Each step moves the state on or ends the job; a step someone else took is read again.
  for (let round = 0; round < 6 && current?.selection && !current.finalStatus; round++) {
    const sel = current.selection;
    if (current.stop) {
      // Cancelled (or expired) before any server was written: the job ends here. Once written,
      // its servers end as any unsent server of a stopped job does.
      if (sel.state === 'resolving' || sel.state === 'listed') {
        await deps.store.failSelection(job.jobId, sel.state, `${current.stop.reason} The selection was not resolved: nothing was rebuilt.`, now().toISOString(), 'CANCELLED');
        current = await deps.store.getJob(job.jobId);
      }
      break;
    }
    if (sel.state === 'resolving') await resolve(deps, current, target, now());
    else if (sel.state === 'listed') await writeServers(deps, current, now());
    else if (sel.state === 'ready') await send(deps, current, msg);
    else break;
    current = await deps.store.getJob(job.jobId);
  }
  return current;
}

async function fail(deps: WatchDeps, job: JobRecord, from: 'resolving' | 'listed', reason: string, at: Date): Promise<void> {
  if (await deps.store.failSelection(job.jobId, from, reason, at.toISOString())) deps.logger.warn('selection failed', { jobId: job.jobId, reason });
}

async function resolve(deps: WatchDeps, job: JobRecord, target: ComputeTarget, now: Date): Promise<void> {
  const sel = job.selection as NonNullable<JobRecord['selection']>;
  let answer;
  try {
    answer = await deps.compute.listServers(target, { filters: sel.filters, maxPages: PLAN_MAX_PAGES });
  } catch (err) {
    if (err instanceof ComputeTransportError || err instanceof ComputeAuthError) throw new RetryLaterError(`the selection's list was not answered: ${err.name}`);
    throw err;
  }
  if (!answer.ok) {
    // Nova refuses the filters themselves (a bad regex, 13i; a value it cannot read) with a 400:
    // asking again would not help. Anything else may pass: the message comes back.
    if (answer.status === 400 && !answer.unsent) return fail(deps, job, 'resolving', `Nova refused the selection's list (400): ${answer.message}`, now);
    throw new RetryLaterError(`the selection's list answered ${answer.status}`);
  }
  if (!answer.body.complete) return fail(deps, job, 'resolving', `The project has more than ${PLAN_MAX_PAGES} pages of servers matching: narrow the filters.`, now);
  const excluded = new Set(sel.exclude);
  const seen = new Set<string>();
  const matched: { id: string; entry: PreflightEntry }[] = [];
  for (const v of answer.body.servers) {
    const id = canonicalUuid(v.id);
    // A member's list is its project's; a server of another project is never taken (13j).
    if (!id || v.tenant_id !== job.tenantId || excluded.has(id) || seen.has(id) || v.status === 'DELETED') continue;
    seen.add(id);
    matched.push({ id, entry: { ...preflightEntry(v), index: matched.length } });
  }
  if (matched.length === 0) return fail(deps, job, 'resolving', `The selection matched no server of project ${job.tenantId}${excluded.size ? ` (after ${excluded.size} exclusions)` : ''}: nothing was rebuilt.`, now);
  if (matched.length > sel.max) return fail(deps, job, 'resolving', `The selection matched ${matched.length} servers, more than its max of ${sel.max}: nothing was rebuilt. Narrow the filters, or raise select.max.`, now);
  const chunks = new Map<number, Record<string, PreflightEntry>>();
  for (const { id, entry } of matched) {
    const chunk = preflightChunk(entry.index as number);
    chunks.set(chunk, { ...(chunks.get(chunk) ?? {}), [id]: entry });
  }
  for (const [chunk, entries] of chunks) await deps.store.putPreflight(job.jobId, chunk, entries, job.expiresAt);
  if (await deps.store.advanceSelection(job.jobId, 'resolving', 'listed', { matched: matched.length })) {
    deps.logger.info('selection listed', { jobId: job.jobId, matched: matched.length, pages: answer.body.pages });
  }
}

/** The matched servers as step 1 wrote them, in their place. */
async function matchedServers(deps: WatchDeps, job: JobRecord): Promise<{ id: string; index: number }[]> {
  const matched = job.selection?.matched ?? 0;
  const out: { id: string; index: number }[] = [];
  for (let chunk = 0; chunk * PREFLIGHT_CHUNK < matched; chunk++) {
    const entries = (await deps.store.getPreflight(job.jobId, chunk)) ?? {};
    for (const [id, entry] of Object.entries(entries)) if (entry.index !== undefined && entry.index < matched) out.push({ id, index: entry.index });
  }
  return out.sort((a, b) => a.index - b.index);
}

async function writeServers(deps: WatchDeps, job: JobRecord, now: Date): Promise<void> {
  const servers = await matchedServers(deps, job);
  const ids = servers.map((s) => s.id);
  const conflicts = await lockServers(deps.store, job.tenantId, job.jobId, ids, now, job.expiresAt);
  if (conflicts.length > 0) {
    await releaseServers(deps.store, job.tenantId, job.jobId, ids);
    const named = conflicts.slice(0, LISTED).map((c) => `${c.serverId} (job ${c.jobId})`);
    return fail(deps, job, 'listed', `${conflicts.length} of the ${ids.length} selected servers are being rebuilt by another live job of this project: ${named.join(', ')}${conflicts.length > LISTED ? ` and ${conflicts.length - LISTED} more` : ''}. Exclude them (select.exclude) or wait for that job to end.`, now);
  }
  const at = now.toISOString();
  const imageId = String(job.rebuild.imageRef);
  const records: ServerRecord[] = servers.map(({ id, index }) => ({
    jobId: job.jobId,
    serverId: id,
    tenantId: job.tenantId,
    index,
    status: 'QUEUED',
    imageId,
    rebuild: {},
    attempts: 0,
    tries: 0,
    createdAt: at,
    updatedAt: at,
    nextCheckAt: at,
    expiresAt: job.expiresAt,
    seq: 0,
  }));
  await deps.life.create(records);
  const rollout = job.options.rollout ? firstWave(job.options.rollout, records.length) : undefined;
  if (await deps.store.advanceSelection(job.jobId, 'listed', 'ready', { total: records.length, ...(rollout ? { rollout } : {}) })) {
    deps.logger.info('selection ready', { jobId: job.jobId, servers: records.length });
  }
}

async function send(deps: WatchDeps, job: JobRecord, msg: WatchMessage): Promise<void> {
  if (!job.awaiting) {
    const shared = sharedRequest(job, (msg.secrets ?? {}) as Partial<RebuildRequest>);
    const records: ServerRecord[] = [];
    let marker: string | undefined;
    do {
      const page = await deps.store.listServers(job.jobId, { limit: 1000, status: 'QUEUED', ...(marker ? { marker } : {}) });
      records.push(...page.items.filter((r) => r.seq === 0));
      marker = page.nextMarker;
    } while (marker);
    const messages: RebuildMessage[] = records.map((r) => ({
      v: MESSAGE_VERSION,
      jobId: job.jobId,
      tenantId: job.tenantId,
      serverId: r.serverId,
      microversion: job.options.microversion,
      maxAttempts: job.options.maxAttempts,
      deadline: job.deadline,
      seq: 0,
      phase: 'attempt',
      rebuild: shared as RebuildRequest,
    }));
    try {
      await deps.queue.send(messages);
    } catch (err) {
      if (!(err instanceof QueueUnavailableError)) throw err;
      await recordNotQueued({ store: deps.store, life: deps.life }, job, records, err).catch(() => undefined);
    }
  }
  await deps.store.advanceSelection(job.jobId, 'ready', 'sent');
}
