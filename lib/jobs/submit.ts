/**
 * Submitting a job, in an order that never leaves half a job behind: the server records
 * (invisible without their job) and the servers' locks (a server in another live job of the
 * project refuses the submission), side by side; then the job with its idempotency claim in one
 * write; then the messages. A failure before the job is written leaves nothing anyone sees; a failure after it is
 * written down on the job, and its servers end.
 */
import { createHash, randomUUID } from 'node:crypto';
import { ConflictError, IdempotencyClaimedError, QueueUnavailableError, ServiceUnavailableError } from '../errors.js';
import type { JobRequest } from '../request/job-request.js';
import { redactRebuild } from '../request/secrets.js';
import type { Caller } from './grants.js';
import type { ServerLife } from './lifecycle.js';
import { lockServers, releaseServers } from './locks.js';
import { MESSAGE_VERSION, type RebuildMessage } from './message.js';
import { type JobRecord, PLAN_TTL_SECONDS, type ServerRecord, SUBMIT_WINDOW_SECONDS, type WatchState, zeroCounts } from './model.js';
import { type IdempotencyRecord, type JobStore, MAX_MOVES_PER_WRITE, type RebuildQueue, type ServerLock } from './ports.js';
import { newWatchState, secretsOf, watchMessage } from './watching.js';
import { firstWave } from './rollout.js';

export interface SubmitDeps {
  store: JobStore;
  queue: RebuildQueue;
  life: ServerLife;
  now: () => Date;
  newId?: () => string;
  retentionDays: number;
}

export interface SubmitInput {
  caller: Caller;
  kind: JobRecord['kind'];
  request: JobRequest;
  idempotencyKey?: string;
}

/** How long an Idempotency-Key holds (the contract: 24 h). */
export const IDEMPOTENCY_SECONDS = 24 * 3600;
/** Idempotency keys are the caller's free text; this bounds what we hash and store about them. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
/**
 * How long the submit path spends ending servers whose message could not be sent, so the job shows
 * them FAILED at once: 10 s stays well inside API Gateway's 30 s; the sweeper ends any left over.
 */
const NOT_QUEUED_BUDGET_MS = 10_000;
/** How many of the servers held by other jobs a 409 names (the rest are counted). */
const LISTED_CONFLICTS = 20;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** JSON with sorted keys, so equal requests hash equally whatever their key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The request's fingerprint for idempotency. It is taken over the redacted request, so no hash
 * of a password is ever stored; two requests that differ only in a secret count as the same.
 */
export function requestFingerprint(kind: string, request: JobRequest): string {
  return sha256(
    canonicalJson({
      kind,
      options: request.options,
      servers: request.servers.map((s) => ({ id: s.id, rebuild: redactRebuild(s.rebuild) })),
      ...(request.select ? { select: request.select, rebuild: redactRebuild(request.shared) } : {}),
    }),
  );
}

function idempotencyScope(caller: Caller, key: string): string {
  return sha256(`${caller.tenantId}\u0000${caller.principalKey}\u0000${key}`);
}

async function existingJob(deps: SubmitDeps, claim: IdempotencyRecord, fingerprint: string): Promise<JobRecord | undefined> {
  if (claim.fingerprint !== fingerprint) {
    throw new ConflictError(
      `Idempotency-Key was already used within 24 hours for a different request (job ${claim.jobId}). Use a new key for a new request.`,
    );
  }
  return deps.store.getJob(claim.jobId);
}

/** The 409 for servers other live jobs hold. */
function heldElsewhere(conflicts: ServerLock[]): ConflictError {
  const jobs = [...new Set(conflicts.map((c) => c.jobId))];
  const listed = conflicts.slice(0, LISTED_CONFLICTS).map((c) => `${c.serverId} (job ${c.jobId})`);
  const more = conflicts.length - listed.length;
  const err = new ConflictError(
    `${conflicts.length} of the servers ${conflicts.length === 1 ? 'is' : 'are'} being rebuilt by another live job of this project, and a server is rebuilt by one job at a time: ${listed.join(', ')}${more > 0 ? ` and ${more} more` : ''}. Wait for ${jobs.length === 1 ? 'that job' : 'those jobs'} to end, cancel ${jobs.length === 1 ? 'it' : 'them'}, or leave these servers out.`,
  );
  err.extra.conflicts = conflicts.slice(0, LISTED_CONFLICTS).map((c) => ({ serverId: c.serverId, jobId: c.jobId }));
  if (more > 0) err.extra.conflictCount = conflicts.length;
  return err;
}

/** Submits a validated job; returns it and whether it was created now (false: an idempotent replay). */
export async function submitJob(deps: SubmitDeps, input: SubmitInput): Promise<{ job: JobRecord; created: boolean }> {
  const { caller, request } = input;
  const now = deps.now();
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const fingerprint = requestFingerprint(input.kind, request);

  let claim: IdempotencyRecord | undefined;
  if (input.idempotencyKey !== undefined) {
    const scope = idempotencyScope(caller, input.idempotencyKey);
    const found = await deps.store.getIdempotency(scope);
    if (found && found.expiresAt > nowSeconds) {
      const job = await existingJob(deps, found, fingerprint);
      if (job) return { job, created: false };
    }
    claim = { scope, jobId: '', fingerprint, expiresAt: nowSeconds + IDEMPOTENCY_SECONDS };
  }

  const jobId = (deps.newId ?? randomUUID)();
  const createdAt = now.toISOString();
  const expiresAt = nowSeconds + deps.retentionDays * 86400;
  // A plan waits for its confirmation until it expires; the job's deadline is counted from the confirmation.
  const awaiting = request.options.confirm === 'manual' ? { until: new Date(now.getTime() + PLAN_TTL_SECONDS * 1000).toISOString() } : undefined;
  const deadline = awaiting?.until ?? new Date(now.getTime() + request.options.deadlineSeconds * 1000).toISOString();
  if (request.select) return submitSelection(deps, input, { jobId, createdAt, expiresAt, deadline, awaiting, claim });
  const total = request.servers.length;
  const records: ServerRecord[] = request.servers.map((s, index) => ({
    jobId,
    serverId: s.id,
    tenantId: caller.tenantId,
    index,
    status: 'QUEUED',
    imageId: s.rebuild.imageRef,
    rebuild: redactRebuild(s.overrides),
    attempts: 0,
    tries: 0,
    createdAt,
    updatedAt: createdAt,
    nextCheckAt: createdAt,
    expiresAt,
    seq: 0,
  }));
  // Records and locks side by side: neither means anything before the job exists (a lock of a job
  // not yet written counts as live only within the submit window, jobs/locks.ts).
  const serverIds = records.map((r) => r.serverId);
  const [created, locked] = await Promise.allSettled([deps.life.create(records), lockServers(deps.store, caller.tenantId, jobId, serverIds, now, expiresAt)]);
  if (created.status === 'rejected') {
    if (locked.status === 'fulfilled' && locked.value.length === 0) await releaseServers(deps.store, caller.tenantId, jobId, serverIds);
    throw created.reason;
  }
  if (locked.status === 'rejected') throw locked.reason;
  if (locked.value.length > 0) throw heldElsewhere(locked.value);

  const counts = zeroCounts();
  counts.QUEUED = total;
  const job: JobRecord = {
    jobId,
    tenantId: caller.tenantId,
    createdBy: caller.principal,
    kind: input.kind,
    createdAt,
    updatedAt: createdAt,
    total,
    counts,
    remaining: total,
    inFlight: 0,
    options: request.options,
    deadline,
    rebuild: redactRebuild(request.shared),
    submission: { state: 'IN_PROGRESS', deadline: new Date(now.getTime() + SUBMIT_WINDOW_SECONDS * 1000).toISOString() },
    expiresAt,
    watch: newWatchState(now),
    ...(awaiting ? { awaiting } : {}),
    ...(request.options.rollout ? { rollout: firstWave(request.options.rollout, total) } : {}),
    ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
  };
  try {
    await deps.store.createJob(job, claim && { ...claim, jobId });
  } catch (err) {
    await releaseServers(deps.store, caller.tenantId, jobId, serverIds);
    // Another request with the same key won the race: answer as if we had arrived second.
    if (err instanceof IdempotencyClaimedError) {
      const other = await existingJob(deps, err.existing, fingerprint);
      if (other) return { job: other, created: false };
    }
    throw err;
  }

  if (awaiting) {
    // Nothing is sent but the watcher, whose preflight builds the plan (worker/plan.ts); without
    // secrets, which stay out of the queue until the confirmation gives them again.
    try {
      await deps.queue.schedule(watchMessage(job, (job.watch as WatchState).gen, 0, undefined), 0);
    } catch (err) {
      if (!(err instanceof QueueUnavailableError)) throw err;
      return recordNotQueued(deps, job, records, err);
    }
    job.submission = { ...job.submission, state: 'COMPLETE' };
    await deps.store.setSubmission(jobId, job.submission);
    return { job, created: true };
  }

  const messages: RebuildMessage[] = request.servers.map((s) => ({
    v: MESSAGE_VERSION,
    jobId,
    tenantId: caller.tenantId,
    serverId: s.id,
    microversion: request.options.microversion,
    maxAttempts: request.options.maxAttempts,
    deadline,
    seq: 0,
    phase: 'attempt',
    rebuild: s.rebuild,
  }));
  try {
    // The watcher's first message goes first: its preflight checks the images (and looks a large
    // job's servers up) while their messages arrive (a server that finds it still running waits a
    // second for it). Without it the servers look themselves up once the preflight's wait is over,
    // and Nova judges the image: nothing is lost.
    const watch = job.watch as WatchState;
    await deps.queue.schedule(watchMessage(job, watch.gen, watch.tick, secretsOf(request.shared)), 0).catch(() => undefined);
    await deps.queue.send(messages);
  } catch (err) {
    if (!(err instanceof QueueUnavailableError)) throw err;
    return recordNotQueued(deps, job, records, err);
  }
  job.submission = { ...job.submission, state: 'COMPLETE' };
  await deps.store.setSubmission(jobId, job.submission);
  return { job, created: true };
}

/**
 * A job by selection: written with no servers yet (PLANNING), and its watcher sent, which resolves
 * the selection (worker/select.ts) and then sends the servers as a submission would. The watcher's
 * message carries the shared request's secrets for that, unless the job waits for a confirmation
 * (which gives them again).
 */
async function submitSelection(
  deps: SubmitDeps,
  input: SubmitInput,
  at: { jobId: string; createdAt: string; expiresAt: number; deadline: string; awaiting: { until: string } | undefined; claim: IdempotencyRecord | undefined },
): Promise<{ job: JobRecord; created: boolean }> {
  const { caller, request } = input;
  const select = request.select as NonNullable<JobRequest['select']>;
  const job: JobRecord = {
    jobId: at.jobId,
    tenantId: caller.tenantId,
    createdBy: caller.principal,
    kind: input.kind,
    createdAt: at.createdAt,
    updatedAt: at.createdAt,
    total: 0,
    counts: zeroCounts(),
    remaining: 0,
    inFlight: 0,
    options: request.options,
    deadline: at.deadline,
    rebuild: redactRebuild(request.shared),
    // The API's part (the job and its watcher) is whole once answered; the servers' messages are the watcher's.
    submission: { state: 'COMPLETE', deadline: new Date(Date.parse(at.createdAt) + SUBMIT_WINDOW_SECONDS * 1000).toISOString() },
    expiresAt: at.expiresAt,
    watch: newWatchState(new Date(at.createdAt)),
    selection: { ...select, state: 'resolving' },
    ...(at.awaiting ? { awaiting: at.awaiting } : {}),
    ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
  };
  try {
    await deps.store.createJob(job, at.claim && { ...at.claim, jobId: at.jobId });
  } catch (err) {
    if (err instanceof IdempotencyClaimedError) {
      const other = await existingJob(deps, err.existing, requestFingerprint(input.kind, request));
      if (other) return { job: other, created: false };
    }
    throw err;
  }
  try {
    await deps.queue.schedule(watchMessage(job, (job.watch as WatchState).gen, 0, at.awaiting ? undefined : secretsOf(request.shared)), 0);
  } catch (err) {
    if (!(err instanceof QueueUnavailableError)) throw err;
    // Nothing else was written: the job ends at once, saying why.
    await deps.store.failSelection(job.jobId, 'resolving', `The queue was unavailable: the selection was never resolved. Submit it again.`, new Date().toISOString());
    const unavailable = new ServiceUnavailableError(`Rebuild job ${job.jobId} was created, but the queue failed: its selection will not be resolved. Submit it again.`, { cause: err });
    unavailable.extra.jobId = job.jobId;
    throw unavailable;
  }
  return { job, created: true };
}

/**
 * The queue failed midway: servers without a message end FAILED (`notQueued`), so the job ends
 * when the sent ones do, and the job says what happened; then 503 naming the job. A server whose
 * send was reported failed but went through has been claimed by a worker already: its move is
 * refused by the state machine and it goes on.
 */
export async function recordNotQueued(deps: Pick<SubmitDeps, 'store' | 'life'>, job: JobRecord, records: ServerRecord[], cause: QueueUnavailableError): Promise<never> {
  const unsent = records.filter((r) => !cause.sentServerIds.has(r.serverId));
  const sent = records.length - unsent.length;
  const message = `the queue failed after retries: ${sent} of ${records.length} servers were queued; the other ${unsent.length} were not and end FAILED (notQueued). Run them again once the job has ended (a redrive).`;
  try {
    let current = job;
    const until = Date.now() + NOT_QUEUED_BUDGET_MS;
    // A write of MAX_MOVES_PER_WRITE servers at a time, within the budget; the sweeper ends any left over.
    for (let i = 0; i < unsent.length && Date.now() < until; i += MAX_MOVES_PER_WRITE) {
      const chunk = unsent.slice(i, i + MAX_MOVES_PER_WRITE).map((from) => ({
        from,
        change: { status: 'FAILED' as const, faultName: 'notQueued', faultMessage: 'Not queued: the queue was unavailable when the job was submitted.' },
      }));
      current = (await deps.life.moveMany(current, chunk)).job;
    }
    await deps.store.setSubmission(job.jobId, { ...job.submission, state: 'INCOMPLETE', notQueued: unsent.length, message });
  } catch {
    // The job stays IN_PROGRESS and is reported INTERRUPTED after its window; the sweeper ends what is left.
  }
  const err = new ServiceUnavailableError(`Rebuild job ${job.jobId} was created, but ${message}`, { cause });
  err.extra.jobId = job.jobId;
  throw err;
}
