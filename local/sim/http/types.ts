/** What a route handler returns; the server writes it (or, in a fault "after processing" mode, drops it). */
import type { IncomingHttpHeaders } from 'node:http';

export interface SimResponse {
  status: number;
  /** The reason phrase; Keystone's are upper case ("201 CREATED", k01). */
  statusText?: string;
  /** In order, duplicates allowed (Nova sends Vary twice, 01). */
  headers: [string, string][];
  body: string;
}

/** One request as the handlers see it. */
export interface RequestContext {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The id this request answers with (X-Openstack-Request-Id). */
  requestId: string;
  /** The client's valid X-Openstack-Request-Id, which oslo.middleware keeps as the global request id. */
  globalRequestId: string | null;
  /** Simulator clock when the request arrived. */
  now: number;
  /** `http://<Host header>`, as Nova builds its links from the request. */
  hostUrl: string;
}

/** A single-valued header (node joins repeated ones with ", "). */
export function header(ctx: Pick<RequestContext, 'headers'>, name: string): string | undefined {
  const value = ctx.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}
