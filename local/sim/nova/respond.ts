/**
 * Nova's responses, headers in the recordings' order and casing: 2xx as `application/json`
 * (01), faults as `application/json; charset=UTF-8` (02a), both with the microversion headers and
 * the request id twice (X-Openstack-Request-Id and X-Compute-Request-Id, same value).
 */
import type { RequestContext, SimResponse } from '../http/types.js';
import { webobPage } from '../http/webob.js';
import { header } from '../http/types.js';
import { pyDumps, type JsonObject } from '../python.js';
import type { NovaFault } from './errors.js';
import type { Microversion } from './microversion.js';

export function requestIdHeaders(ctx: RequestContext): [string, string][] {
  return [
    ['X-Openstack-Request-Id', ctx.requestId],
    ['X-Compute-Request-Id', ctx.requestId],
  ];
}

function versionHeaders(mv: Microversion | null): [string, string][] {
  if (mv === null) return [];
  return [
    ['Openstack-Api-Version', `compute ${mv}`],
    ['X-Openstack-Nova-Api-Version', mv.toString()],
    ['Vary', 'OpenStack-API-Version'],
    ['Vary', 'X-OpenStack-Nova-API-Version'],
  ];
}

const REASONS: Record<number, string> = { 202: 'Accepted', 406: 'Not Acceptable' };

/** A 2xx from Nova; `body` null is an empty body (lock → 202 with Content-Length 0, 02e). */
export function novaOk(
  ctx: RequestContext,
  mv: Microversion,
  status: number,
  body: JsonObject | null,
  location?: string,
): SimResponse {
  const text = body === null ? '' : pyDumps(body);
  const headers: [string, string][] = [['Content-Length', String(Buffer.byteLength(text))]];
  if (location !== undefined) headers.push(['Location', location]);
  headers.push(['Content-Type', 'application/json'], ...versionHeaders(mv), ...requestIdHeaders(ctx));
  const statusText = REASONS[status];
  return statusText ? { status, statusText, headers, body: text } : { status, headers, body: text };
}

/** Nova's JSON fault; the microversion headers are left out when the version string did not parse (04i). */
export function novaFault(ctx: RequestContext, mv: Microversion | null, fault: NovaFault): SimResponse {
  const inner: JsonObject = { code: fault.status, message: fault.message };
  // Nova's Fault copies Retry-After into the body for 413 and 429 only.
  if (fault.retryAfter !== undefined && (fault.status === 413 || fault.status === 429)) inner.retryAfter = fault.retryAfter;
  const text = pyDumps({ [fault.faultName]: inner });
  const headers: [string, string][] = [
    ...versionHeaders(mv),
    ['Content-Type', 'application/json; charset=UTF-8'],
    ['Content-Length', String(Buffer.byteLength(text))],
  ];
  if (fault.retryAfter !== undefined) headers.push(['Retry-After', fault.retryAfter]);
  headers.push(...requestIdHeaders(ctx));
  return { status: fault.status, headers, body: text };
}

/** No route matched: webob's own 404 page, no microversion headers (03w, 03x). */
export function routeNotFound(ctx: RequestContext, withComputeId = true): SimResponse {
  const page = webobPage('404 Not Found', 'Not Found', 'The resource could not be found.', header(ctx, 'Accept'));
  const headers: [string, string][] = [
    ['Content-Length', String(Buffer.byteLength(page.body))],
    ['Content-Type', page.contentType],
    ['X-Openstack-Request-Id', ctx.requestId],
  ];
  if (withComputeId) headers.push(['X-Compute-Request-Id', ctx.requestId]);
  return { status: 404, headers, body: page.body };
}
