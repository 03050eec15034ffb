/**
 * Reading an OpenStack answer that is not a success: status first, then the body's single
 * top-level key as the fault name, its message, and how long the cloud asks us to wait.
 */
import type { ComputeFault } from './compute.js';
import { type HttpAnswer, type ResolvedOptions, firstHeader } from './transport.js';

export const MAX_MESSAGE_CHARS = 1_000;
const MAX_SNIPPET_CHARS = 200;

/**
 * Reads a non-2xx answer: status first; then the body's single top-level key as the fault name
 * (`conflictingRequest`, `itemNotFound`, Keystone's `error`, ...) and its `message`; a body that is
 * not JSON gives the status line and a short sanitised snippet.
 */
export function parseFault(answer: HttpAnswer, options: ResolvedOptions): ComputeFault {
  const computeRequestId = firstHeader(answer.headers, 'x-compute-request-id') ?? firstHeader(answer.headers, 'x-openstack-request-id');
  const json = parseJson(answer.text);
  let faultName: string | undefined;
  let message: string | undefined;
  let bodyRetryAfter: unknown;
  if (isRecord(json)) {
    const keys = Object.keys(json);
    const onlyKey = keys.length === 1 ? keys[0] : undefined;
    const inner = onlyKey !== undefined ? json[onlyKey] : undefined;
    if (onlyKey !== undefined && isRecord(inner)) {
      faultName = onlyKey;
      if (typeof inner.message === 'string') message = inner.message;
      bodyRetryAfter = inner.retryAfter;
    } else {
      if (typeof json.message === 'string') message = json.message;
      bodyRetryAfter = json.retryAfter;
    }
  }
  const statusLine = `${answer.status} ${answer.statusText}`.trim();
  if (message === undefined || sanitise(message) === '') {
    const excerpt = snippet(answer.text);
    message = excerpt === '' ? statusLine : `${statusLine}: ${excerpt}`;
  }
  const retryAfterMs = retryAfter(firstHeader(answer.headers, 'retry-after'), bodyRetryAfter, options);
  return {
    ok: false,
    status: answer.status,
    ...(faultName !== undefined ? { faultName } : {}),
    message: sanitise(message).slice(0, MAX_MESSAGE_CHARS),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    computeRequestId,
  };
}

/** The larger of the `Retry-After` header (seconds or HTTP date) and the body's `retryAfter` (seconds), in ms, capped. */
function retryAfter(header: string | undefined, bodyValue: unknown, options: ResolvedOptions): number | undefined {
  const candidates: number[] = [];
  if (header !== undefined) {
    const value = header.trim();
    if (/^\d+(\.\d+)?$/.test(value)) {
      candidates.push(Number(value) * 1000);
    } else if (/[A-Za-z]{3}/.test(value)) {
      // Only strings with a month or weekday name: Date.parse would read "5.5" as a date in 2001.
      const date = Date.parse(value);
      if (!Number.isNaN(date)) candidates.push(Math.max(0, date - options.now()));
    }
  }
  const bodySeconds =
    typeof bodyValue === 'number' ? bodyValue : typeof bodyValue === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(bodyValue) ? Number(bodyValue) : Number.NaN;
  if (Number.isFinite(bodySeconds) && bodySeconds >= 0) candidates.push(bodySeconds * 1000);
  if (candidates.length === 0) return undefined;
  return Math.min(Math.round(Math.max(...candidates)), options.maxRetryAfterMs);
}

/** Printable single-line text: control characters and runs of whitespace become one space. */
export function sanitise(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\s]+/g, ' ').trim();
}

/** A short, tag-free excerpt of a body for messages (an HTML error page from a proxy, say). */
export function snippet(text: string | undefined): string {
  if (text === undefined) return '(body too long, not read)';
  const plain = sanitise(
    text
      .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ')
      .replace(/<[^>]*>/g, ' ')
      .replace(/&nbsp;/g, ' ')
      .replace(/&amp;/g, '&')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>'),
  );
  return plain.length > MAX_SNIPPET_CHARS ? `${plain.slice(0, MAX_SNIPPET_CHARS)}…` : plain;
}

/** The body as JSON, or undefined when it is empty or not JSON. */
export function parseJson(text: string | undefined): unknown {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A plain JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
