/**
 * Submitting a job: the idempotency check, the records, then the messages. Records are written
 * before any message is sent, so a worker never meets a server it has no record of; a failure
 * midway is written down on the job so the caller can see what happened and the job still ends.
 */
import { createHash, randomUUID } from 'node:crypto';
import { ConflictError, QueueUnavailableError, ServiceUnavailableError, StoreUnavailableError } from '../errors.js';
import type { JobRequest } from '../request/job-request.js';
import { type JobRecord, type ServerRecord, zeroCounts } from './model.js';
import { IdempotencyClaimedError, type IdempotencyRecord, type JobStore, type RebuildQueue } from './ports.js';
import { MESSAGE_VERSION, type RebuildMessage } from './message.js';
import { redactRebuild } from '../request/rebuild-schema.js';

/** Who is calling: the tenant in the path and the IAM principal API Gateway authenticated. */
export interface Caller {
  tenantId: string;
  principal: string;
}

export interface SubmitDeps {
  store: JobStore;
  queue: RebuildQueue;
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

/**
 * How long after creation an unfinished submission is reported INTERRUPTED: longer than the API
 * function can live (API Gateway ends every request at 30 s), so a live one never is.
 */
export const SUBMIT_WINDOW_SECONDS = 60;
/** How long an Idempotency-Key holds (the contract: 24 h). */
export const IDEMPOTENCY_SECONDS = 24 * 3600;
/** Idempotency keys are the caller's free text; this bounds what we hash and store about them. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

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
    }),
  );
}

function idempotencyScope(caller: Caller, key: string): string {
  return sha256(`${caller.tenantId}\u0000${caller.principal}\u0000${key}`);
}

async function existingJob(deps: SubmitDeps, claim: IdempotencyRecord, fingerprint: string): Promise<JobRecord | undefined> {
  if (claim.fingerprint !== fingerprint) {
    throw new ConflictError(
      `Idempotency-Key was already used within 24 hours for a different request (job ${claim.jobId}). Use a new key for a new request.`,
    );
  }
  return deps.store.getJob(claim.jobId);
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
  const counts = zeroCounts();
  counts.QUEUED = request.servers.length;
  const job: JobRecord = {
    jobId,
    tenantId: caller.tenantId,
    principal: caller.principal,
    kind: input.kind,
    createdAt,
    updatedAt: createdAt,
    total: request.servers.length,
    counts,
    options: request.options,
    rebuild: redactRebuild(request.shared),
    submission: { state: 'IN_PROGRESS', deadline: new Date(now.getTime() + SUBMIT_WINDOW_SECONDS * 1000).toISOString() },
    expiresAt,
    ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
  };
  try {
    await deps.store.createJob(job, claim && { ...claim, jobId });
  } catch (err) {
    // Another request with the same key won the race: answer as if we had arrived second.
    if (err instanceof IdempotencyClaimedError) {
      const other = await existingJob(deps, err.existing, fingerprint);
      if (other) return { job: other, created: false };
    }
    throw err;
  }

  const records: ServerRecord[] = request.servers.map((s, index) => ({
    jobId,
    serverId: s.id,
    index,
    status: 'QUEUED',
    imageId: s.rebuild.imageRef,
    rebuild: redactRebuild(s.overrides),
    attempts: 0,
    createdAt,
    updatedAt: createdAt,
    expiresAt,
    seq: 0,
  }));
  const deadline = new Date(now.getTime() + request.options.deadlineSeconds * 1000).toISOString();
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

  let sent: ReadonlySet<string> = new Set();
  try {
    await deps.store.putServers(records);
    await deps.queue.send(messages);
  } catch (err) {
    if (!(err instanceof StoreUnavailableError || err instanceof QueueUnavailableError)) throw err;
    if (err instanceof QueueUnavailableError) sent = err.sentServerIds;
    await recordIncomplete(deps, job, records, sent, err);
  }
  job.submission = { ...job.submission, state: 'COMPLETE' };
  await deps.store.setSubmission(jobId, job.submission);
  return { job, created: true };
}

/**
 * Writes down a submission that stopped midway: servers without a message end FAILED
 * (`notQueued`), so the job ends when the sent ones do, and the job says what happened. Then
 * answers 503 naming the job. If even this write fails, the job stays IN_PROGRESS and is
 * reported INTERRUPTED once its submission window has passed.
 */
async function recordIncomplete(
  deps: SubmitDeps,
  job: JobRecord,
  records: ServerRecord[],
  sent: ReadonlySet<string>,
  cause: Error,
): Promise<never> {
  const unsent = records.filter((r) => !sent.has(r.serverId));
  const what = cause instanceof QueueUnavailableError ? 'the queue' : 'the job store';
  const message = `${what} failed after retries: ${sent.size} of ${job.total} servers were queued; the other ${unsent.length} were not and are marked FAILED (notQueued). Submit them again as a new job.`;
  try {
    await deps.store.markNotQueued(job, unsent, 'notQueued', `Not queued: ${what} was unavailable when the job was submitted.`);
    await deps.store.setSubmission(job.jobId, { ...job.submission, state: 'INCOMPLETE', notQueued: unsent.length, message });
    // No message went out: no worker will ever stamp this job's end, so it is stamped here.
    if (sent.size === 0) await deps.store.markCompleted(job.jobId, deps.now().toISOString());
  } catch {
    // Reported as INTERRUPTED from the job record after the submission window; nothing more to do here.
  }
  const err = new ServiceUnavailableError(`Rebuild job ${job.jobId} was created, but ${message}`, { cause });
  err.extra.jobId = job.jobId;
  throw err;
}
