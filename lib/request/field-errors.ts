/**
 * Turns schema findings into the errors a caller can act on: every invalid field named by JSON
 * pointer (and, in a bulk job, by item index and server id), in Nova's wording, never echoing a
 * secret value.
 */
import type { z } from 'zod';
import { BadRequestError, ForbiddenError, type ApiError } from '../errors.js';
import { SECRET_FIELDS } from './secrets.js';

/** One invalid field. */
export interface FieldError {
  /** JSON pointer into the request body, e.g. `/rebuildJob/servers/3/rebuild/name`. */
  pointer: string;
  message: string;
  /** 400 for the shape (schema), 403 for Nova's quota-type limits. */
  status: 400 | 403;
  index?: number;
  serverId?: string;
}

/**
 * How many field errors one response lists; the rest are counted. A 1,000-server job with one
 * bad shared field would otherwise answer with a thousand near-identical lines.
 */
export const MAX_LISTED_ERRORS = 20;
/** How much of an offending value a message quotes (Nova quotes it whole; 256-char names make unreadable errors). */
const MAX_QUOTED_VALUE = 64;

/** A JSON pointer from path segments (RFC 6901 escaping). */
export function toPointer(path: readonly PropertyKey[]): string {
  return path.map((p) => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

/**
 * Fields whose offending value a message may quote: leaves that never hold a secret. Anything
 * else (a secret, or a container such as `rebuild` that may have been sent as a string holding
 * one) is described without its value.
 */
const QUOTABLE = new Set<PropertyKey>([
  'imageRef', 'name', 'description', 'key_name', 'hostname', 'accessIPv4', 'accessIPv6', 'preserve_ephemeral',
  'OS-DCF:diskConfig', 'path', 'id', 'microversion', 'maxAttempts', 'deadlineSeconds', 'maxFailurePercentage', 'maxInFlight',
]);

function isSecretPath(path: readonly PropertyKey[]): boolean {
  if (path.some((p) => (SECRET_FIELDS as readonly PropertyKey[]).includes(p))) return true;
  const last = path[path.length - 1];
  const parent = path[path.length - 2];
  // Metadata values and trusted certificate ids are plain data; everything else must be a known leaf.
  if (parent === 'metadata' || parent === 'trusted_image_certificates') return false;
  return !QUOTABLE.has(last as PropertyKey);
}

/** Cuts text to `max` code points, never inside a surrogate pair. */
function cut(text: string, max: number): string {
  const points = Array.from(text);
  return points.length > max ? `${points.slice(0, max).join('')}...(${points.length} characters)` : text;
}

/**
 * How a message quotes an offending value: strings and scalars as Nova would (cut short), but a
 * container only by its kind — it may hold secrets (an adminPass inside a mistyped `rebuild`) and
 * may be nested deeper than JSON.stringify can go.
 */
function quote(value: unknown): string {
  if (typeof value === 'string') return `'${cut(value, MAX_QUOTED_VALUE)}'`;
  if (Array.isArray(value)) return `an array of ${value.length} item${value.length === 1 ? '' : 's'}`;
  if (value !== null && typeof value === 'object') return 'an object';
  return cut(String(value), MAX_QUOTED_VALUE);
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

/** Nova's phrasing for one zod issue: "Invalid input for field/attribute X. Value: V. reason". */
function describe(issue: z.core.$ZodIssue, input: unknown, basePath: readonly PropertyKey[]): { path: PropertyKey[]; message: string } {
  const path = [...basePath, ...issue.path];
  const secret = isSecretPath(path);
  if (issue.code === 'unrecognized_keys') {
    const field = String(path[path.length - 1] ?? 'body');
    const keys = issue.keys.map((k) => `'${k}'`).join(', ');
    return {
      path,
      message: `Invalid input for field/attribute ${field}. Additional properties are not allowed (${keys} ${issue.keys.length > 1 ? 'were' : 'was'} unexpected)`,
    };
  }
  if (issue.code === 'invalid_key') {
    // zod puts the offending key last in the path; Nova names the object that holds it (03n).
    const key = path[path.length - 1];
    const field = String(path[path.length - 2] ?? 'body');
    return {
      path,
      message: `Invalid input for field/attribute ${field}. Key ${quote(String(key))} ${issue.issues[0]?.message ?? 'is invalid'}`,
    };
  }
  const field = String(path[path.length - 1] ?? 'body');
  const value = valueAt(input, issue.path);
  if (issue.code === 'invalid_type' && value === undefined) {
    return { path, message: `Invalid input for field/attribute ${field}. '${field}' is a required property` };
  }
  let reason: string;
  switch (issue.code) {
    case 'invalid_type':
      reason = `${secret ? 'The value' : quote(value)} is not of type '${issue.expected}'`;
      break;
    case 'invalid_value':
      reason = `${secret ? 'The value' : quote(value)} is not one of ${issue.values.map((v) => quote(v)).join(', ')}`;
      break;
    case 'invalid_union':
      reason = `${secret ? 'The value' : quote(value)} is not a boolean nor one of the strings Nova reads as one`;
      break;
    default:
      reason = `${secret ? 'The value' : quote(value)} ${issue.message}`;
  }
  const shown = secret ? '' : ` Value: ${quote(value)}.`;
  return { path, message: `Invalid input for field/attribute ${field}.${shown} ${reason}` };
}

/** Field errors for a failed zod parse of `input`, which sits at `basePath` in the request. */
export function fieldErrorsFromZod(
  error: z.ZodError,
  input: unknown,
  basePath: readonly PropertyKey[],
  item?: { index: number; serverId?: string },
): FieldError[] {
  return error.issues.map((issue) => {
    // A bad metadata key is reported at the key itself, so the pointer names it.
    const { path, message } = describe(issue, input, basePath);
    const fe: FieldError = { pointer: toPointer(path), message, status: 400 };
    if (item) {
      fe.index = item.index;
      if (item.serverId) fe.serverId = item.serverId;
    }
    return fe;
  });
}

/**
 * The error for a set of field errors: 400 `badRequest` when any is a shape error, else 403
 * `forbidden` as Nova answers quota-type limits. The message lists up to MAX_LISTED_ERRORS, each
 * with its pointer, and counts the rest.
 */
export function errorForFields(errors: FieldError[]): ApiError {
  const listed = errors.slice(0, MAX_LISTED_ERRORS);
  const lines = listed.map((e) => {
    const where = e.index === undefined ? e.pointer : `${e.pointer} (item ${e.index}${e.serverId ? `, server ${e.serverId}` : ''})`;
    return `${where}: ${e.message}`;
  });
  const more = errors.length - listed.length;
  const single = errors.length === 1 && errors[0]?.index === undefined;
  const message = single
    ? (errors[0]?.message ?? '')
    : `${errors.length} invalid field${errors.length === 1 ? '' : 's'}: ${lines.join('; ')}${more > 0 ? `; and ${more} more` : ''}`;
  const status = errors.some((e) => e.status === 400) ? 400 : 403;
  const err = status === 400 ? new BadRequestError(message) : new ForbiddenError(message);
  err.extra.invalid = listed.map(({ status: _status, ...rest }) => rest);
  if (more > 0) err.extra.invalidCount = errors.length;
  return err;
}
