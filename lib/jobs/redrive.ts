/**
 * Redrive: an ended job's FAILED or CANCELLED servers run again under the same job, with a fresh
 * attempt budget and deadline, each keeping the history of its runs — through the server's life
 * (`ServerLife.redrive`), so every guarantee of a first run holds: one message per server at a new
 * `seq` (a late delivery of an earlier run's message finds another value and is dropped), the
 * server's lock taken again (a server now in another live job refuses the redrive with a 409 naming
 * it), the job's end written once more when its last server ends.
 *
 * Secrets are never stored, so a job whose request had any (adminPass, personality, user_data)
 * needs them again: `{"redrive": {"status": [...], "rebuild": {"adminPass": "…"}}}` carries the
 * shared request's secret fields, and only those. A server whose own request carried secrets of its
 * own cannot be run again this way: submit it in a new job.
 */
import { BadRequestError, ConflictError } from '../errors.js';
import { fieldErrorsFromZod } from '../request/field-errors.js';
import { parseMicroversion } from '../request/microversion.js';
import { type RebuildRequest, rebuildSchemaFor } from '../request/rebuild-schema.js';
import { SECRET_FIELDS } from '../request/secrets.js';
import type { Caller } from './grants.js';
import type { ServerLife } from './lifecycle.js';
import { lockServers } from './locks.js';
import { MESSAGE_VERSION, type RebuildMessage } from './message.js';
import type { JobRecord, ServerRecord } from './model.js';
import { QueueUnavailableError } from '../errors.js';
import type { JobStore, RebuildQueue } from './ports.js';
import { recordNotQueued } from './submit.js';
import { loadJob } from './views.js';

/** The statuses a redrive may run again. */
export const REDRIVABLE = ['FAILED', 'CANCELLED'] as const;
type Redrivable = (typeof REDRIVABLE)[number];
/** Servers read per page while gathering those to run again. */
const PAGE = 1000;
/** How many of the servers that cannot be run again a 400 names (the rest are counted). */
const LISTED = 20;

export interface RedriveRequest {
  statuses: Redrivable[];
  /** The shared request's secret fields, resupplied. */
  secrets: Partial<RebuildRequest>;
}

/** Reads `{"redrive": {"status": [...], "rebuild": {...}}}`'s value. */
export function parseRedrive(value: unknown): RedriveRequest {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new BadRequestError('Invalid input for field/attribute redrive. Send {"redrive": {"status": ["FAILED"]}}');
  }
  const { status, rebuild, ...other } = value as Record<string, unknown>;
  const [unknown] = Object.keys(other);
  if (unknown !== undefined) throw new BadRequestError(`Invalid input for field/attribute redrive. Additional properties are not allowed ('${unknown.slice(0, 64)}' was unexpected)`);
  if (!Array.isArray(status) || status.length === 0 || !status.every((s) => (REDRIVABLE as readonly unknown[]).includes(s))) {
    throw new BadRequestError(`Invalid input for field/attribute redrive/status. It must be a non-empty list of ${REDRIVABLE.join(', ')}`);
  }
  if (rebuild !== undefined && (!rebuild || typeof rebuild !== 'object' || Array.isArray(rebuild))) {
    throw new BadRequestError('Invalid input for field/attribute redrive/rebuild. It must be an object of the request\'s secret fields');
  }
  const secrets = (rebuild ?? {}) as Record<string, unknown>;
  const notSecret = Object.keys(secrets).find((k) => !(SECRET_FIELDS as readonly string[]).includes(k));
  if (notSecret !== undefined) {
    throw new BadRequestError(`Invalid input for field/attribute redrive/rebuild/${notSecret.slice(0, 64)}. A redrive runs the job's own request again; only its secret fields (${SECRET_FIELDS.join(', ')}) are given again`);
  }
  return { statuses: [...new Set(status as Redrivable[])], secrets: secrets as Partial<RebuildRequest> };
}

export interface RedriveDeps {
  store: JobStore;
  queue: RebuildQueue;
  life: ServerLife;
  now: () => Date;
}

const hasSecret = (body: Record<string, unknown>) => SECRET_FIELDS.some((f) => body[f] !== undefined);

/** The shared request with its secrets resupplied (in `{"<action>": {"rebuild": {...}}}`), checked against the job's microversion. */
export function sharedRequest(job: JobRecord, secrets: Partial<RebuildRequest>, action: 'redrive' | 'confirm' = 'redrive'): Record<string, unknown> {
  const stored = job.rebuild;
  const needed = SECRET_FIELDS.filter((f) => stored[f] !== undefined);
  const missing = needed.find((f) => secrets[f] === undefined);
  if (missing) {
    throw new BadRequestError(`Invalid input for field/attribute ${action}/rebuild/${missing}. The job's request had ${needed.join(', ')}, which is never stored: give ${needed.length === 1 ? 'it' : 'them'} again`);
  }
  const extra = (Object.keys(secrets) as (keyof RebuildRequest)[]).find((f) => stored[f] === undefined);
  if (extra) throw new BadRequestError(`Invalid input for field/attribute ${action}/rebuild/${extra}. The job's request had no ${extra}`);
  const body = { ...stored, ...secrets };
  const checked = rebuildSchemaFor(parseMicroversion(job.options.microversion)).full.safeParse(body);
  if (!checked.success) {
    const [first] = fieldErrorsFromZod(checked.error, body, [action, 'rebuild']);
    throw new BadRequestError(first?.message ?? `Invalid input for field/attribute ${action}/rebuild`);
  }
  return body;
}

/** Runs an ended job's servers of the given statuses again; returns the job as it stands afterwards. */
export async function redriveJob(deps: RedriveDeps, caller: Caller, jobId: string, request: RedriveRequest): Promise<JobRecord> {
  const job = await loadJob(deps.store, caller, jobId);
  if (!job.finalStatus) throw new ConflictError(`Rebuild job ${jobId} has not ended: wait for it to end (or cancel it) before running its servers again.`);
  const shared = sharedRequest(job, request.secrets);

  const records: ServerRecord[] = [];
  for (const status of request.statuses) {
    let marker: string | undefined;
    do {
      const page = await deps.store.listServers(job.jobId, { limit: PAGE, status, ...(marker ? { marker } : {}) });
      records.push(...page.items);
      marker = page.nextMarker;
    } while (marker);
  }
  if (records.length === 0) throw new ConflictError(`Rebuild job ${jobId} has no ${request.statuses.join(' or ')} servers to run again.`);
  const ownSecrets = records.filter((r) => hasSecret(r.rebuild));
  if (ownSecrets.length > 0) {
    const named = ownSecrets.slice(0, LISTED).map((r) => r.serverId);
    throw new BadRequestError(
      `${ownSecrets.length} of these servers had secrets of their own in the request (${named.join(', ')}${ownSecrets.length > LISTED ? ` and ${ownSecrets.length - LISTED} more` : ''}), which are never stored: submit them in a new job.`,
    );
  }

  const now = deps.now();
  const conflicts = await lockServers(deps.store, job.tenantId, job.jobId, records.map((r) => r.serverId), now, job.expiresAt);
  if (conflicts.length > 0) {
    const named = conflicts.slice(0, LISTED).map((c) => `${c.serverId} (job ${c.jobId})`);
    throw new ConflictError(`${conflicts.length} of these servers are being rebuilt by another live job of this project: ${named.join(', ')}. Run them again once that job has ended.`);
  }
  const deadline = new Date(now.getTime() + job.options.deadlineSeconds * 1000).toISOString();
  const { moved, job: reopened } = await deps.life.redrive(job, records, deadline);

  const messages: RebuildMessage[] = moved.map((r) => ({
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
    return recordNotQueued({ store: deps.store, life: deps.life }, reopened, moved, err);
  }
  return (await deps.store.getJob(job.jobId)) ?? reopened;
}
