/**
 * Parsing a rebuild job, bulk or single, into validated per-server requests. Nothing is written
 * until this has accepted the whole request: every invalid field of every item is collected and
 * reported at once.
 */
import * as z from 'zod';
import { BadRequestError, OverLimitError, type ApiError } from '../errors.js';
import { SECRET_FIELDS } from './secrets.js';
import { type Selection, parseSelect } from './select.js';
import { errorForFields, fieldErrorsFromZod, toPointer, type FieldError } from './field-errors.js';
import { type Microversion, formatMicroversion, parseMicroversion } from './microversion.js';
import { canonicalUuid } from './nova-formats.js';
import {
  type QuotaLimits,
  type RebuildRequest,
  normaliseRebuild,
  quotaViolations,
  rebuildSchemaFor,
} from './rebuild-schema.js';

/** How a job is run by the worker. Defaults and bounds are documented in README's configuration table. */
export interface JobOptions {
  microversion: string;
  maxAttempts: number;
  deadlineSeconds: number;
  maxFailurePercentage: number;
  /** How many of the job's servers may be between claim and end at once: what the cloud can take. */
  maxInFlight: number;
  /** Start the servers in waves, in the order listed (jobs/rollout.ts). */
  rollout?: RolloutOptions;
  /** `manual`: build a plan and send nothing until a caller confirms it (jobs/plan.ts). */
  confirm?: 'manual';
}

export const ROLLOUT_PAUSES = ['afterCanary', 'betweenWaves', 'never'] as const;

/** A rollout as the job keeps it: `wavePercent` resolved to a size against the job's servers. */
export interface RolloutOptions {
  /** The first servers listed, run before any other; any failure among them stops the job. 0: none. */
  canary: number;
  /** The servers of each wave after the canary. */
  waveSize: number;
  /** Where the job holds until a caller resumes it. */
  pause: (typeof ROLLOUT_PAUSES)[number];
}

/** Limits of one submission, with the deployment's defaults for job options. */
export interface SubmitLimits {
  quotas: QuotaLimits;
  /** The newest microversion the cloud supports (`latest` means it). */
  maxMicroversion: Microversion;
  maxServersPerJob: number;
  defaults: Omit<JobOptions, 'microversion'>;
}

/** One server's validated request, ready to send to Nova. */
export interface ServerRebuild {
  id: string;
  rebuild: RebuildRequest;
}

/** A validated job request. */
export interface JobRequest {
  options: JobOptions;
  /** The shared fields as given (for the redacted record); per-server overrides below. */
  shared: Partial<RebuildRequest>;
  servers: (ServerRebuild & { overrides: Partial<RebuildRequest> })[];
  /** The servers by Nova's list filters instead (`servers` is then empty): resolved once submitted. */
  select?: Selection;
}

/**
 * Bounds of the options. maxAttempts: 1..100 — every attempt is at least one Compute API call,
 * and 100 at the backoff cap is well past any deadline. deadlineSeconds: 60 s (one backoff step)
 * to 24 h (a rebuild window is a night; messages are kept 4 days, so a deadline always expires
 * while its messages still exist).
 */
export const optionsSchema = z.strictObject({
  microversion: z.string().optional(),
  maxAttempts: z.number().int().min(1, 'is less than the minimum of 1').max(100, 'is greater than the maximum of 100').optional(),
  deadlineSeconds: z.number().int().min(60, 'is less than the minimum of 60').max(86400, 'is greater than the maximum of 86400').optional(),
  maxFailurePercentage: z.number().min(0, 'is less than the minimum of 0').max(100, 'is greater than the maximum of 100').optional(),
  maxInFlight: z.number().int().min(1, 'is less than the minimum of 1').max(1000, 'is greater than the maximum of 1000').optional(),
  rollout: z
    .strictObject({
      canary: z.number().int().min(1, 'is less than the minimum of 1').optional(),
      waveSize: z.number().int().min(1, 'is less than the minimum of 1').optional(),
      wavePercent: z.number().gt(0, 'is less than or equal to the minimum of 0').max(100, 'is greater than the maximum of 100').optional(),
      pause: z.enum(ROLLOUT_PAUSES).optional(),
    })
    .superRefine((r, ctx) => {
      if (r.waveSize !== undefined && r.wavePercent !== undefined) ctx.addIssue({ code: 'custom', path: ['wavePercent'], message: 'cannot be given with waveSize: give one of them' });
      if (r.canary === undefined && r.waveSize === undefined && r.wavePercent === undefined) ctx.addIssue({ code: 'custom', path: ['canary'], message: 'is missing: a rollout needs a canary, a waveSize or a wavePercent' });
      if (r.pause === 'afterCanary' && r.canary === undefined) ctx.addIssue({ code: 'custom', path: ['pause'], message: 'needs a canary' });
    })
    .optional(),
  confirm: z.enum(['manual', 'auto']).optional(),
});

const bulkSchema = z.strictObject({
  rebuildJob: z.strictObject({
    rebuild: z.record(z.string(), z.unknown()).optional(),
    servers: z.array(z.unknown()).min(1, 'should have at least 1 item').optional(),
    select: z.unknown().optional(),
    options: z.unknown().optional(),
  }),
});

const serverItemSchema = z.strictObject({
  id: z.string().refine((v) => canonicalUuid(v) !== undefined, { message: "is not a 'uuid'" }),
  rebuild: z.record(z.string(), z.unknown()).optional(),
});

const singleSchema = z.strictObject({ rebuild: z.record(z.string(), z.unknown()) });

function resolveMicroversion(fromBody: string | undefined, fromHeaders: Microversion | undefined, max: Microversion): Microversion {
  if (fromBody === undefined) return fromHeaders ?? { major: 2, minor: 1 };
  const body = parseMicroversion(fromBody, max);
  if (fromHeaders && fromHeaders.minor !== body.minor) {
    throw new BadRequestError(
      `options.microversion ${formatMicroversion(body)} contradicts the microversion header ${formatMicroversion(fromHeaders)}: send one, or the same in both.`,
    );
  }
  return body;
}

function validateServer(
  merged: Record<string, unknown>,
  mv: Microversion,
  quotas: QuotaLimits,
  basePath: PropertyKey[],
  item?: { index: number; serverId?: string },
): { rebuild?: RebuildRequest; errors: FieldError[] } {
  const parsed = rebuildSchemaFor(mv).full.safeParse(merged);
  if (!parsed.success) return { errors: fieldErrorsFromZod(parsed.error, merged, basePath, item) };
  const quota = quotaViolations(parsed.data, quotas).map<FieldError>((v) => ({
    pointer: toPointer([...basePath, ...v.path]),
    message: v.message,
    status: 403,
    ...item,
  }));
  return quota.length ? { errors: quota } : { rebuild: normaliseRebuild(parsed.data), errors: [] };
}

/** `total`: the job's servers, or undefined for a selection (known once it is resolved). */
function buildOptions(raw: unknown, headerMv: Microversion | undefined, limits: SubmitLimits, total: number | undefined): JobOptions {
  const parsed = optionsSchema.safeParse(raw ?? {});
  if (!parsed.success) throw errorForFields(fieldErrorsFromZod(parsed.error, raw, ['rebuildJob', 'options']));
  const mv = resolveMicroversion(parsed.data.microversion, headerMv, limits.maxMicroversion);
  const rollout = parsed.data.rollout && buildRollout(parsed.data.rollout, total);
  return {
    microversion: formatMicroversion(mv),
    maxAttempts: parsed.data.maxAttempts ?? limits.defaults.maxAttempts,
    deadlineSeconds: parsed.data.deadlineSeconds ?? limits.defaults.deadlineSeconds,
    maxFailurePercentage: parsed.data.maxFailurePercentage ?? limits.defaults.maxFailurePercentage,
    maxInFlight: parsed.data.maxInFlight ?? limits.defaults.maxInFlight,
    ...(rollout ? { rollout } : {}),
    ...(parsed.data.confirm === 'manual' ? { confirm: 'manual' as const } : {}),
  };
}

/**
 * The rollout against the job's `total` servers. A canary is some of them, never all (a job that is
 * all canary has nothing to protect). Without a wave size the rest run as one wave; a percentage is
 * of all the job's servers, rounded up. The pause defaults to `never`: a canary that fails stops
 * the job by itself, and a rollout that should wait for a person says so.
 */
function buildRollout(r: NonNullable<z.infer<typeof optionsSchema>['rollout']>, total: number | undefined): RolloutOptions {
  const canary = r.canary ?? 0;
  if (total === undefined) {
    // A selection's size is known only once it is resolved: waves by size, and a canary that
    // covers a small selection whole.
    if (r.wavePercent !== undefined) {
      throw errorForFields([{ pointer: '/rebuildJob/options/rollout/wavePercent', message: 'Invalid input for field/attribute wavePercent. A selection\'s size is known only once it is resolved: give waveSize', status: 400 }]);
    }
    return { canary, waveSize: r.waveSize ?? MAX_SELECTED_WAVE, pause: r.pause ?? 'never' };
  }
  if (canary >= total) {
    throw errorForFields([
      { pointer: '/rebuildJob/options/rollout/canary', message: `Invalid input for field/attribute canary. Value: ${canary}. ${canary} is not less than the job's ${total} servers: a canary is the first few of them`, status: 400 },
    ]);
  }
  const rest = total - canary;
  const waveSize = r.waveSize ?? (r.wavePercent !== undefined ? Math.max(1, Math.ceil((total * r.wavePercent) / 100)) : rest);
  return { canary, waveSize, pause: r.pause ?? 'never' };
}

/**
 * Refuses any object key `__proto__`: JSON.parse keeps it as a plain key, but copying it into a new
 * object (as validation does) changes the prototype instead, so the key would silently vanish —
 * a metadata item lost, or an unknown key let through. Walks iteratively: bodies may nest deeper
 * than the call stack.
 */
export function refuseProtoKeys<T>(body: T): T {
  const stack: unknown[] = [body];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
      continue;
    }
    if (Object.prototype.hasOwnProperty.call(v, '__proto__')) {
      throw new BadRequestError("Invalid input: the key '__proto__' is not accepted anywhere in a request.");
    }
    for (const item of Object.values(v)) stack.push(item);
  }
  return body;
}

/** A selection's rollout without a wave size runs everything after its canary as one wave: no job is larger. */
const MAX_SELECTED_WAVE = 10_000;

/** Parses `{"rebuildJob": {...}}`; throws an ApiError naming every invalid field. */
export function parseBulkRequest(body: unknown, headerMv: Microversion | undefined, limits: SubmitLimits): JobRequest {
  const top = bulkSchema.safeParse(body);
  if (!top.success) throw errorForFields(fieldErrorsFromZod(top.error, body, []));
  const job = top.data.rebuildJob;
  if (job.select !== undefined || job.servers === undefined) return parseSelectRequest(job, headerMv, limits);
  if (job.servers.length > limits.maxServersPerJob) {
    throw new OverLimitError(
      `A rebuild job takes at most ${limits.maxServersPerJob} servers; this one lists ${job.servers.length}. Split it into several jobs.`,
    );
  }
  const servers0 = job.servers;
  const options = buildOptions(job.options, headerMv, limits, servers0.length);
  const mv = parseMicroversion(options.microversion, limits.maxMicroversion);
  const schemas = rebuildSchemaFor(mv);
  const errors: FieldError[] = [];

  const shared = job.rebuild ?? {};
  const sharedParsed = schemas.partial.safeParse(shared);
  if (!sharedParsed.success) errors.push(...fieldErrorsFromZod(sharedParsed.error, shared, ['rebuildJob', 'rebuild']));

  const seen = new Map<string, number>();
  const servers: JobRequest['servers'] = [];
  servers0.forEach((raw, index) => {
    const base = ['rebuildJob', 'servers', index];
    const item = serverItemSchema.safeParse(raw);
    if (!item.success) {
      errors.push(...fieldErrorsFromZod(item.error, raw, base, { index }));
      return;
    }
    const id = canonicalUuid(item.data.id) as string;
    const first = seen.get(id);
    if (first !== undefined) {
      errors.push({
        pointer: toPointer([...base, 'id']),
        message: `Server ${id} is listed twice (items ${first} and ${index}); a server is rebuilt once per job.`,
        status: 400,
        index,
        serverId: id,
      });
      return;
    }
    seen.set(id, index);
    const overrides = item.data.rebuild ?? {};
    const ownErrors = schemas.partial.safeParse(overrides);
    if (!ownErrors.success) {
      errors.push(...fieldErrorsFromZod(ownErrors.error, overrides, [...base, 'rebuild'], { index, serverId: id }));
      return;
    }
    if (!sharedParsed.success) return;
    // Shared and own fields are already valid one by one; what is left to find is a missing
    // imageRef and quota limits over the merged body.
    // A plan's confirmation gives the job's secrets again (they are never stored), and only the
    // shared ones: a server with secrets of its own could not be sent.
    const ownSecret = options.confirm === 'manual' ? SECRET_FIELDS.find((f) => (ownErrors.data as Record<string, unknown>)[f] !== undefined) : undefined;
    if (ownSecret) {
      errors.push({
        pointer: toPointer([...base, 'rebuild', ownSecret]),
        message: `Invalid input for field/attribute ${ownSecret}. A job confirmed by hand is sent when confirmed, and secrets are never stored: give ${ownSecret} in the shared rebuild (the confirmation gives it again), or submit this server without confirm`,
        status: 400,
        index,
        serverId: id,
      });
      return;
    }
    const merged = { ...shared, ...overrides };
    const checked = validateServer(merged, mv, limits.quotas, [...base, 'rebuild'], { index, serverId: id });
    errors.push(...checked.errors);
    if (checked.rebuild) servers.push({ id, rebuild: checked.rebuild, overrides: ownErrors.data });
  });
  if (errors.length) throw errorForFields(errors);
  return { options, shared: sharedParsed.success ? sharedParsed.data : {}, servers };
}

/** `{"rebuildJob": {"select": {...}, "rebuild": {...}}}`: one shared request, the servers resolved later. */
function parseSelectRequest(job: { rebuild?: Record<string, unknown>; servers?: unknown[]; select?: unknown; options?: unknown }, headerMv: Microversion | undefined, limits: SubmitLimits): JobRequest {
  if (job.servers !== undefined) {
    throw errorForFields([{ pointer: '/rebuildJob/select', message: 'Invalid input for field/attribute select. Give servers or select, not both: exclude servers from a selection with select.exclude', status: 400 }]);
  }
  if (job.select === undefined) {
    throw errorForFields([{ pointer: '/rebuildJob/servers', message: "Invalid input for field/attribute rebuildJob. 'servers' is a required property (or 'select')", status: 400 }]);
  }
  const options = buildOptions(job.options, headerMv, limits, undefined);
  const mv = parseMicroversion(options.microversion, limits.maxMicroversion);
  const errors: FieldError[] = [];
  const { selection, errors: selectErrors } = parseSelect(job.select, mv, limits.maxServersPerJob);
  errors.push(...selectErrors);
  const shared = job.rebuild ?? {};
  const checked = validateServer(shared, mv, limits.quotas, ['rebuildJob', 'rebuild']);
  errors.push(...checked.errors);
  if (errors.length || !selection || !checked.rebuild) throw errorForFields(errors);
  return { options, shared: checked.rebuild, servers: [], select: selection };
}

/** Parses the seed's `{"rebuild": {...}}` for one server; throws an ApiError as Nova would. */
export function parseSingleRequest(
  body: unknown,
  serverId: string,
  headerMv: Microversion | undefined,
  limits: SubmitLimits,
): JobRequest {
  const id = canonicalUuid(serverId);
  if (!id) throw new BadRequestError(`Invalid input for field/attribute server_id. Value: ${serverId.slice(0, 64)}. It is not a 'uuid'`);
  const top = singleSchema.safeParse(body);
  if (!top.success) {
    // Nova names an unknown action this way (03v); anything else is the body's shape.
    const keys = body && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body) : [];
    if (keys.length && !keys.includes('rebuild')) {
      throw new BadRequestError(`There is no such action: ${keys[0]}`);
    }
    throw errorForFields(fieldErrorsFromZod(top.error, body, []));
  }
  const options = buildOptions(undefined, headerMv, limits, 1);
  const checked = validateServer(top.data.rebuild, parseMicroversion(options.microversion, limits.maxMicroversion), limits.quotas, ['rebuild']);
  if (checked.errors.length || !checked.rebuild) throw errorForFields(checked.errors) as ApiError;
  return { options, shared: checked.rebuild, servers: [{ id, rebuild: checked.rebuild, overrides: {} }] };
}
