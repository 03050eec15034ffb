/**
 * The job's watcher: how accepted rebuilds are followed to their end. One chain of queue messages
 * per job lists the project's servers changed since a cursor (`GET /servers/detail?changes-since=`,
 * every page) and ends each of the job's accepted servers that the list shows settled — done on the
 * new image, on another, ERROR with its fault, or deleted — instead of one GET per server per look.
 *
 * - Its pace adapts: about LIST_BUDGET lists per rebuild, from the durations it has seen and the
 *   servers in flight, never slower than maxPaceSeconds (so an end is seen within seconds) nor faster
 *   than minPaceSeconds. Nothing in flight: it goes idle and calls nothing; the next 202 starts a new
 *   generation, whose first look comes firstLookSeconds later.
 * - Its messages are fenced like a server's (`gen`, `tick` on the job's WatchState): of two
 *   deliveries of one message only one looks; a generation replaced by a newer one is dropped.
 * - The cursor is taken from Nova's own `updated` values (the cloud's clock, not ours), less a margin
 *   for writes that commit late; the first list of a busy spell looks back from its start less the
 *   clock-skew allowance.
 * - A list answered before a server's 202 was recorded is not used for that server: the view could
 *   be from before the rebuild began.
 * - Every accepted server also keeps its own message, parked for safetyNetSeconds at a time
 *   (step.ts `follow`): it restarts a watcher that was lost, and looks at the server itself only
 *   when it is long overdue — the one server a list could have missed.
 *
 * The preflight, the watcher's first message of every job: the target images checked in Glance
 * (the job's plan, worker/plan.ts) and, for a large job, one paged list of the project, so the
 * servers' project check and baseline need no GET each (jobs/watching.ts).
 */
import { RetryLaterError } from '../errors.js';
import type { ServerLife } from '../jobs/lifecycle.js';
import type { WatchMessage } from '../jobs/message.js';
import { type JobRecord, type PreflightEntry, type ServerRecord, type WatchState } from '../jobs/model.js';
import type { JobStore, MetricsSink, RebuildQueue } from '../jobs/ports.js';
import { PREFLIGHT_CHUNK, PREFLIGHT_MIN_SERVERS, preflightChunk, preflightLists, watchMessage } from '../jobs/watching.js';
import { canonicalUuid } from '../request/nova-formats.js';
import { SECRET_FIELDS, SecretScrubber } from '../request/secrets.js';
import { ComputeAuthError, ComputeTransportError, type ComputeApi, type ComputeTarget, type ServerView } from '../openstack/compute.js';
import { CloudText } from './cloud-text.js';
import { type ServerEnd, serverOutcome } from './outcome.js';
import { buildPlan } from './plan.js';
import { runSelection } from './select.js';

/** The watcher's numbers, in seconds unless said; each default is explained where it is set. */
export interface WatchSettings {
  /** The first look after a busy spell begins (the first 202). */
  firstLookSeconds: number;
  /** The fastest pace: never more than one list a second. */
  minPaceSeconds: number;
  /** The slowest pace while anything is in flight: bounds the time from a rebuild's end to its server's end. */
  maxPaceSeconds: number;
  /** Lists per rebuild the pace aims at (Compute calls on top of the one rebuild call each). */
  listBudget: number;
  /** The rebuild duration assumed until one is seen. */
  priorDurationSeconds: number;
  /** How far behind the newest `updated` seen the next list starts: writes that commit late are not missed. */
  cursorMarginSeconds: number;
  /** How often an accepted server's own message comes back to check on its watcher. */
  safetyNetSeconds: number;
  /** A watcher whose next look is this late is taken as lost and replaced. */
  lostAfterSeconds: number;
  /** A server accepted this long ago (and longer than overdueFactor × the longest rebuild seen) is looked at by itself. */
  overdueMinSeconds: number;
  overdueFactor: number;
  /** How often a server looks by itself when the cloud refuses lists (`mode: per-server`). */
  perServerIntervalSeconds: number;
  /** How long a server's first step waits for a pending preflight before it checks its project itself. */
  preflightWaitSeconds: number;
}

export const DEFAULT_WATCH_SETTINGS: WatchSettings = {
  // Nova sets task_state before it answers 202, so an early look costs one list and can only find
  // rebuilds that were already very short; two seconds is "a few seconds after the first 202".
  firstLookSeconds: 2,
  // SQS delays are whole seconds.
  minPaceSeconds: 1,
  // An end is seen within 4 s of the list that shows it (plus the list's own time): the p95 of
  // "task_state cleared → SUCCEEDED" stays under 5 s whatever the rebuilds' length.
  maxPaceSeconds: 4,
  // 0.08 lists per rebuild keeps all Compute calls at ≤ 1.10 per server with room for the
  // preflight's pages and the odd retry; with maxPaceSeconds it is what sets the pace (see paceSeconds).
  listBudget: 0.08,
  // Ten seconds: shorter than any real rebuild, so servers waiting for a slot look often enough at
  // first; until an end is seen the estimate grows with the time the busy spell has lasted.
  priorDurationSeconds: 10,
  // Nova stamps `updated` before its transaction commits; ten seconds is far beyond a commit's time,
  // and costs only servers listed twice.
  cursorMarginSeconds: 10,
  // A minute: a lost watcher is replaced within a minute and a half (with lostAfterSeconds), for one
  // queue message and two table reads per server in flight — no Compute call.
  safetyNetSeconds: 60,
  lostAfterSeconds: 30,
  // A list misses a server only if the cloud's clocks disagree by more than the margin, or its end
  // committed before its 202 was recorded: rare, so a server looks by itself only well past what
  // rebuilds have taken so far.
  overdueMinSeconds: 600,
  overdueFactor: 3,
  perServerIntervalSeconds: 10,
  // A preflight takes one list and a few table writes: seconds. Past half a minute something is
  // wrong with it, and servers check themselves rather than wait.
  preflightWaitSeconds: 30,
};

/** The durations kept for the pace: enough for a stable median, small on the job item. */
const DURATION_SAMPLES = 32;
/** The most pages one look may cost (10,000 servers changed within one look). */
const MAX_WATCH_PAGES = 10;
/** The preflight never costs more than one list page per this many servers of the job. */
const PREFLIGHT_SERVERS_PER_PAGE = 10;
/**
 * A plan's list of the whole project stops after this many pages (100,000 servers at Nova's
 * default page of 1,000): past it the plan says the project could not be listed whole, rather than
 * call servers it did not reach "not found".
 */
export const PLAN_MAX_PAGES = 100;

/** Whether the preflight read the project's list, and why not. */
export type Listed = { ok: true } | { ok: false; why: string };
/**
 * A list is used for a server only if it was started this long after the server's 202 was recorded
 * (acceptedAt is read after the 202, listedAt before the list is sent, so on one clock "after" is
 * enough): the two times come from different workers' clocks, which NTP-synced hosts keep within
 * milliseconds. A quarter of a second is far beyond that, and short enough not to hold a sub-second
 * rebuild's slot for another look; a server skipped is seen in the next look.
 */
const ACCEPTED_CLOCK_MARGIN_MS = 250;
/** Rounds of re-reading servers someone else moved while the watcher ended them. */
const END_ROUNDS = 3;

export interface WatchDeps {
  store: JobStore;
  life: ServerLife;
  queue: RebuildQueue;
  compute: ComputeApi;
  settings: { watch: WatchSettings; clockSkewSeconds: number; claimLeaseSeconds: number };
  logger: { info(message: string, attributes: Record<string, unknown>): void; warn(message: string, attributes: Record<string, unknown>): void };
  metrics?: MetricsSink;
  now?: () => Date;
}

export type WatchResult = 'dropped' | 'idle' | 'looked' | 'unanswered' | 'per-server';

const iso = (d: Date) => d.toISOString();
const plus = (d: Date, seconds: number) => new Date(d.getTime() + seconds * 1000);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * What a rebuild of this job takes, as far as is known: the median of the durations seen; before
 * any, at least as long as the busy spell has lasted without an end (and priorDurationSeconds at first).
 */
export function expectedDurationSeconds(s: WatchSettings, watch: WatchState | undefined, now: Date): number {
  if (watch && watch.durations.length > 0) return median(watch.durations);
  const busy = watch?.busySince ? (now.getTime() - Date.parse(watch.busySince)) / 1000 : 0;
  return Math.max(s.priorDurationSeconds, busy);
}

/**
 * Seconds to the next look: the rebuilds in flight end at about inFlight / duration a second, and a
 * list every duration / (listBudget × inFlight) seconds spends listBudget lists on each; clamped to
 * [minPace, maxPace].
 */
export function paceSeconds(s: WatchSettings, watch: WatchState, inFlight: number, now: Date): number {
  const pace = expectedDurationSeconds(s, watch, now) / (s.listBudget * Math.max(1, inFlight));
  return Math.round(Math.min(s.maxPaceSeconds, Math.max(s.minPaceSeconds, pace)));
}

/** How long a server may be accepted before it looks by itself. */
export function overdueSeconds(s: WatchSettings, watch: WatchState | undefined): number {
  const longest = watch && watch.durations.length > 0 ? Math.max(...watch.durations) : 0;
  return Math.max(s.overdueMinSeconds, s.overdueFactor * longest);
}

/** Text cleaning for a server the watcher ends: its secrets are the job's shared ones, or it has none; else its text is withheld. */
function textFor(job: JobRecord, rec: ServerRecord, secrets: WatchMessage['secrets']): CloudText {
  const hasSecret = (body: Record<string, unknown>) => SECRET_FIELDS.some((f) => body[f] !== undefined);
  if (hasSecret(rec.rebuild)) return new CloudText(undefined);
  if (secrets) return new CloudText(SecretScrubber.forRequest(secrets));
  return new CloudText(hasSecret(job.rebuild) ? undefined : new SecretScrubber([]));
}

/**
 * Starts a new generation of the job's watcher when none is looking — idle, never started, or lost
 * (its next look long overdue) — and sends its first message, firstLookSeconds on. Called after
 * every 202 (with the job read after the server's move) and by a server's safety net.
 */
export async function armWatch(deps: WatchDeps, job: JobRecord, secrets: WatchMessage['secrets'] | undefined): Promise<boolean> {
  const s = deps.settings.watch;
  let current: JobRecord | undefined = job;
  // Twice at most: a second arm that raced ours finds the watcher armed when it reads again.
  for (let round = 0; round < 2 && current && !current.finalStatus; round++) {
    const now = (deps.now ?? (() => new Date()))();
    const w = current.watch;
    if (w?.mode === 'per-server') return false;
    const idle = w?.nextLookAt === undefined;
    if (w && !idle && Date.parse(w.nextLookAt as string) > now.getTime() - s.lostAfterSeconds * 1000) return false;
    const next: WatchState = {
      durations: w?.durations ?? [],
      mode: 'list',
      lists: w?.lists ?? 0,
      // A preflight that never finished is given up: servers check themselves.
      preflight: w?.preflight === 'done' ? 'done' : 'none',
      gen: (w?.gen ?? 0) + 1,
      tick: 0,
      nextLookAt: iso(plus(now, s.firstLookSeconds)),
      // After an idle spell the first list looks back from now; a lost watcher's successor goes on from where it was.
      busySince: idle ? iso(now) : (w?.busySince ?? iso(now)),
      ...(!idle && w?.cursor ? { cursor: w.cursor } : {}),
    };
    if (await deps.store.setWatch(current.jobId, w ? { gen: w.gen, tick: w.tick } : null, next)) {
      await deps.queue.schedule(watchMessage(current, next.gen, 0, secrets), s.firstLookSeconds);
      deps.metrics?.record('WatcherStarted', 1, 'Count', idle ? 'busy' : 'lost');
      return true;
    }
    current = await deps.store.getJob(current.jobId);
  }
  return false;
}

/** Handles one watcher message. */
export async function handleWatchMessage(deps: WatchDeps, msg: WatchMessage): Promise<WatchResult> {
  const now = (deps.now ?? (() => new Date()))();
  let job = await deps.store.getJob(msg.jobId);
  if (!job || job.finalStatus) return 'dropped';
  const w = job.watch;
  if (!w || w.gen !== msg.gen || msg.tick < w.tick) return 'dropped';
  // Sent by a look whose claim has not landed yet (or never will: then its own message comes back and redoes it).
  if (msg.tick > w.tick) throw new RetryLaterError(`watch tick ${msg.tick} is ahead of the job (${w.tick})`);
  const s = deps.settings.watch;
  const target: ComputeTarget = { tenantId: job.tenantId, microversion: job.options.microversion };
  const expect = { gen: w.gen, tick: w.tick };
  let state: WatchState = { ...w };
  if (job.selection && job.selection.state !== 'sent' && job.selection.state !== 'failed') {
    // The selection's list is its preflight: its entries are written as it resolves.
    const selected = await runSelection(deps, job, msg, target);
    if (!selected || selected.finalStatus) return 'dropped';
    job = selected;
    if (state.preflight === 'pending') {
      state = { ...state, preflight: 'done', lists: state.lists + 1 };
      if (!job.plan) await buildPlan(deps, job, target, { ok: true });
    }
  }
  if (state.preflight === 'pending') {
    // Every job's plan is built before its preflight is told done: a server that waited for it
    // reads the image check in the job it reads next (step.ts).
    const done = await preflight(deps, job, state, target);
    state = done.state;
    if (!job.plan) await buildPlan(deps, job, target, done.listed, done.records);
  }
  if (state.mode === 'per-server') {
    await deps.store.setWatch(job.jobId, expect, { ...state, tick: state.tick + 1, nextLookAt: undefined });
    return 'per-server';
  }

  let inFlight = job.counts.ACCEPTED + job.counts.REBUILDING;
  if (inFlight === 0) {
    const idle: WatchState = { ...state, tick: state.tick + 1, nextLookAt: undefined, busySince: undefined, cursor: undefined };
    if (await deps.store.setWatch(job.jobId, expect, idle, { idle: true })) return 'idle';
    // A server was accepted since the job was read (or another delivery took this tick): read again.
    job = await deps.store.getJob(msg.jobId);
    if (!job || job.finalStatus || job.watch?.gen !== expect.gen || job.watch.tick !== expect.tick) return 'dropped';
    inFlight = job.counts.ACCEPTED + job.counts.REBUILDING;
  }

  const pace = paceSeconds(s, state, inFlight, now);
  // The next look is sent before this one is claimed: a crash between the two leaves a spare
  // message (dropped at its claim), never none.
  await deps.queue.schedule(watchMessage(job, msg.gen, msg.tick + 1, msg.secrets), pace);
  const busySince = state.busySince ?? iso(now);
  const claimed: WatchState = { ...state, tick: state.tick + 1, nextLookAt: iso(plus(now, pace)), busySince };
  if (!(await deps.store.setWatch(job.jobId, expect, claimed))) return 'dropped';
  const next = { gen: claimed.gen, tick: claimed.tick };

  // The first list of a busy spell: from its start, less the clock-skew allowance and the margin
  // (Nova's times are whole seconds: a change in the same second as the start is not missed).
  const since = state.cursor ?? novaTime(plus(new Date(busySince), -deps.settings.clockSkewSeconds - s.cursorMarginSeconds));
  const listedAt = now.getTime();
  let answer;
  try {
    answer = await deps.compute.listServers(target, { changesSince: since, maxPages: MAX_WATCH_PAGES });
  } catch (err) {
    if (!(err instanceof ComputeTransportError || err instanceof ComputeAuthError)) throw err;
    deps.metrics?.record('WatchUnanswered', 1, 'Count', err.name);
    return 'unanswered';
  }
  if (!answer.ok) {
    if (refusesLists(answer.status, answer.unsent)) {
      // A policy that forbids lists will not change within the job: servers are followed one by one.
      deps.logger.warn('the cloud refuses server lists: servers are followed one at a time', { jobId: job.jobId, status: answer.status, fault: answer.faultName });
      await deps.store.setWatch(job.jobId, next, { ...claimed, mode: 'per-server', nextLookAt: undefined, lists: claimed.lists + 1 });
      return 'per-server';
    }
    deps.metrics?.record('WatchUnanswered', 1, 'Count', String(answer.status));
    await deps.store.setWatch(job.jobId, next, { ...claimed, lists: claimed.lists + 1 });
    return 'unanswered';
  }
  const { servers, pages, complete } = answer.body;
  deps.metrics?.record('WatchLists', pages, 'Count');
  const durations = await endSettled(deps, job, servers, listedAt, msg.secrets);

  let cursor = state.cursor ?? since;
  const newest = servers.map((v) => (v.updated ? Date.parse(v.updated) : NaN)).filter((t) => !Number.isNaN(t));
  // An incomplete list (pages ran out) may have missed servers changed after `since`: the cursor stays.
  if (complete && newest.length > 0) {
    const candidate = new Date(Math.max(...newest) - s.cursorMarginSeconds * 1000);
    if (candidate.getTime() > Date.parse(cursor)) cursor = novaTime(candidate);
  }
  await deps.store.setWatch(job.jobId, next, {
    ...claimed,
    cursor,
    lists: claimed.lists + pages,
    durations: [...claimed.durations, ...durations].slice(-DURATION_SAMPLES),
  });
  return 'looked';
}

/** A list refused for good: forbidden or not found (a policy, an endpoint without it), or a request Nova calls wrong. */
function refusesLists(status: number, unsent: boolean | undefined): boolean {
  return !unsent && (status === 400 || status === 403 || status === 404 || status === 405);
}

/** Nova's date-time, whole seconds, as its lists take and give it. */
function novaTime(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

/**
 * Ends the job's accepted servers the list shows settled. Returns the durations seen (seconds from
 * our record of the 202 to this list). A server someone else moved meanwhile is read again.
 */
async function endSettled(deps: WatchDeps, job: JobRecord, servers: ServerView[], listedAt: number, secrets: WatchMessage['secrets']): Promise<number[]> {
  const settled = new Map<string, ServerView>();
  const probe = new CloudText(new SecretScrubber([]));
  for (const v of servers) {
    const id = canonicalUuid(v.id);
    // Only whether it ended matters here; the text is cleaned per server below.
    if (id && serverOutcome(v, '', probe)) settled.set(id, v);
  }
  if (settled.size === 0) return [];
  const durations: number[] = [];
  let ids = [...settled.keys()];
  let current = job;
  for (let round = 0; round < END_ROUNDS && ids.length > 0; round++) {
    const records = await deps.store.getServers(job.jobId, ids);
    const items: { from: ServerRecord; change: { status: ServerEnd['status']; novaState: string; faultName?: string; faultMessage?: string; lastHttpStatus?: number } }[] = [];
    for (const rec of records) {
      if (rec.status !== 'ACCEPTED' && rec.status !== 'REBUILDING') continue;
      // A view the list took before this server's 202 was recorded may show it before the rebuild began.
      if (!rec.acceptedAt || Date.parse(rec.acceptedAt) + ACCEPTED_CLOCK_MARGIN_MS >= listedAt) continue;
      // Held (model.ts): the end shown may be someone else's rebuild while ours is still held by the
      // cloud. The server's follow message looks at it once the hold is over.
      if (rec.holdUntil && Date.parse(rec.holdUntil) > listedAt) continue;
      const end = serverOutcome(settled.get(rec.serverId) as ServerView, rec.imageId, textFor(job, rec, secrets));
      if (!end) continue;
      items.push({
        from: rec,
        change: {
          status: end.status,
          novaState: end.novaState,
          ...(end.fault ? { faultName: end.fault.name, faultMessage: end.fault.message } : {}),
          ...(end.fault?.status !== undefined ? { lastHttpStatus: end.fault.status } : {}),
        },
      });
    }
    if (items.length === 0) break;
    const out = await deps.life.moveMany(current, items);
    current = out.job;
    for (const to of out.moved) {
      const rec = items.find((i) => i.from.serverId === to.serverId)?.from;
      if (rec?.acceptedAt) durations.push(Math.max(0, (listedAt - Date.parse(rec.acceptedAt)) / 1000));
      deps.logger.info(`server ${to.status.toLowerCase()}`, { jobId: to.jobId, serverId: to.serverId, by: 'watcher', ...(to.faultName ? { fault: to.faultName } : {}) });
    }
    deps.metrics?.record('WatcherEnded', out.moved.length, 'Count');
    ids = out.skipped.map((r) => r.serverId);
  }
  return durations;
}

/** What the preflight keeps of a server's view. */
export function preflightEntry(v: ServerView): PreflightEntry {
  return {
    status: v.status,
    taskState: v['OS-EXT-STS:task_state'] ?? null,
    ...(v.updated ? { updated: v.updated } : {}),
    ...(typeof v.image === 'object' && v.image?.id ? { imageId: v.image.id } : {}),
    ...(typeof v.locked === 'boolean' ? { locked: v.locked } : {}),
    ...(v.flavor && (v.flavor.disk !== undefined || v.flavor.ram !== undefined) ? { flavor: { ...(v.flavor.disk !== undefined ? { disk: v.flavor.disk } : {}), ...(v.flavor.ram !== undefined ? { ram: v.flavor.ram } : {}) } } : {}),
  };
}

/**
 * The preflight, the watcher's first message of every job. A large job or a plan lists the project:
 * one paged list (at most one page per PREFLIGHT_SERVERS_PER_PAGE of the job's servers; a plan's
 * reads the whole project), and what it showed of each of the job's servers written in chunks. A
 * server not found checks itself (a GET: another project's server, one that does not exist); a list
 * that fails, or a small job's, leaves every server to check itself. The job's records read here
 * are handed to the plan (worker/plan.ts), which checks their images in Glance.
 */
async function preflight(deps: WatchDeps, job: JobRecord, state: WatchState, target: ComputeTarget): Promise<{ state: WatchState; listed: Listed; records?: ServerRecord[] }> {
  if (!preflightLists(job)) {
    return { state: { ...state, preflight: 'none' }, listed: { ok: false, why: `a job of fewer than ${PREFLIGHT_MIN_SERVERS} servers looks each one up when it is sent` } };
  }
  let answer;
  // A plan reads the whole project: a server it does not see is planned to fail "not found".
  const maxPages = job.awaiting ? PLAN_MAX_PAGES : Math.max(1, Math.ceil(job.total / PREFLIGHT_SERVERS_PER_PAGE));
  try {
    answer = await deps.compute.listServers(target, { maxPages });
  } catch (err) {
    if (!(err instanceof ComputeTransportError || err instanceof ComputeAuthError)) throw err;
    return { state: { ...state, preflight: 'none' }, listed: { ok: false, why: `no answer: ${err.name}` } };
  }
  if (!answer.ok) {
    return {
      state: { ...state, preflight: 'none', lists: state.lists + 1, ...(refusesLists(answer.status, answer.unsent) ? { mode: 'per-server' as const } : {}) },
      listed: { ok: false, why: `the cloud answered ${answer.status}${answer.faultName ? ` ${answer.faultName}` : ''}` },
    };
  }
  if (!answer.body.complete && job.awaiting) {
    return { state: { ...state, preflight: 'none', lists: state.lists + answer.body.pages }, listed: { ok: false, why: `the project has more than ${PLAN_MAX_PAGES} pages of servers` } };
  }
  const seen = new Map<string, ServerView>();
  for (const v of answer.body.servers) {
    const id = canonicalUuid(v.id);
    if (id && v.tenant_id === job.tenantId) seen.set(id, v);
  }
  const chunks = new Map<number, Record<string, PreflightEntry>>();
  const records: ServerRecord[] = [];
  let marker: string | undefined;
  do {
    const page = await deps.store.listServers(job.jobId, { limit: 1000, ...(marker ? { marker } : {}) });
    records.push(...page.items);
    for (const rec of page.items) {
      const v = seen.get(rec.serverId);
      const chunk = preflightChunk(rec.index);
      const entries = chunks.get(chunk) ?? {};
      chunks.set(chunk, entries);
      if (!v) continue;
      entries[rec.serverId] = preflightEntry(v);
    }
    marker = page.nextMarker;
  } while (marker);
  for (const [chunk, entries] of chunks) await deps.store.putPreflight(job.jobId, chunk, entries, job.expiresAt);
  deps.logger.info('preflight', { jobId: job.jobId, found: [...chunks.values()].reduce((n, e) => n + Object.keys(e).length, 0), of: job.total, pages: answer.body.pages, chunkSize: PREFLIGHT_CHUNK });
  return { state: { ...state, preflight: 'done', lists: state.lists + answer.body.pages }, listed: { ok: true }, records };
}
