/**
 * The Compute API's routes under /compute. Nova routes `/v2.1/{project_id}/servers...` and
 * `/v2.1/servers...` alike (03zb), a project id being hex digits and dashes (ProjectMapper); a
 * method a route does not have is no route at all (GET or PUT on /action → 404, 03w/03x).
 */

export type Endpoint =
  | { name: 'list' }
  | { name: 'detail' }
  | { name: 'create' }
  | { name: 'show'; serverId: string }
  | { name: 'delete'; serverId: string }
  | { name: 'action'; serverId: string }
  | { name: 'actions'; serverId: string }
  | { name: 'action-show'; serverId: string; requestId: string };

export type ComputePath =
  | { kind: 'versions' }
  | { kind: 'version' }
  | { kind: 'api'; projectInUrl: string | null; endpoint: Endpoint | null };

const PROJECT_ID = /^[0-9a-f-]+$/;

function match(method: string, rest: string[]): Endpoint | null {
  const [collection, id, sub, subId, ...extra] = rest;
  if (collection !== 'servers' || extra.length > 0) return null;
  if (id === undefined) {
    if (method === 'GET') return { name: 'list' };
    if (method === 'POST') return { name: 'create' };
    return null;
  }
  if (id === 'detail' && sub === undefined) return method === 'GET' ? { name: 'detail' } : null;
  if (id === '') return null;
  if (sub === undefined) {
    if (method === 'GET') return { name: 'show', serverId: id };
    if (method === 'DELETE') return { name: 'delete', serverId: id };
    return null;
  }
  if (sub === 'action' && subId === undefined) return method === 'POST' ? { name: 'action', serverId: id } : null;
  if (sub === 'os-instance-actions' && method === 'GET') {
    if (subId === undefined) return { name: 'actions', serverId: id };
    if (subId !== '') return { name: 'action-show', serverId: id, requestId: decodeURIComponent(subId) };
  }
  return null;
}

/** Parses the part of the path after `/compute`. */
export function parseComputePath(method: string, path: string): ComputePath {
  if (path === '' || path === '/') return { kind: 'versions' };
  if (path === '/v2.1' || path === '/v2.1/') return { kind: 'version' };
  if (!path.startsWith('/v2.1/')) return { kind: 'api', projectInUrl: null, endpoint: null };
  const rest = path.slice('/v2.1/'.length).split('/');
  if (rest[rest.length - 1] === '' && rest.length > 1) rest.pop();
  const first = rest[0] ?? '';
  if (PROJECT_ID.test(first) && rest.length > 1) {
    return { kind: 'api', projectInUrl: first, endpoint: match(method, rest.slice(1)) };
  }
  return { kind: 'api', projectInUrl: null, endpoint: match(method, rest) };
}
