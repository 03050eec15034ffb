/**
 * The Compute API under /compute, in the order Nova's middleware and wsgi layer act:
 * keystonemiddleware (401, k04*) → route (webob 404, 03w) → microversion (400/406, 04h/04i) →
 * Content-Type (415, 03q) → body / action name (400, 03s/03u/03v) → URL project vs token project
 * (400, 03za/k06c) → the handler.
 */
import type { SimCore } from '../core.js';
import { authRejected } from '../http/auth-reject.js';
import { header, type RequestContext, type SimResponse } from '../http/types.js';
import { pyDumps, type JsonObject } from '../python.js';
import { peekAction, parseJson, type PeekedAction } from './body.js';
import { NovaFault, projectMismatch, unsupportedContentType } from './errors.js';
import { listInstanceActions, showInstanceAction } from './instance-actions-api.js';
import { MAX_MICROVERSION, MIN_MICROVERSION, negotiateMicroversion } from './microversion.js';
import { parseComputePath, type Endpoint } from './paths.js';
import { rebuild } from './rebuild.js';
import type { NovaRequest } from './request.js';
import { novaFault, routeNotFound } from './respond.js';
import { serverAction } from './server-actions.js';
import { listServers } from './server-list.js';
import { createServer, deleteServer, showServer } from './servers-api.js';

const SUPPORTED_CONTENT_TYPES = ['application/json', 'application/vnd.openstack.compute+json'];

/** wsgi.Request.get_content_type: absent, empty or text/plain means JSON (03p, 03r); others are 415. */
function contentTypeFault(ctx: RequestContext): NovaFault | null {
  const raw = header(ctx, 'Content-Type');
  if (raw === undefined) return null;
  const type = raw.split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === '' || type === 'text/plain' || SUPPORTED_CONTENT_TYPES.includes(type)) return null;
  return unsupportedContentType();
}

function versionDoc(core: SimCore): JsonObject {
  return {
    id: 'v2.1',
    status: 'CURRENT',
    version: MAX_MICROVERSION.toString(),
    min_version: MIN_MICROVERSION.toString(),
    updated: '2013-07-23T11:33:21Z',
    links: [{ rel: 'self', href: `${core.baseUrl}/compute/v2.1/` }],
  };
}

function plainJson(ctx: RequestContext, status: number, body: JsonObject): SimResponse {
  const text = pyDumps(body);
  return {
    status,
    headers: [
      ['Content-Type', 'application/json'],
      ['Content-Length', String(Buffer.byteLength(text))],
      ['X-Openstack-Request-Id', ctx.requestId],
      ['X-Compute-Request-Id', ctx.requestId],
    ],
    body: text,
  };
}

function dispatch(req: NovaRequest, endpoint: Endpoint, action: PeekedAction | null): SimResponse {
  switch (endpoint.name) {
    case 'list':
      return listServers(req, false);
    case 'detail':
      return listServers(req, true);
    case 'show':
      return showServer(req, endpoint.serverId);
    case 'delete':
      return deleteServer(req, endpoint.serverId);
    case 'actions':
      return listInstanceActions(req, endpoint.serverId);
    case 'action-show':
      return showInstanceAction(req, endpoint.serverId, endpoint.requestId);
    case 'create':
      return createServer(req, req.ctx.body.length === 0 ? null : parseJson(req.ctx.body));
    case 'action':
      if (action === null) throw new NovaFault(400, 'Malformed request body');
      return action.action === 'rebuild'
        ? rebuild(req, endpoint.serverId, action.body)
        : serverAction(req, endpoint.serverId, action.action, action.body);
  }
}

/** Handles a path under /compute (`path` is what follows "/compute"). */
export function handleCompute(ctx: RequestContext, core: SimCore, path: string): SimResponse {
  const parsed = parseComputePath(ctx.method, path);
  if (parsed.kind === 'versions') return plainJson(ctx, 200, { versions: [versionDoc(core)] });
  if (parsed.kind === 'version') return plainJson(ctx, 200, { version: versionDoc(core) });

  const auth = core.tokens.validateForService(header(ctx, 'X-Auth-Token'), ctx.now);
  if (!auth) return authRejected(ctx, `${core.baseUrl}/identity`, 'compute');
  if (!parsed.endpoint) return routeNotFound(ctx);

  const negotiated = negotiateMicroversion(ctx);
  if (!negotiated.ok) return novaFault(ctx, negotiated.version, negotiated.fault);
  const mv = negotiated.version;
  const links = { hostUrl: ctx.hostUrl, projectInUrl: parsed.projectInUrl };
  const req: NovaRequest = { ctx, core, auth, mv, links, view: { mv, isAdmin: auth.isAdmin, links, now: ctx.now } };
  try {
    const badType = contentTypeFault(ctx);
    if (badType) throw badType;
    // action_peek runs before the project check (an unknown action wins over a wrong project).
    let action: PeekedAction | null = null;
    if (parsed.endpoint.name === 'action') {
      const peeked = peekAction(ctx.body);
      if (peeked instanceof NovaFault) throw peeked;
      action = peeked;
    } else if (parsed.endpoint.name === 'create' && ctx.body.length > 0 && parseJson(ctx.body) === undefined) {
      throw new NovaFault(400, 'Malformed request body');
    }
    if (parsed.projectInUrl !== null && parsed.projectInUrl !== auth.projectId) {
      throw projectMismatch(parsed.projectInUrl, auth.projectId);
    }
    return dispatch(req, parsed.endpoint, action);
  } catch (error) {
    if (error instanceof NovaFault) return novaFault(ctx, mv, error);
    throw error;
  }
}
