/**
 * HTTP for the OpenStack clients: one undici keep-alive pool per process, timeouts on connect,
 * headers and body, bodies read to the end or cancelled, and transport failures turned into
 * `ComputeTransportError` with the one fact the worker needs: whether the request may have
 * reached the server. The only file that imports undici.
 */
import { createRequire } from 'node:module';
import type { Agent, Dispatcher } from 'undici';
// The Agent and its `request`, by path: undici's index loads every part of it (fetch, WebSocket,
// EventSource, the mock agents, the cache) — two thirds of a cold start's own code and 400 KB of
// bundle the worker never uses. Both files are undici's own (undici/index.js assembles the same
// two); test/lib/openstack/transport.test.ts covers every path through them.
import AgentClass from 'undici/lib/dispatcher/agent.js';
import requestOn from 'undici/lib/api/api-request.js';
import { ComputeTransportError } from './compute.js';

// node:http by require: an ES import of it builds its ES facade, which reads every export —
// WebSocket and EventSource among them, which load Node's own copy of undici: 20 ms of a cold
// start, for one table of status texts.
const { STATUS_CODES } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

/** Tuning of the client; every field is optional and documented with its default. */
export interface ComputeHttpOptions {
  /** Wall clock in epoch milliseconds, for token expiry and `Retry-After` dates. Default `Date.now`. */
  now?: () => number;
  /**
   * TCP + TLS handshake limit. Default 5 000 ms: a handshake to a regional API takes well under a
   * second and 5 s still covers two lost SYNs (Linux retransmits after 1 s, then 2 s more). Failing
   * here is the one failure where the request certainly was not sent, so it is worth failing fast.
   */
  connectTimeoutMs?: number;
  /**
   * Limit from sending the request to the complete response headers. Default 30 000 ms: Nova answers
   * a rebuild or a GET within a second or two (the recorded exchanges all answer within the same
   * second); half a minute of silence means a stuck API worker, and the Lambda worker must keep time
   * to record the outcome. A rebuild that times out here may still run (`maybeSent: true`).
   * undici checks headers and body timeouts on a coarse timer, so they fire up to ~1 s late.
   */
  headersTimeoutMs?: number;
  /**
   * Limit on silence between body chunks once the headers arrived. Default 15 000 ms: bodies are a
   * few kilobytes sent right after the headers, so a long pause means a dead connection.
   */
  bodyTimeoutMs?: number;
  /**
   * How long an idle keep-alive socket is kept. Default 4 000 ms: below the 5 s keep-alive default of
   * Apache/uwsgi/haproxy in front of Nova and Keystone, so the client closes first and does not write
   * a rebuild onto a socket the server is closing (which would leave the rebuild `maybeSent`).
   */
  keepAliveTimeoutMs?: number;
  /**
   * Sockets per origin. Default 16: a worker instance handles one SQS batch (at most 10 messages) at
   * a time plus Keystone calls; the cap keeps a bug from opening hundreds of sockets.
   */
  connections?: number;
  /**
   * A cached token is replaced this long before it expires. Default 60 000 ms: the expiry is
   * computed on our clock from Keystone's `expires_at - issued_at` (so clock skew between Lambda
   * and Keystone does not matter); the margin covers the longest call that may start with the token
   * (connect + headers timeouts, 35 s) plus skew between Nova and Keystone. It is capped at half the
   * token's lifetime so clouds issuing short tokens (120 s in the recordings) still reuse them.
   */
  tokenRefreshMarginMs?: number;
  /**
   * Upper bound on `retryAfterMs`. Default 86 400 000 ms (a day, the longest job deadline): larger
   * values are nearly always a misread date or an epoch timestamp. Within it the worker honours
   * the wait, up to the job's deadline (chaining queue delays past SQS's 15 minutes).
   */
  maxRetryAfterMs?: number;
  /** Largest response body read; a longer one is cancelled. Default 4 MiB (a server view is ~2 KiB). */
  maxResponseBytes?: number;
  /** `User-Agent` header. Default `openstack-bulk-rebuild`. */
  userAgent?: string;
}

export const DEFAULTS = {
  connectTimeoutMs: 5_000,
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 15_000,
  keepAliveTimeoutMs: 4_000,
  connections: 16,
  tokenRefreshMarginMs: 60_000,
  maxRetryAfterMs: 86_400_000,
  maxResponseBytes: 4 * 1024 * 1024,
  userAgent: 'openstack-bulk-rebuild',
} as const;

export type ResolvedOptions = Required<ComputeHttpOptions>;

/** Fills in the defaults and checks the values. */
export function resolveOptions(options: ComputeHttpOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    now: options.now ?? Date.now,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    headersTimeoutMs: options.headersTimeoutMs ?? DEFAULTS.headersTimeoutMs,
    bodyTimeoutMs: options.bodyTimeoutMs ?? DEFAULTS.bodyTimeoutMs,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? DEFAULTS.keepAliveTimeoutMs,
    connections: options.connections ?? DEFAULTS.connections,
    tokenRefreshMarginMs: options.tokenRefreshMarginMs ?? DEFAULTS.tokenRefreshMarginMs,
    maxRetryAfterMs: options.maxRetryAfterMs ?? DEFAULTS.maxRetryAfterMs,
    maxResponseBytes: options.maxResponseBytes ?? DEFAULTS.maxResponseBytes,
    userAgent: options.userAgent ?? DEFAULTS.userAgent,
  };
  const positive = ['connectTimeoutMs', 'headersTimeoutMs', 'bodyTimeoutMs', 'keepAliveTimeoutMs', 'connections', 'maxResponseBytes'] as const;
  for (const name of positive) {
    if (!Number.isFinite(resolved[name]) || resolved[name] <= 0) throw new RangeError(`${name} must be a positive number`);
  }
  for (const name of ['tokenRefreshMarginMs', 'maxRetryAfterMs'] as const) {
    if (!Number.isFinite(resolved[name]) || resolved[name] < 0) throw new RangeError(`${name} must be zero or more`);
  }
  return resolved;
}

/** Closes the shared keep-alive pools; for tests and graceful shutdown, not needed on Lambda. */
export async function closeComputeHttpAgents(): Promise<void> {
  const agents = [...AGENTS.values()];
  AGENTS.clear();
  await Promise.all(agents.map((agent) => agent.close()));
}

/**
 * One keep-alive pool per process. Keyed by the pool-level settings only, so production (one set
 * of options) gets exactly one Agent; headers and body timeouts are set per request.
 */
const AGENTS = new Map<string, Agent>();

export function sharedAgent(options: ResolvedOptions, caCert?: string): Agent {
  const key = `${options.connectTimeoutMs}/${options.keepAliveTimeoutMs}/${options.connections}/${caCert ?? ''}`;
  let agent = AGENTS.get(key);
  if (agent === undefined) {
    agent = new AgentClass({
      // A private CA's certificates replace the public roots, as OS_CACERT does for the openstack CLI.
      connect: { timeout: options.connectTimeoutMs, ...(caCert !== undefined ? { ca: caCert } : {}) },
      keepAliveTimeout: options.keepAliveTimeoutMs,
      connections: options.connections,
      // Never pipeline: a rebuild queued behind another request on one socket could be lost with
      // it, and its fate would be unknowable.
      pipelining: 1,
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs,
    });
    AGENTS.set(key, agent);
  }
  return agent;
}

/** What came back: status, headers and the body text (undefined when it was too long). */
export interface HttpAnswer {
  status: number;
  statusText: string;
  headers: Record<string, string | string[] | undefined>;
  text: string | undefined;
}

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body?: string;
  /** For messages: what this call is ("Compute API GET /servers/..", "Keystone"). */
  what: string;
}

export class HttpClient {
  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly options: ResolvedOptions,
  ) {}

  /** Sends one request and reads its whole body; throws only `ComputeTransportError`. */
  async send(request: HttpRequest): Promise<HttpAnswer> {
    let response: Dispatcher.ResponseData;
    try {
      response = await requestOn.call(this.dispatcher, {
        origin: request.url.origin,
        path: `${request.url.pathname}${request.url.search}`,
        method: request.method,
        headers: request.headers,
        body: request.body ?? null,
        headersTimeout: this.options.headersTimeoutMs,
        bodyTimeout: this.options.bodyTimeoutMs,
      });
    } catch (error) {
      throw transportError(request.what, error, !isCertainlyUnsent(error));
    }
    let text: string | undefined;
    try {
      text = await readCapped(response.body, this.options.maxResponseBytes);
    } catch (error) {
      // The headers arrived, so the server has the request: whatever it does, it may have done it.
      throw transportError(`${request.what} (reading the ${response.statusCode} body)`, error, true);
    }
    return {
      status: response.statusCode,
      statusText: response.statusText || STATUS_CODES[response.statusCode] || '',
      headers: response.headers,
      text,
    };
  }
}

/** Reads the body to the end, or cancels it past `limit` bytes and returns undefined. */
async function readCapped(body: Dispatcher.ResponseData['body'], limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      // Cancelling closes the socket instead of returning it to the pool half-read.
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Error codes raised before a single byte of the request can have reached the server: name
 * resolution, refused or unroutable connections, connect timeout, and TLS verification (which
 * completes before any HTTP is written). Anything else — reset, "other side closed", headers or
 * body timeout, EPIPE, ETIMEDOUT on an open socket — may come after the server read the request.
 */
const UNSENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EAI_NONAME',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

/**
 * True only when a transport failure certainly happened before the request reached the server.
 * Exported for tests of failures that cannot be produced on loopback (connect timeout, DNS).
 */
export function isCertainlyUnsent(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && UNSENT_CODES.has(code)) return true;
  // With happy eyeballs (autoSelectFamily) Node reports one failure per address in an AggregateError.
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.every(isCertainlyUnsent);
  return false;
}

export function transportError(what: string, cause: unknown, maybeSent: boolean): ComputeTransportError {
  const detail = cause instanceof Error ? describeError(cause) : String(cause);
  return new ComputeTransportError(
    `${what} failed without an HTTP answer (${detail}); ${maybeSent ? 'the request may have reached the server' : 'the request was not sent'}`,
    maybeSent,
    { cause },
  );
}

export function describeError(error: Error): string {
  const code = (error as { code?: unknown }).code;
  const message = error.message !== '' ? error.message : error.name;
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

/** The first value of a response header, or undefined when absent or empty. */
export function firstHeader(headers: HttpAnswer['headers'], name: string): string | undefined {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}
