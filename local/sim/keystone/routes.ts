/**
 * Keystone v3 token API: POST (issue, k01/k02), GET (validate, k25), DELETE (revoke, k05b) on
 * /identity/v3/auth/tokens (also /v3/auth/tokens), plus the version documents. Keystone's errors are
 * compact, key-sorted JSON with a newline (k02b–k02e) and a WWW-Authenticate header on 401.
 */
import { z } from 'zod';
import type { SimCore } from '../core.js';
import { header, type RequestContext, type SimResponse } from '../http/types.js';
import { pyDumps, type JsonObject, type JsonValue } from '../python.js';
import { keystoneTime } from '../timefmt.js';
import { buildCatalog } from './catalog.js';
import { DEFAULT_DOMAIN, type AppCredential, type Project, type Role, type User } from './identity.js';
import type { TokenRecord } from './tokens.js';

const REASONS: Record<number, string> = {
  200: 'OK',
  201: 'CREATED',
  204: 'NO CONTENT',
  300: 'MULTIPLE CHOICES',
  400: 'BAD REQUEST',
  401: 'UNAUTHORIZED',
  404: 'NOT FOUND',
  405: 'METHOD NOT ALLOWED',
};

const REQUIRES_AUTH = 'The request you have made requires authentication.';

function sortKeys(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k] ?? null)]));
}

function respond(ctx: RequestContext, status: number, body: string, extra: [string, string][] = []): SimResponse {
  const headers: [string, string][] = [];
  if (body !== '') headers.push(['Content-Type', 'application/json'], ['Content-Length', String(Buffer.byteLength(body))]);
  headers.push(...extra, ['Vary', 'X-Auth-Token'], ['x-openstack-request-id', ctx.requestId], ['Connection', 'close']);
  return { status, statusText: REASONS[status] ?? 'OK', headers, body };
}

/** Keystone's error body: `{"error":{"code":N,"message":"...","title":"..."}}` plus a newline. */
function keystoneError(
  ctx: RequestContext,
  core: SimCore,
  status: number,
  title: string,
  message: string,
  extra: JsonObject = {},
): SimResponse {
  const body = `${JSON.stringify(sortKeys({ error: { code: status, message, title, ...extra } }))}\n`;
  const headers: [string, string][] =
    status === 401 ? [['WWW-Authenticate', `Keystone uri="${core.baseUrl}/identity/v3"`]] : [];
  return respond(ctx, status, body, headers);
}

const unauthorized = (ctx: RequestContext, core: SimCore, message = REQUIRES_AUTH, extra: JsonObject = {}): SimResponse =>
  keystoneError(ctx, core, 401, 'Unauthorized', message, extra);

function badRequest(ctx: RequestContext, core: SimCore, attribute: string, target: string): SimResponse {
  return keystoneError(
    ctx,
    core,
    400,
    'Bad Request',
    `Expecting to find ${attribute} in ${target}. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.`,
  );
}

const Domain = z.object({ id: z.string().optional(), name: z.string().optional() });
const Named = z.object({ id: z.string().optional(), name: z.string().optional(), domain: Domain.optional() });
const AuthRequest = z.object({
  auth: z.object({
    identity: z.object({
      methods: z.array(z.string()).min(1),
      password: z.object({ user: Named.extend({ password: z.string() }) }).optional(),
      application_credential: z
        .object({ id: z.string().optional(), name: z.string().optional(), secret: z.string(), user: Named.optional() })
        .optional(),
      token: z.object({ id: z.string() }).optional(),
    }),
    scope: z.union([z.literal('unscoped'), z.record(z.string(), z.unknown())]).optional(),
  }),
});
type AuthRequest = z.infer<typeof AuthRequest>;
const ProjectScope = z.object({ project: Named });

function inDefaultDomain(domain: z.infer<typeof Domain> | undefined): boolean {
  return domain === undefined || domain.id === DEFAULT_DOMAIN.id || domain.name === DEFAULT_DOMAIN.name;
}

/** The token body, in k01's key order. */
function tokenBody(core: SimCore, token: TokenRecord): JsonObject {
  const body: JsonObject = {
    methods: token.methods,
    user: { domain: { ...DEFAULT_DOMAIN }, id: token.user.id, name: token.user.name, password_expires_at: null },
    audit_ids: [token.auditId],
    expires_at: keystoneTime(token.expiresAt),
    issued_at: keystoneTime(token.issuedAt),
  };
  if (token.project) {
    body.project = { domain: { ...DEFAULT_DOMAIN }, id: token.project.id, name: token.project.name };
    body.is_domain = false;
    body.roles = token.roles.map((r) => ({ id: r.id, name: r.name }));
    body.catalog = buildCatalog(core.baseUrl, token.project.id, token.user.id);
  }
  if (token.appCredential) {
    body.application_credential = { id: token.appCredential.id, name: token.appCredential.name, restricted: true };
  }
  return { token: body };
}

type Scope = { kind: 'unscoped' } | { kind: 'project'; project: Project } | { kind: 'invalid' };

function resolveScope(core: SimCore, scope: AuthRequest['auth']['scope']): Scope {
  if (scope === undefined || scope === 'unscoped') return { kind: 'unscoped' };
  const parsed = ProjectScope.safeParse(scope);
  if (!parsed.success || !inDefaultDomain(parsed.data.project.domain)) return { kind: 'invalid' };
  const project = core.identity.findProject(parsed.data.project);
  return project ? { kind: 'project', project } : { kind: 'invalid' };
}

function issue(
  ctx: RequestContext,
  core: SimCore,
  methods: string[],
  user: User,
  scope: Scope,
  appCredential: AppCredential | null,
): SimResponse {
  let project: Project | null = null;
  let roles: Role[] = [];
  if (appCredential) {
    project = core.identity.project(appCredential.projectId);
    roles = appCredential.roles;
  } else if (scope.kind === 'project') {
    roles = user.projectRoles.get(scope.project.id) ?? [];
    // k02e: a project the user has no role on is a plain 401.
    if (roles.length === 0) return unauthorized(ctx, core);
    project = scope.project;
  } else if (scope.kind === 'invalid') {
    return unauthorized(ctx, core);
  }
  const token = core.tokens.issue({ methods, user, project, roles, appCredential }, ctx.now);
  return respond(ctx, 201, pyDumps(tokenBody(core, token)), [['X-Subject-Token', token.id]]);
}

function authenticate(ctx: RequestContext, core: SimCore): SimResponse {
  let raw: unknown;
  try {
    raw = JSON.parse(ctx.body.toString('utf8'));
  } catch {
    return keystoneError(ctx, core, 400, 'Bad Request', 'Malformed JSON in request body.');
  }
  const parsed = AuthRequest.safeParse(raw);
  if (!parsed.success) return badRequest(ctx, core, 'auth.identity.methods', 'auth');
  const { identity, scope } = parsed.data.auth;
  const method = identity.methods[0];
  if (method === 'application_credential') {
    // k02b: checked before the secret.
    if (scope !== undefined) {
      return unauthorized(
        ctx,
        core,
        'Error authenticating with application credential: Application credentials cannot request a scope.',
        { identity: {} },
      );
    }
    const cred = identity.application_credential;
    if (!cred) return badRequest(ctx, core, 'application_credential', 'identity');
    const userRef = cred.user ? core.identity.findUser(cred.user) : undefined;
    const found =
      cred.id !== undefined
        ? core.identity.findAppCredential({ id: cred.id })
        : core.identity.findAppCredential({ name: cred.name ?? '', userId: userRef?.id ?? '' });
    if (!found || found.secret !== cred.secret) return unauthorized(ctx, core); // k02c
    return issue(ctx, core, ['application_credential'], found.user, { kind: 'unscoped' }, found);
  }
  if (method === 'password') {
    const ref = identity.password?.user;
    if (!ref) return badRequest(ctx, core, 'password', 'identity');
    const user = ref.id !== undefined || inDefaultDomain(ref.domain) ? core.identity.findUser(ref) : undefined;
    if (!user || user.password !== ref.password) return unauthorized(ctx, core); // k02d
    return issue(ctx, core, ['password'], user, resolveScope(core, scope), null);
  }
  if (method === 'token') {
    const existing = identity.token ? core.tokens.live(identity.token.id, ctx.now) : undefined;
    if (!existing) return unauthorized(ctx, core);
    return issue(ctx, core, ['token'], existing.user, resolveScope(core, scope), existing.appCredential);
  }
  return unauthorized(ctx, core, 'Attempted to authenticate with an unsupported method.');
}

/** GET/HEAD/DELETE /v3/auth/tokens: the caller's X-Auth-Token must be live; X-Subject-Token is the one asked about. */
function tokenOperation(ctx: RequestContext, core: SimCore): SimResponse {
  const caller = core.tokens.live(header(ctx, 'X-Auth-Token') ?? '', ctx.now);
  if (!caller) return unauthorized(ctx, core);
  const subjectId = header(ctx, 'X-Subject-Token') ?? '';
  const subject = core.tokens.live(subjectId, ctx.now);
  if (!subject) return keystoneError(ctx, core, 404, 'Not Found', 'Failed to validate token'); // k25
  if (ctx.method === 'DELETE') {
    core.tokens.revoke(subjectId);
    return respond(ctx, 204, ''); // k05b
  }
  const body = ctx.method === 'HEAD' ? '' : pyDumps(tokenBody(core, subject));
  return respond(ctx, 200, body, [['X-Subject-Token', subject.id]]);
}

function versionDoc(core: SimCore): JsonObject {
  return {
    id: 'v3.14',
    status: 'stable',
    updated: '2020-04-07T00:00:00Z',
    links: [{ rel: 'self', href: `${core.baseUrl}/identity/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  };
}

/** Handles a Keystone path (the part after /identity, or the whole /v3/... alias). */
export function handleKeystone(ctx: RequestContext, core: SimCore, path: string): SimResponse {
  const p = path.replace(/\/+$/, '');
  if (p === '/v3/auth/tokens') {
    if (ctx.method === 'POST') return authenticate(ctx, core);
    if (ctx.method === 'GET' || ctx.method === 'HEAD' || ctx.method === 'DELETE') return tokenOperation(ctx, core);
    return keystoneError(ctx, core, 405, 'Method Not Allowed', 'The method is not allowed for the requested URL.');
  }
  if (ctx.method === 'GET' && p === '/v3') return respond(ctx, 200, pyDumps({ version: versionDoc(core) }));
  if (ctx.method === 'GET' && p === '') {
    return respond(ctx, 300, pyDumps({ versions: { values: [versionDoc(core)] } }));
  }
  return keystoneError(ctx, core, 404, 'Not Found', 'The resource could not be found.');
}
