/**
 * Who the client is to OpenStack: a fixed token, or Keystone v3 tokens (password scoped to the
 * job's project, or an application credential) cached until shortly before they expire, and the
 * compute endpoint from the token's catalog.
 */
import { ComputeAuthError, type ComputeFault, ComputeTransportError } from './compute.js';
import { type ApplicationCredentialConfig, ComputeConfigError, type EndpointInterface, type PasswordAuthConfig } from './config.js';
import { catalogService, tokenAnswer } from './answers.js';
import { parseFault, parseJson } from './faults.js';
import { type HttpAnswer, type HttpClient, type ResolvedOptions, describeError, firstHeader } from './transport.js';

/** A token and the compute base URL (tenant substituted, no trailing slash) to use it with. */
export interface Session {
  token: string;
  computeBaseUrl: string;
  /** Glance's base URL from the same catalog (interface and region), when it offers one; a fixed token has none. */
  imageBaseUrl?: string;
}

export interface Authenticator {
  /** False for a fixed token: a 401 cannot be cured by asking again. */
  readonly canReauthenticate: boolean;
  /** Resolves a session, or throws `ComputeAuthError`, `ComputeTransportError` or `KeystoneFault`. */
  session(tenantId: string): Promise<Session>;
  /** Forgets `token` (only if it is still the cached one) after Nova refused it. */
  invalidate(tenantId: string, token: string): void;
}

/** Keystone answered something other than success or refused credentials (a 503, a 429, ...). */
export class KeystoneFault extends Error {
  constructor(readonly fault: ComputeFault) {
    super(fault.message);
  }
}

export class FixedTokenAuthenticator implements Authenticator {
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
  imageUrl: string | undefined;
}

export class KeystoneAuthenticator implements Authenticator {
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
    return {
      token: entry.token,
      computeBaseUrl: substituteTenant(entry.computeUrlTemplate, tenantId),
      ...(entry.imageUrl !== undefined ? { imageBaseUrl: entry.imageUrl.replace(/\/+$/, '') } : {}),
    };
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
    const parsed = tokenAnswer.safeParse(parseJson(answer.text));
    const tokenBody = parsed.success ? parsed.data.token : undefined;
    if (token === undefined || tokenBody === undefined) {
      throw new ComputeAuthError(
        `Keystone answered ${answer.status} to the ${this.describeCredential(tenantId)} without a usable token`,
        answer.status,
      );
    }
    const project = tokenBody.project?.id;
    const entry: CachedToken = {
      token,
      refreshAt: this.refreshAt(sentAt, tokenBody.issued_at, tokenBody.expires_at),
      projectId: project,
      computeUrlTemplate: selectComputeEndpoint(tokenBody.catalog, config.interface, config.region),
      imageUrl: selectImageEndpoint(tokenBody.catalog, config.interface, config.region),
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

/** A catalog's endpoints of one service type. */
function catalogEndpoints(catalog: unknown[] | undefined, type: 'compute' | 'image') {
  return (catalog ?? [])
    .flatMap((entry) => {
      const service = catalogService.safeParse(entry);
      return service.success && service.data.type === type ? service.data.endpoints : [];
    })
    .map((endpoint) => ({ interface: endpoint.interface, region: endpoint.region_id ?? endpoint.region ?? '', url: endpoint.url }))
    .filter((endpoint) => endpoint.url !== '');
}

/**
 * The image service (Glance) at the interface and region compute was taken from; undefined when the
 * catalog has none there. Only a plan reads it (jobs/plan.ts), so its absence is no error: the plan
 * says the image was not checked.
 */
function selectImageEndpoint(catalog: unknown[] | undefined, wantedInterface: EndpointInterface, region: string | undefined): string | undefined {
  const matching = catalogEndpoints(catalog, 'image').filter((e) => e.interface === wantedInterface && (region === undefined || e.region === region));
  return new Set(matching.map((e) => e.region)).size === 1 ? matching[0]?.url : undefined;
}

/** Picks the compute endpoint for the interface and region from a Keystone v3 catalog. */
function selectComputeEndpoint(catalog: unknown[] | undefined, wantedInterface: EndpointInterface, region: string | undefined): string {
  const variables = ['OS_INTERFACE', 'OS_REGION_NAME'];
  const endpoints = catalogEndpoints(catalog, 'compute');
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
export function substituteTenant(template: string, tenantId: string): string {
  const tenant = encodeURIComponent(tenantId);
  return template
    .replace(/%\(tenant_id\)s|\$\(tenant_id\)s|%\(project_id\)s|\$\(project_id\)s|\{tenant_id\}|\{project_id\}/g, tenant)
    .replace(/\/+$/, '');
}
