/**
 * The Compute API adapter: implements the `ComputeApi` port with the Nova calls the worker makes,
 * over the shared transport and authenticated by a fixed token or Keystone. Every answer becomes a
 * `ComputeResult`; refused credentials a `ComputeAuthError`; no answer a `ComputeTransportError`.
 *
 * Retries: this client makes none except one re-authentication after a 401, because the worker
 * owns the retry policy (it knows the job's budget and whether a rebuild may already be running).
 */
import { randomUUID } from 'node:crypto';
import {
  ComputeTransportError,
  ComputeAuthError,
  type ComputeApi,
  type ComputeResult,
  type ComputeTarget,
  type ImageView,
  type InstanceAction,
  type ServerList,
  type ServerListQuery,
  type ServerView,
} from './compute.js';
import { type ComputeConfig, ComputeConfigError } from './config.js';
import { imageAnswer, instanceActionsAnswer, serverAnswer, serverListAnswer } from './answers.js';
import { parseFault, parseJson, plainText } from './faults.js';
import { type Authenticator, FixedTokenAuthenticator, KeystoneAuthenticator, KeystoneFault, type Session } from './keystone.js';
import { type ComputeHttpOptions, HttpClient, type ResolvedOptions, firstHeader, resolveOptions, sharedAgent } from './transport.js';

/** Builds the `ComputeApi` for a parsed config; build it once per process (module scope). */
export function createComputeApi(config: ComputeConfig, options: ComputeHttpOptions = {}): ComputeApi {
  const resolved = resolveOptions(options);
  const http = new HttpClient(sharedAgent(resolved, config.caCert), resolved);
  const auth: Authenticator =
    config.kind === 'fixed'
      ? new FixedTokenAuthenticator(config.computeUrl, config.token.reveal())
      : new KeystoneAuthenticator(config, http, resolved);
  return new HttpComputeApi(auth, http, resolved);
}

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
      parse: (json) => {
        const answer = serverAnswer.safeParse(json);
        return { ok: true, value: answer.success ? { server: answer.data.server as ServerView } : {} };
      },
    });
  }

  getServer(target: ComputeTarget, serverId: string): Promise<ComputeResult<{ server: ServerView }>> {
    return this.call(target, 'GET', `/servers/${encodeURIComponent(serverId)}`, {
      requestId: freshRequestId,
      parse: (json) => {
        const answer = serverAnswer.safeParse(json);
        return answer.success ? { ok: true, value: { server: answer.data.server as ServerView } } : { ok: false, expected: 'a {"server": {...}} view' };
      },
    });
  }

  async listServers(target: ComputeTarget, query: ServerListQuery): Promise<ComputeResult<ServerList>> {
    const servers: ServerView[] = [];
    let marker: string | undefined;
    let last: ComputeResult<{ servers: ServerView[]; next?: string }> | undefined;
    let pages = 0;
    while (pages < query.maxPages) {
      const params = new URLSearchParams(query.filters);
      if (query.changesSince !== undefined) params.set('changes-since', query.changesSince);
      // The next page is asked for by its marker on our own endpoint: the href Nova writes names
      // the host it thinks it is on, which behind a proxy may not be reachable from here.
      if (marker !== undefined) params.set('marker', marker);
      const q = params.toString();
      last = await this.call(target, 'GET', `/servers/detail${q ? `?${q}` : ''}`, {
        requestId: freshRequestId,
        parse: (json) => {
          const answer = serverListAnswer.safeParse(json);
          if (!answer.success) return { ok: false, expected: 'a {"servers": [...]} list' };
          const next = nextMarker(answer.data.servers_links);
          return { ok: true, value: { servers: answer.data.servers as ServerView[], ...(next ? { next } : {}) } };
        },
      });
      pages++;
      if (!last.ok) return last;
      servers.push(...last.body.servers);
      marker = last.body.next;
      if (marker === undefined) break;
    }
    const status = last?.status ?? 200;
    return { ok: true, status, ...(last?.computeRequestId ? { computeRequestId: last.computeRequestId } : {}), body: { servers, pages, complete: marker === undefined } };
  }

  listInstanceActions(target: ComputeTarget, serverId: string): Promise<ComputeResult<{ instanceActions: InstanceAction[] }>> {
    return this.call(target, 'GET', `/servers/${encodeURIComponent(serverId)}/os-instance-actions`, {
      requestId: freshRequestId,
      parse: (json) => {
        const answer = instanceActionsAnswer.safeParse(json);
        return answer.success ? { ok: true, value: { instanceActions: answer.data.instanceActions as InstanceAction[] } } : { ok: false, expected: 'an {"instanceActions": [...]} list' };
      },
    });
  }

  private baseUrl(session: Session, service: 'image' | undefined, what: string): string {
    if (service !== 'image') return session.computeBaseUrl;
    if (session.imageBaseUrl === undefined) throw new ComputeConfigError(`${what}: the Keystone catalog offers no image service at the compute endpoint's interface and region`, ['OS_INTERFACE', 'OS_REGION_NAME']);
    return session.imageBaseUrl;
  }

  getImage(target: ComputeTarget, imageId: string): Promise<ComputeResult<{ image: ImageView }>> {
    return this.call(target, 'GET', `/v2/images/${encodeURIComponent(imageId)}`, {
      service: 'image',
      requestId: freshRequestId,
      parse: (json) => {
        const answer = imageAnswer.safeParse(json);
        if (!answer.success) return { ok: false, expected: 'an image' };
        const { id, status, min_disk, min_ram } = answer.data;
        return { ok: true, value: { image: { id, status, ...(min_disk !== undefined ? { min_disk } : {}), ...(min_ram !== undefined ? { min_ram } : {}) } } };
      },
    });
  }

  private async call<T>(
    target: ComputeTarget,
    method: 'GET' | 'POST',
    path: string,
    spec: {
      /** Glance instead of Nova: on the catalog's image endpoint. */
      service?: 'image';
      body?: string;
      requestId: () => string;
      parse: (json: unknown) => { ok: true; value: T } | { ok: false; expected: string };
    },
  ): Promise<ComputeResult<T>> {
    if (!MICROVERSION.test(target.microversion)) {
      throw new TypeError(`microversion must be "2.N", got ${JSON.stringify(target.microversion.slice(0, 20))}`);
    }
    const what = `${spec.service === 'image' ? 'Image API' : 'Compute API'} ${method} ${path}`;
    for (let attempt = 1; ; attempt++) {
      let session: Session;
      try {
        session = await this.auth.session(target.tenantId);
      } catch (error) {
        // Keystone could not issue a token: the Compute request was never sent.
        if (error instanceof KeystoneFault) return { ...error.fault, unsent: true };
        throw error;
      }
      const answer = await this.http.send({
        method,
        url: new URL(`${this.baseUrl(session, spec.service, what)}${path}`),
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
          `${what} answered ${answer.status}${computeRequestId ? ` (${computeRequestId})` : ''} but not with ${parsed.expected}: ${plainText(answer.text)}`,
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

/** The `marker` of a `servers_links` entry with rel "next" (12a), if any. */
function nextMarker(links: { rel: string; href: string }[] | undefined): string | undefined {
  for (const link of links ?? []) {
    if (link.rel !== 'next') continue;
    try {
      return new URL(link.href, 'http://nova.invalid/').searchParams.get('marker') ?? undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}


