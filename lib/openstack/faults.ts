/**
 * Reading an OpenStack answer that is not a success: status first, then the body's single
 * top-level key as the fault name, its message, and how long the cloud asks us to wait.
 *
 * Messages are the cloud's text, whole: they may quote the request's secrets (Nova's schema 400
 * quotes the body), so nothing here cuts them — a cut could leave part of a secret that the
 * scrubber would no longer recognise. The worker scrubs, then shortens (worker/cloud-text.ts).
 */
import { collapseWhitespace } from '../request/secrets.js';
import type { ComputeFault } from './compute.js';
import { type HttpAnswer, type ResolvedOptions, firstHeader } from './transport.js';

/**
 * Reads a non-2xx answer: status first; then the body's single top-level key as the fault name
 * (`conflictingRequest`, `itemNotFound`, Keystone's `error`, ...) and its `message`; a body that is
 * not JSON gives the status line and the body's text without its markup.
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
  if (message === undefined || collapseWhitespace(message) === '') {
    const excerpt = plainText(answer.text);
    message = excerpt === '' ? statusLine : `${statusLine}: ${excerpt}`;
  }
  const retryAfterMs = retryAfter(firstHeader(answer.headers, 'retry-after'), bodyRetryAfter, options);
  return {
    ok: false,
    status: answer.status,
    ...(faultName !== undefined ? { faultName } : {}),
    message: collapseWhitespace(message),
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

/**
 * A body's text without markup, on one line (an HTML error page from a proxy, say). Linear in the
 * body's length whatever it holds: the cloud's text is not trusted to be well formed.
 */
export function plainText(text: string | undefined): string {
  if (text === undefined) return '(body too long, not read)';
  let out = '';
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('<', i);
    if (open < 0) break;
    const close = text.indexOf('>', open);
    if (close < 0) break;
    out += `${text.slice(i, open)} `;
    const tag = text.slice(open + 1, Math.min(close, open + 8)).toLowerCase();
    // The contents of a script or style element are code, not text.
    const skipTo = tag.startsWith('script') || tag.startsWith('style') ? text.indexOf(`</${tag.startsWith('script') ? 'script' : 'style'}`, close) : -1;
    i = skipTo >= 0 ? (text.indexOf('>', skipTo) + 1 || text.length) : close + 1;
  }
  out += text.slice(i);
  return collapseWhitespace(out.replace(/&nbsp;/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'));
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
