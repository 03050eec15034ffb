/**
 * Plan first, then confirm (`options.confirm: "manual"`). Such a job writes its server records and
 * takes its servers' locks as any job does, but sends nothing except its watcher, whose preflight
 * lists the project and checks the target images in Glance (worker/plan.ts). Meanwhile the job is
 * PLANNING, then AWAITING_CONFIRMATION; `GET …/plan` shows what would happen to each server.
 * `{"confirm": null}` (or `{"confirm": {"rebuild": {...}}}` with the job's secrets, which are never
 * stored) sends it, exactly as a submission would have; a plan left unconfirmed past `awaiting.until`
 * ends CANCELLED `planExpired` at the next sweep, its locks released, nothing rebuilt.
 *
 * Every other job has a plan too, built by the same preflight at its start (without the project's
 * list when it has fewer than 20 servers): `GET …/plan` shows it, and a server whose image the
 * check found unusable is failed without being sent while the check is recent (imageRefusal).
 * The rest of a plan is a forecast: a server's state is Nova's to judge when it is sent.
 *
 * What would happen follows Nova's own checks on rebuild (nova/compute/api.py): the server must be
 * ACTIVE, SHUTOFF (STOPPED) or ERROR with no task running (`check_instance_state`), and not locked
 * unless by an admin (`check_instance_lock`, 02f–02h); the image must exist, be active, and fit the
 * flavor's disk and RAM (`min_disk`, `min_ram`).
 */
import { BadRequestError, ConflictError, QueueUnavailableError } from '../errors.js';
import type { RebuildRequest } from '../request/rebuild-schema.js';
import type { Caller } from './grants.js';
import type { ServerLife } from './lifecycle.js';
import { MESSAGE_VERSION, type RebuildMessage } from './message.js';
import { type ImageCheck, type JobPlan, type JobRecord, type PreflightEntry, type ServerRecord, SUBMIT_WINDOW_SECONDS } from './model.js';
import type { JobStore, RebuildQueue } from './ports.js';
import { sharedRequest } from './redrive.js';
import { recordNotQueued } from './submit.js';
import { jobLocation, loadJob, pageLinks, parseLimit } from './views.js';
import { preflightChunk } from './watching.js';
import { SECRET_FIELDS } from '../request/secrets.js';

/** What would happen to a server if the plan were confirmed now. */
export type PlannedAction = 'rebuild' | 'wait' | 'fail' | 'unknown';

export interface PlannedServer {
  action: PlannedAction;
  /** Why, when not a plain rebuild. */
  reason?: string;
}

/** Nova statuses whose rebuild is refused until someone else acts (unpause, resume, unshelve, unrescue, confirm a resize). */
const REFUSED: Record<string, string> = {
  PAUSED: 'paused: Nova refuses to rebuild it (409) until it is unpaused',
  SUSPENDED: 'suspended: Nova refuses to rebuild it (409) until it is resumed',
  SHELVED: 'shelved: Nova refuses to rebuild it (409) until it is unshelved',
  SHELVED_OFFLOADED: 'shelved: Nova refuses to rebuild it (409) until it is unshelved',
  RESCUE: 'in rescue: Nova refuses to rebuild it (409) until it is unrescued',
  VERIFY_RESIZE: 'a resize awaits confirmation: Nova refuses to rebuild it (409) until it is confirmed or reverted',
  DELETED: 'deleted',
  SOFT_DELETED: 'deleted (soft): Nova refuses to rebuild it until it is restored',
};
/** Statuses Nova rebuilds from (vm_state active, stopped, error). */
const REBUILDABLE = ['ACTIVE', 'SHUTOFF', 'ERROR'];

/**
 * A server in ERROR is not rebuilt by a bulk job on its first run, though Nova would rebuild it:
 * what put it there (a failed migration, a lost volume) is for someone to look at before its disk
 * is wiped, and an ERROR the rebuild ends in could not be told from the one it began in. A redrive
 * of the job's FAILED servers rebuilds it — that is how one asks for it — and so does the single
 * call, which answers as Nova does.
 */
export function errorRefusal(job: Pick<JobRecord, 'kind'>, rec: Pick<ServerRecord, 'runs'>, status: string | undefined): string | undefined {
  // Only a redrive of a run that ended FAILED (as this refusal ends one) rebuilds it: a redrive of
  // the CANCELLED servers is not a look at what broke this one.
  if (status !== 'ERROR' || job.kind !== 'bulk' || rec.runs?.some((run) => run.status === 'FAILED')) return undefined;
  return 'in ERROR: a bulk job does not rebuild it on its first run; see why it failed, then redrive the FAILED servers to rebuild it';
}

/** What would happen to one server: from the preflight's entry and the check of its target image. */
export function planServer(plan: JobPlan, entry: PreflightEntry | undefined, rec: Pick<ServerRecord, 'imageId' | 'runs'>, job: Pick<JobRecord, 'kind'>): PlannedServer {
  // An image Glance does not have, or not active, fails whatever the server: known without the list.
  const image = imageProblem(plan.images[rec.imageId], entry?.flavor);
  if (image) return { action: 'fail', reason: image };
  if (!plan.listed) return { action: 'unknown', reason: `the project's servers were not listed (${plan.unlisted ?? 'no answer'}): the server is checked when it is sent` };
  if (!entry) return { action: 'fail', reason: 'not found in the project: it does not exist, or belongs to another project' };
  const refused = REFUSED[entry.status];
  if (refused) return { action: 'fail', reason: refused };
  if (entry.locked) return { action: 'fail', reason: 'locked: Nova refuses to rebuild it (409) for anyone but an admin' };
  const inError = errorRefusal(job, rec, entry.status);
  if (inError) return { action: 'fail', reason: inError };
  if (entry.taskState) return { action: 'wait', reason: `busy (task ${entry.taskState}): it is rebuilt once the task ends` };
  if (!REBUILDABLE.includes(entry.status)) return { action: 'wait', reason: `${entry.status}: it is rebuilt once it is ACTIVE, SHUTOFF or ERROR` };
  if (entry.status === 'ERROR') return { action: 'rebuild', reason: 'in ERROR: Nova rebuilds a server in ERROR, as asked here (a redrive, or the single call)' };
  if (entry.imageId === rec.imageId) return { action: 'rebuild', reason: 'already on this image: its disk is written again' };
  return { action: 'rebuild' };
}

/**
 * Why the target image cannot be used for a server of this flavor, if it cannot (the flavor's disk
 * and RAM, where the server's view showed them): what Nova's rebuild would refuse with a 400.
 */
export function imageProblem(image: ImageCheck | undefined, flavor: PreflightEntry['flavor']): string | undefined {
  if (!image || image.unchecked) return undefined;
  if (!image.found) return 'the image is not in Glance (404): Nova would refuse the rebuild (400)';
  if (image.status !== 'active') return `the image is ${image.status ?? 'not active'}, not active: Nova would refuse the rebuild (400)`;
  // A flavor's disk of 0 boots from a volume: Nova does not hold min_disk against it.
  const disk = flavor?.disk;
  if (disk !== undefined && disk > 0 && (image.minDisk ?? 0) > disk) return `the image needs a ${image.minDisk} GB disk; the flavor has ${disk} GB (Nova answers 400 FlavorDiskSmallerThanMinDisk)`;
  const ram = flavor?.ram;
  if (ram !== undefined && (image.minRam ?? 0) > ram) return `the image needs ${image.minRam} MB of RAM; the flavor has ${ram} MB (Nova answers 400 FlavorMemoryTooSmall)`;
  return undefined;
}

/**
 * How long after the plan's Glance check a server is failed by it without being sent. An image's
 * status, min_disk and min_ram change only by its owner's hand (an upload finished, an image
 * reactivated), so within five minutes — a job's first waves — the check stands, and saves the
 * doomed rebuild calls; later, Nova's own answer is as quick (a 400) and current, so it decides.
 * A server run again by a redrive is always sent: its operator may have mended the image.
 */
export const IMAGE_CHECK_STANDS_SECONDS = 300;

/**
 * Whether what the job's preflight listed of its servers is recent enough to act on without a look
 * of the server's own: for as long as its image check stands. After that (a plan confirmed hours
 * later, a rollout's late waves) a server's state may have changed, and one GET says how it is now.
 */
export function preflightStands(job: Pick<JobRecord, 'plan'>, now: Date): boolean {
  return job.plan !== undefined && now.getTime() - Date.parse(job.plan.builtAt) <= IMAGE_CHECK_STANDS_SECONDS * 1000;
}

/** Why a server is not sent, if its job's image check (recent, on its first run) found the image unusable. */
export function imageRefusal(job: Pick<JobRecord, 'plan'>, rec: Pick<ServerRecord, 'imageId' | 'runs'>, flavor: PreflightEntry['flavor'], now: Date): string | undefined {
  const plan = job.plan;
  if (!plan || rec.runs?.length || !preflightStands(job, now)) return undefined;
  const problem = imageProblem(plan.images[rec.imageId], flavor);
  return problem && `Not sent: the job's check of its image in Glance found it unusable: ${problem}.`;
}

/** The plan's page of servers, as `GET …/rebuild-jobs/{id}/plan` answers it. */
export async function planView(
  store: JobStore,
  caller: Caller,
  jobId: string,
  query: { limit?: string; marker?: string },
  baseUrl: string,
): Promise<{ plan: Record<string, unknown>; servers_links: unknown[] }> {
  const job = await loadJob(store, caller, jobId);
  if (!job.plan) {
    // Every job's preflight builds one; a job whose preflight gave up (its message lost) has none.
    throw new ConflictError(
      job.watch?.preflight === 'pending' && !job.finalStatus
        ? `The plan of rebuild job ${jobId} is still being built: ask again in a few seconds.`
        : `Rebuild job ${jobId} has no plan: its preflight did not build one, and its servers were checked as they were sent.`,
    );
  }
  const plan = job.plan;
  const limit = parseLimit(query.limit);
  const page = await store.listServers(job.jobId, { limit, ...(query.marker ? { marker: query.marker } : {}) });
  const chunks = new Map<number, Record<string, PreflightEntry> | undefined>();
  for (const chunk of new Set(page.items.map((r) => preflightChunk(r.index)))) chunks.set(chunk, await store.getPreflight(job.jobId, chunk));
  const servers = page.items.map((rec) => {
    const entry = chunks.get(preflightChunk(rec.index))?.[rec.serverId];
    const planned = planServer(plan, entry, rec, job);
    return {
      id: rec.serverId,
      index: rec.index,
      ...planned,
      found: entry !== undefined,
      ...(entry ? { status: entry.status, taskState: entry.taskState, ...(entry.imageId ? { imageId: entry.imageId } : {}), ...(entry.locked !== undefined ? { locked: entry.locked } : {}) } : {}),
      targetImageId: rec.imageId,
    };
  });
  return {
    plan: {
      jobId: job.jobId,
      builtAt: plan.builtAt,
      ...(job.awaiting ? { expiresAt: job.awaiting.until } : {}),
      listed: plan.listed,
      ...(plan.unlisted ? { unlisted: plan.unlisted } : {}),
      // In one order, whatever order the store kept the map's keys in.
      summary: { rebuild: plan.summary.rebuild, wait: plan.summary.wait, fail: plan.summary.fail, unknown: plan.summary.unknown },
      images: Object.entries(plan.images).map(([id, check]) => ({ id, ...check })),
      servers,
    },
    servers_links: pageLinks(`${jobLocation(baseUrl, job)}/plan`, { ...query, limit: String(limit) }, page),
  };
}

/** Reads `{"confirm": null}` or `{"confirm": {"rebuild": {...secrets}}}`. */
export function parseConfirm(value: unknown): Partial<RebuildRequest> {
  if (value === null) return {};
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new BadRequestError('Invalid input for field/attribute confirm. Send {"confirm": null}, or {"confirm": {"rebuild": {...}}} with the job\'s secret fields');
  }
  const { rebuild, ...other } = value as Record<string, unknown>;
  const [unknown] = Object.keys(other);
  if (unknown !== undefined) throw new BadRequestError(`Invalid input for field/attribute confirm. Additional properties are not allowed ('${unknown.slice(0, 64)}' was unexpected)`);
  if (!rebuild || typeof rebuild !== 'object' || Array.isArray(rebuild)) {
    throw new BadRequestError("Invalid input for field/attribute confirm/rebuild. It must be an object of the request's secret fields");
  }
  const notSecret = Object.keys(rebuild).find((k) => !(SECRET_FIELDS as readonly string[]).includes(k));
  if (notSecret !== undefined) {
    throw new BadRequestError(`Invalid input for field/attribute confirm/rebuild/${notSecret.slice(0, 64)}. A confirmation sends the planned request; only its secret fields (${SECRET_FIELDS.join(', ')}) are given again`);
  }
  return rebuild as Partial<RebuildRequest>;
}

export interface ConfirmDeps {
  store: JobStore;
  queue: RebuildQueue;
  life: ServerLife;
  now: () => Date;
}

/** Servers read per page while sending a confirmed plan. */
const PAGE = 1000;

/**
 * Confirms a built plan and sends its servers, as a submission would have: one message per server
 * at its record's `seq`. The confirmation is one conditional write, so two confirmations (or one
 * racing the plan's expiry or a cancel) send the servers once at most; the job's deadline counts
 * from it.
 */
export async function confirmJob(deps: ConfirmDeps, caller: Caller, jobId: string, secrets: Partial<RebuildRequest>): Promise<JobRecord> {
  const job = await loadJob(deps.store, caller, jobId);
  if (!job.awaiting || job.stop || job.finalStatus) throw new ConflictError(`Rebuild job ${jobId} is not awaiting confirmation.`);
  if (!job.plan) throw new ConflictError(`The plan of rebuild job ${jobId} is still being built: confirm it once the job is AWAITING_CONFIRMATION.`);
  const shared = sharedRequest(job, secrets, 'confirm');
  const now = deps.now();
  const deadline = new Date(now.getTime() + job.options.deadlineSeconds * 1000).toISOString();
  const submission = { state: 'IN_PROGRESS' as const, deadline: new Date(now.getTime() + SUBMIT_WINDOW_SECONDS * 1000).toISOString() };
  if (!(await deps.store.confirmPlan(job.jobId, now.toISOString(), deadline, submission))) {
    throw new ConflictError(`Rebuild job ${jobId} was confirmed, cancelled or expired meanwhile.`);
  }
  const confirmed: JobRecord = { ...job, deadline, submission, confirmedAt: now.toISOString() };
  delete confirmed.awaiting;
  const records: ServerRecord[] = [];
  let marker: string | undefined;
  do {
    const page = await deps.store.listServers(job.jobId, { limit: PAGE, status: 'QUEUED', ...(marker ? { marker } : {}) });
    records.push(...page.items);
    marker = page.nextMarker;
  } while (marker);
  const messages: RebuildMessage[] = records.map((r) => ({
    v: MESSAGE_VERSION,
    jobId: job.jobId,
    tenantId: job.tenantId,
    serverId: r.serverId,
    microversion: job.options.microversion,
    maxAttempts: job.options.maxAttempts,
    deadline,
    seq: r.seq,
    phase: 'attempt',
    rebuild: { ...shared, ...r.rebuild } as RebuildRequest,
  }));
  try {
    await deps.queue.send(messages);
  } catch (err) {
    if (!(err instanceof QueueUnavailableError)) throw err;
    return recordNotQueued({ store: deps.store, life: deps.life }, confirmed, records, err);
  }
  await deps.store.setSubmission(job.jobId, { ...submission, state: 'COMPLETE' });
  return (await deps.store.getJob(job.jobId)) ?? confirmed;
}
