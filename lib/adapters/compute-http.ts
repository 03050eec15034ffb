/**
 * The Compute API adapter: implements the `ComputeApi` port over HTTP with undici, authenticating
 * with Keystone v3 (password or application credential) or a fixed endpoint and token. It is the
 * only file that imports undici; it turns transport failures into `ComputeTransportError`,
 * refused credentials into `ComputeAuthError` and every other answer into a `ComputeResult`.
 *
 * Retries: this client makes none except one re-authentication after a 401, because the worker
 * owns the retry policy (it knows the job's budget and whether a rebuild may already be running).
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { Agent, type Dispatcher } from 'undici';
import {
  ComputeAuthError,
  ComputeTransportError,
  type ComputeApi,
  type ComputeFault,
  type ComputeResult,
  type ComputeTarget,
  type InstanceAction,
  type ServerView,
} from '../compute.js';
import {
  ComputeConfigError,
  type ApplicationCredentialConfig,
  type ComputeConfig,
  type EndpointInterface,
  type PasswordAuthConfig,
} from './compute-config.js';

export { computeConfigFromEnv, ComputeConfigError, Secret } from './compute-config.js';
export type {
  ApplicationCredentialConfig,
  ComputeConfig,
  EndpointInterface,
  FixedEndpointConfig,
  PasswordAuthConfig,
} from './compute-config.js';

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
   * Upper bound on `retryAfterMs`. Default 900 000 ms (15 min, the longest SQS `DelaySeconds`):
   * larger values are nearly always a misread date or an epoch timestamp, and the worker could not
   * honour them with a message delay anyway.
   */
  maxRetryAfterMs?: number;
  /** Largest response body read; a longer one is cancelled. Default 4 MiB (a server view is ~2 KiB). */
  maxResponseBytes?: number;
  /** `User-Agent` header. Default `openstack-bulk-rebuild`. */
  userAgent?: string;
}

const DEFAULTS = {
  connectTimeoutMs: 5_000,
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 15_000,
  keepAliveTimeoutMs: 4_000,
  connections: 16,
  tokenRefreshMarginMs: 60_000,
  maxRetryAfterMs: 900_000,
  maxResponseBytes: 4 * 1024 * 1024,
  userAgent: 'openstack-bulk-rebuild',
} as const;

type ResolvedOptions = Required<ComputeHttpOptions>;

/** Builds the `ComputeApi` for a parsed config; build it once per process (module scope). */
export function createComputeApi(config: ComputeConfig, options: ComputeHttpOptions = {}): ComputeApi {
  const resolved = resolveOptions(options);
  const http = new HttpClient(sharedAgent(resolved), resolved);
  const auth: Authenticator =
    config.kind === 'fixed'
      ? new FixedTokenAuthenticator(config.computeUrl, config.token.reveal())
      : new KeystoneAuthenticator(config, http, resolved);
  return new HttpComputeApi(auth, http, resolved);
}

/** Closes the shared keep-alive pools; for tests and graceful shutdown, not needed on Lambda. */
export async function closeComputeHttpAgents(): Promise<void> {
  const agents = [...AGENTS.values()];
  AGENTS.clear();
  await Promise.all(agents.map((agent) => agent.close()));
}

// ---------------------------------------------------------------------------------------------
// Transport

/**
 * One keep-alive pool per process. Keyed by the pool-level settings only, so production (one set
 * of options) gets exactly one Agent; headers and body timeouts are set per request.
 */
const AGENTS = new Map<string, Agent>();

function sharedAgent(options: ResolvedOptions): Agent {
  const key = `${options.connectTimeoutMs}/${options.keepAliveTimeoutMs}/${options.connections}`;
  let agent = AGENTS.get(key);
  if (agent === undefined) {
    agent = new Agent({
      connect: { timeout: options.connectTimeoutMs },
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
interface HttpAnswer {
  status: number;
  statusText: string;
  headers: Record<string, string | string[] | undefined>;
  text: string | undefined;
}

interface HttpRequest {
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body?: string;
  /** For messages: what this call is ("Compute API GET /servers/..", "Keystone"). */
  what: string;
}

class HttpClient {
  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly options: ResolvedOptions,
  ) {}

  /** Sends one request and reads its whole body; throws only `ComputeTransportError`. */
  async send(request: HttpRequest): Promise<HttpAnswer> {
    let response: Dispatcher.ResponseData;
    try {
      response = await this.dispatcher.request({
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

function transportError(what: string, cause: unknown, maybeSent: boolean): ComputeTransportError {
  const detail = cause instanceof Error ? describeError(cause) : String(cause);
  return new ComputeTransportError(
    `${what} failed without an HTTP answer (${detail}); ${maybeSent ? 'the request may have reached the server' : 'the request was not sent'}`,
    maybeSent,
    { cause },
  );
}

function describeError(error: Error): string {
  const code = (error as { code?: unknown }).code;
  const message = error.message !== '' ? error.message : error.name;
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

// ---------------------------------------------------------------------------------------------
// Authentication

/** A token and the compute base URL (tenant substituted, no trailing slash) to use it with. */
interface Session {
  token: string;
  computeBaseUrl: string;
}

interface Authenticator {
  /** False for a fixed token: a 401 cannot be cured by asking again. */
  readonly canReauthenticate: boolean;
  /** Resolves a session, or throws `ComputeAuthError`, `ComputeTransportError` or `KeystoneFault`. */
  session(tenantId: string): Promise<Session>;
  /** Forgets `token` (only if it is still the cached one) after Nova refused it. */
  invalidate(tenantId: string, token: string): void;
}

/** Keystone answered something other than success or refused credentials (a 503, a 429, ...). */
class KeystoneFault extends Error {
  constructor(readonly fault: ComputeFault) {
    super(fault.message);
  }
}

class FixedTokenAuthenticator implements Authenticator {
  readonly canReauthenticate = false;

  constructor(
    private readonly computeUrl: string,
    private readonly token: string,
  ) {}

  async session(tenantId: string): Promise<Session> {
    return { token: this.token, computeBaseUrl: substituteTenant(this.computeUrl, tenantId) };
  }

  invalidate(): void {}
}

interface CachedToken {
  token: string;
  /** Our clock, epoch ms: from then on the token is replaced before use. */
  refreshAt: number;
  /** The project Keystone scoped the token to. */
  projectId: string | undefined;
  /** The catalog's compute URL, placeholders not yet substituted. */
  computeUrlTemplate: string;
}

class KeystoneAuthenticator implements Authenticator {
  readonly canReauthenticate = true;
  /** Per tenant for password auth (one scope each); a single entry ('') for an application credential. */
  private readonly cache = new Map<string, CachedToken>();
  /** Authentications in flight, so concurrent callers share one request to Keystone. */
  private readonly inFlight = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly config: PasswordAuthConfig | ApplicationCredentialConfig,
    private readonly http: HttpClient,
    private readonly options: ResolvedOptions,
  ) {}

  private key(tenantId: string): string {
    return this.config.kind === 'password' ? tenantId : '';
  }

  async session(tenantId: string): Promise<Session> {
    const key = this.key(tenantId);
    let entry = this.cache.get(key);
    if (entry === undefined || this.options.now() >= entry.refreshAt) {
      let pending = this.inFlight.get(key);
      if (pending === undefined) {
        pending = this.authenticate(tenantId).finally(() => this.inFlight.delete(key));
        this.inFlight.set(key, pending);
      }
      // A token is used once even if it is already "stale" by our margin (a cloud issuing very
      // short tokens): asking again would not give a better one.
      entry = await pending;
    }
    if (this.config.kind === 'applicationCredential' && entry.projectId !== undefined && entry.projectId !== tenantId) {
      // Nova would answer 400 (project in the URL) or a misleading 404 (no project in the URL).
      throw new ComputeAuthError(
        `Application credential ${this.config.applicationCredentialId} is scoped to project ` +
          `${entry.projectId}, not to the job's project ${tenantId}`,
        403,
      );
    }
    return { token: entry.token, computeBaseUrl: substituteTenant(entry.computeUrlTemplate, tenantId) };
  }

  invalidate(tenantId: string, token: string): void {
    const key = this.key(tenantId);
    // Another caller may already have replaced the refused token; keep the newer one.
    if (this.cache.get(key)?.token === token) this.cache.delete(key);
  }

  private describeCredential(tenantId: string): string {
    return this.config.kind === 'password'
      ? `password of user "${this.config.username}" (domain "${this.config.userDomainName}") for project ${tenantId}`
      : `application credential ${this.config.applicationCredentialId}`;
  }

  private async authenticate(tenantId: string): Promise<CachedToken> {
    const config = this.config;
    const secret = config.kind === 'password' ? config.password.reveal() : config.applicationCredentialSecret.reveal();
    const body =
      config.kind === 'password'
        ? {
            auth: {
              identity: {
                methods: ['password'],
                password: { user: { name: config.username, domain: { name: config.userDomainName }, password: secret } },
              },
              scope: { project: { id: tenantId } },
            },
          }
        : {
            // No scope: Keystone refuses an application credential that asks for one (k02b); the
            // token is scoped to the credential's project anyway.
            auth: {
              identity: {
                methods: ['application_credential'],
                application_credential: { id: config.applicationCredentialId, secret },
              },
            },
          };

    const sentAt = this.options.now();
    let answer: HttpAnswer;
    try {
      answer = await this.http.send({
        method: 'POST',
        url: new URL(`${config.authUrl}/auth/tokens`),
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json',
          'User-Agent': this.options.userAgent,
        },
        body: JSON.stringify(body),
        what: 'Keystone POST /v3/auth/tokens',
      });
    } catch (error) {
      // Whatever happened to the token request, the Compute call it was for was never sent.
      if (error instanceof ComputeTransportError) {
        const cause = error.cause;
        const detail = cause instanceof Error ? describeError(cause) : String(cause);
        throw new ComputeTransportError(
          `Keystone POST /v3/auth/tokens failed without an HTTP answer (${detail}); the Compute request was not sent`,
          false,
          { cause },
        );
      }
      throw error;
    }

    const redact = (text: string): string => (secret.length > 0 ? text.replaceAll(secret, '[redacted]') : text);
    if (answer.status < 200 || answer.status > 299) {
      const fault = parseFault(answer, this.options);
      const message = redact(fault.message);
      if (answer.status === 400 || answer.status === 401 || answer.status === 403 || answer.status === 404) {
        throw new ComputeAuthError(
          `Keystone refused the ${this.describeCredential(tenantId)} (${answer.status}): ${message}`,
          answer.status,
        );
      }
      throw new KeystoneFault({ ...fault, message: `Keystone could not issue a token: ${message}` });
    }

    const token = firstHeader(answer.headers, 'x-subject-token');
    const parsed = parseJson(answer.text);
    const tokenBody = isRecord(parsed) && isRecord(parsed.token) ? parsed.token : undefined;
    if (token === undefined || tokenBody === undefined) {
      throw new ComputeAuthError(
        `Keystone answered ${answer.status} to the ${this.describeCredential(tenantId)} without a usable token`,
        answer.status,
      );
    }
    const project = isRecord(tokenBody.project) && typeof tokenBody.project.id === 'string' ? tokenBody.project.id : undefined;
    const entry: CachedToken = {
      token,
      refreshAt: this.refreshAt(sentAt, tokenBody.issued_at, tokenBody.expires_at),
      projectId: project,
      computeUrlTemplate: selectComputeEndpoint(tokenBody.catalog, config.interface, config.region),
    };
    this.cache.set(this.key(tenantId), entry);
    return entry;
  }

  /** When to stop using a token, on our clock; see `tokenRefreshMarginMs`. */
  private refreshAt(sentAt: number, issuedAt: unknown, expiresAt: unknown): number {
    const expires = typeof expiresAt === 'string' ? Date.parse(expiresAt) : Number.NaN;
    const issued = typeof issuedAt === 'string' ? Date.parse(issuedAt) : Number.NaN;
    if (Number.isNaN(expires)) return sentAt; // no expiry given: use once, never cache
    // Anchoring Keystone's lifetime at our send time makes us expire it early, never late, whatever
    // the skew between our clock and Keystone's.
    const lifetime = Number.isNaN(issued) ? expires - sentAt : expires - issued;
    if (lifetime <= 0) return sentAt;
    return sentAt + lifetime - Math.min(this.options.tokenRefreshMarginMs, lifetime / 2);
  }
}

/** Picks the compute endpoint for the interface and region from a Keystone v3 catalog. */
function selectComputeEndpoint(catalog: unknown, wantedInterface: EndpointInterface, region: string | undefined): string {
  const variables = ['OS_INTERFACE', 'OS_REGION_NAME'];
  const services = Array.isArray(catalog) ? catalog.filter(isRecord) : [];
  const endpoints = services
    .filter((service) => service.type === 'compute')
    .flatMap((service) => (Array.isArray(service.endpoints) ? service.endpoints.filter(isRecord) : []))
    .map((endpoint) => ({
      interface: typeof endpoint.interface === 'string' ? endpoint.interface : '',
      region: typeof endpoint.region_id === 'string' ? endpoint.region_id : typeof endpoint.region === 'string' ? endpoint.region : '',
      url: typeof endpoint.url === 'string' ? endpoint.url : '',
    }))
    .filter((endpoint) => endpoint.url !== '');
  if (endpoints.length === 0) {
    throw new ComputeConfigError('The Keystone catalog offers no compute service endpoint to this user', variables);
  }
  const available = endpoints.map((endpoint) => `${endpoint.interface}@${endpoint.region || '(no region)'}`).join(', ');
  const matching = endpoints.filter(
    (endpoint) => endpoint.interface === wantedInterface && (region === undefined || endpoint.region === region),
  );
  if (matching.length === 0) {
    throw new ComputeConfigError(
      `The Keystone catalog has no compute endpoint for interface "${wantedInterface}"` +
        `${region === undefined ? '' : ` in region "${region}"`}; it offers ${available}`,
      variables,
    );
  }
  const regions = new Set(matching.map((endpoint) => endpoint.region));
  if (regions.size > 1) {
    throw new ComputeConfigError(
      `The Keystone catalog offers compute in several regions (${[...regions].join(', ')}); set OS_REGION_NAME`,
      ['OS_REGION_NAME'],
    );
  }
  // Checked: matching has at least one element.
  return matching[0]!.url;
}

/** Replaces the tenant placeholders Keystone catalogs and our COMPUTE_URL may contain. */
function substituteTenant(template: string, tenantId: string): string {
  const tenant = encodeURIComponent(tenantId);
  return template
    .replace(/%\(tenant_id\)s|\$\(tenant_id\)s|%\(project_id\)s|\$\(project_id\)s|\{tenant_id\}|\{project_id\}/g, tenant)
    .replace(/\/+$/, '');
}

// ---------------------------------------------------------------------------------------------
// The Compute API

const MICROVERSION = /^\d+\.\d+$/;
const REQUEST_ID = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

class HttpComputeApi implements ComputeApi {
  constructor(
    private readonly auth: Authenticator,
    private readonly http: HttpClient,
    private readonly options: ResolvedOptions,
  ) {}

  async rebuild(
    target: ComputeTarget,
    serverId: string,
    body: Record<string, unknown>,
    requestId: string,
  ): Promise<ComputeResult<{ server?: ServerView }>> {
    if (!REQUEST_ID.test(requestId)) {
      // Nova ignores a request id that is not `req-<uuid>`, which would silently break tracing.
      throw new TypeError(`requestId must be "req-<uuid>", got ${JSON.stringify(requestId.slice(0, 60))}`);
    }
    return this.call(target, 'POST', `/servers/${encodeURIComponent(serverId)}/action`, {
      body: JSON.stringify({ rebuild: body }),
      // The same id on the retry after a 401: Nova never handled the refused request.
      requestId: () => requestId,
      // A 202 is what matters; its body is informative only, so an unreadable one is no failure.
      parse: (json) => ({ ok: true, value: isRecord(json) && isServerView(json.server) ? { server: json.server } : {} }),
    });
  }

  getServer(target: ComputeTarget, serverId: string): Promise<ComputeResult<{ server: ServerView }>> {
    return this.call(target, 'GET', `/servers/${encodeURIComponent(serverId)}`, {
      requestId: freshRequestId,
      parse: (json) =>
        isRecord(json) && isServerView(json.server)
          ? { ok: true, value: { server: json.server } }
          : { ok: false, expected: 'a {"server": {...}} view' },
    });
  }

  listInstanceActions(target: ComputeTarget, serverId: string): Promise<ComputeResult<{ instanceActions: InstanceAction[] }>> {
    return this.call(target, 'GET', `/servers/${encodeURIComponent(serverId)}/os-instance-actions`, {
      requestId: freshRequestId,
      parse: (json) =>
        isRecord(json) && Array.isArray(json.instanceActions) && json.instanceActions.every(isInstanceAction)
          ? { ok: true, value: { instanceActions: json.instanceActions } }
          : { ok: false, expected: 'an {"instanceActions": [...]} list' },
    });
  }

  private async call<T>(
    target: ComputeTarget,
    method: 'GET' | 'POST',
    path: string,
    spec: {
      body?: string;
      requestId: () => string;
      parse: (json: unknown) => { ok: true; value: T } | { ok: false; expected: string };
    },
  ): Promise<ComputeResult<T>> {
    if (!MICROVERSION.test(target.microversion)) {
      throw new TypeError(`microversion must be "2.N", got ${JSON.stringify(target.microversion.slice(0, 20))}`);
    }
    const what = `Compute API ${method} ${path}`;
    for (let attempt = 1; ; attempt++) {
      let session: Session;
      try {
        session = await this.auth.session(target.tenantId);
      } catch (error) {
        if (error instanceof KeystoneFault) return error.fault;
        throw error;
      }
      const answer = await this.http.send({
        method,
        url: new URL(`${session.computeBaseUrl}${path}`),
        headers: {
          'X-Auth-Token': session.token,
          'X-OpenStack-Nova-API-Version': target.microversion,
          'OpenStack-API-Version': `compute ${target.microversion}`,
          'X-Openstack-Request-Id': spec.requestId(),
          'Content-Type': 'application/json',
          Accept: 'application/json',
          'User-Agent': this.options.userAgent,
        },
        ...(spec.body !== undefined ? { body: spec.body } : {}),
        what,
      });
      const computeRequestId = firstHeader(answer.headers, 'x-compute-request-id') ?? firstHeader(answer.headers, 'x-openstack-request-id');

      if (answer.status === 401) {
        const idNote = computeRequestId !== undefined ? ` (${computeRequestId})` : '';
        if (!this.auth.canReauthenticate) {
          throw new ComputeAuthError(`${what}: the Compute API refused COMPUTE_TOKEN (401)${idNote}`, 401);
        }
        if (attempt >= 2) {
          throw new ComputeAuthError(`${what}: the Compute API refused a freshly issued Keystone token (401)${idNote}`, 401);
        }
        this.auth.invalidate(target.tenantId, session.token);
        continue;
      }

      if (answer.status >= 200 && answer.status <= 299) {
        const json = parseJson(answer.text);
        const parsed = spec.parse(json);
        if (parsed.ok) return { ok: true, status: answer.status, computeRequestId, body: parsed.value };
        // A 2xx we cannot read (a proxy's page, a truncated body) is no answer at all; the caller
        // retries it like a lost response rather than acting on a guess.
        throw new ComputeTransportError(
          `${what} answered ${answer.status}${computeRequestId ? ` (${computeRequestId})` : ''} but not with ${parsed.expected}: ${snippet(answer.text)}`,
          true,
        );
      }
      return parseFault(answer, this.options);
    }
  }
}

function freshRequestId(): string {
  return `req-${randomUUID()}`;
}

function isServerView(value: unknown): value is ServerView {
  return isRecord(value) && typeof value.id === 'string' && typeof value.status === 'string';
}

function isInstanceAction(value: unknown): value is InstanceAction {
  return isRecord(value) && typeof value.action === 'string' && typeof value.request_id === 'string' && typeof value.start_time === 'string';
}

// ---------------------------------------------------------------------------------------------
// Faults

const MAX_MESSAGE_CHARS = 1_000;
const MAX_SNIPPET_CHARS = 200;

/**
 * Reads a non-2xx answer: status first; then the body's single top-level key as the fault name
 * (`conflictingRequest`, `itemNotFound`, Keystone's `error`, ...) and its `message`; a body that is
 * not JSON gives the status line and a short sanitised snippet.
 */
function parseFault(answer: HttpAnswer, options: ResolvedOptions): ComputeFault {
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
function sanitise(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\s]+/g, ' ').trim();
}

/** A short, tag-free excerpt of a body for messages (an HTML error page from a proxy, say). */
function snippet(text: string | undefined): string {
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

// ---------------------------------------------------------------------------------------------
// Small helpers

function resolveOptions(options: ComputeHttpOptions): ResolvedOptions {
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

function firstHeader(headers: HttpAnswer['headers'], name: string): string | undefined {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
