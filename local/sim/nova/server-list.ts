/**
 * GET /servers and /servers/detail: servers.py _get_servers and compute/api.py get_all, step by
 * step in Nova's order, so that of two faults the one Nova finds first is the one answered:
 * query schema (400, 11e/12e/13i; unknown parameters dropped, 13g) → options a member may not
 * filter on dropped (an admin keeps them all) → joined-table or "_" filters (400) → status (an
 * unknown one is an empty list before 2.38, 13e; a 400 from 2.38) → changes-since / -before (only
 * then are deleted servers listed, 11h) → tags (2.26) → all_tenants (an admin's lists every
 * project, 13j; a member's is a 403, the policy being admin-only) → locked (2.73) → limit / marker
 * (max_limit 1000; 0 → empty, 12d) → sort keys (ignored ones dropped) → flavor / ip filters that
 * cannot match → an unknown marker (400, 12c) → the database (instance-query.ts) → views, and a
 * `servers_links` next link when the page is full (12a, 12b, 12f, 13c, 13g, 13j).
 */
import type { SimResponse } from '../http/types.js';
import type { JsonObject, JsonValue } from '../python.js';
import { badRequest, NovaFault, policyForbids } from './errors.js';
import { findFlavor } from './flavors.js';
import { queryInstances, type FilterValue } from './instance-query.js';
import { IGNORED_SORT_KEYS, JOINED_TABLE_PARAMS, validateListQuery } from './list-schema.js';
import { parseIsoTime } from '../iso8601.js';
import type { NovaRequest } from './request.js';
import { novaOk } from './respond.js';
import type { ServerRecord } from './servers.js';
import { statesForStatuses } from './states.js';
import { selfLink, serverBasicView, serverListView } from './views.js';

/** CONF.api.max_limit. */
export const MAX_LIMIT = 1000;

const PAGING_SORTING_PARAMS = ['sort_key', 'sort_dir', 'limit', 'marker'];
const TAG_FILTERS = ['tags', 'tags-any', 'not-tags', 'not-tags-any'];
const TRUE_STRINGS = ['1', 't', 'true', 'on', 'y', 'yes'];
const FALSE_STRINGS = ['0', 'f', 'false', 'off', 'n', 'no'];

/** _get_server_search_options: what a member may filter on at `req.mv`. */
function memberSearchOptions(req: NovaRequest): string[] {
  const opts = ['reservation_id', 'name', 'status', 'image', 'flavor', 'ip', 'changes-since', 'all_tenants'];
  if (req.mv.atLeast('2.5')) opts.push('ip6');
  if (req.mv.atLeast('2.26')) opts.push(...TAG_FILTERS);
  if (req.mv.atLeast('2.66')) opts.push('changes-before');
  if (req.mv.atLeast('2.73')) opts.push('locked');
  if (req.mv.atLeast('2.83')) {
    opts.push('availability_zone', 'config_drive', 'key_name', 'created_at', 'launched_at', 'terminated_at', 'power_state', 'task_state', 'vm_state', 'progress', 'user_id');
  }
  if (req.mv.atLeast('2.90')) opts.push('hostname');
  return opts;
}

/** oslo strutils.bool_from_string; strict raises InvalidInput, a 400 with this message. */
function boolFromString(value: string, strict: boolean, fallback = false): boolean {
  const lowered = value.trim().toLowerCase();
  if (TRUE_STRINGS.includes(lowered)) return true;
  if (FALSE_STRINGS.includes(lowered)) return false;
  if (!strict) return fallback;
  const acceptable = [...TRUE_STRINGS, ...FALSE_STRINGS].sort().map((s) => `'${s}'`).join(', ');
  throw badRequest(`Unrecognized value '${value}', acceptable values are: ${acceptable}`);
}

/** common.is_all_tenants: present and empty counts as true. */
function isAllTenants(opts: Map<string, FilterValue>): boolean {
  const value = opts.get('all_tenants');
  if (value === undefined) return false;
  return value === '' ? true : boolFromString(String(value), true);
}

/** Python's urllib.parse.quote_plus. */
function quotePlus(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replaceAll('%20', '+');
}

/**
 * common.ViewBuilder._get_next_link: the request's parameters (after the schema's stripping)
 * sorted — Python sorts the (name, value) pairs, and the last of a repeated name wins — with
 * `marker` set to the page's last id: last, unless the request already had one (12b).
 */
export function nextLink(req: NovaRequest, params: [string, string][], collection: string, lastId: string): string {
  const sorted = [...params].sort(([ka, va], [kb, vb]) => (ka < kb ? -1 : ka > kb ? 1 : va < vb ? -1 : va > vb ? 1 : 0));
  const merged = new Map<string, string>(sorted);
  merged.set('marker', lastId);
  const query = [...merged].map(([k, v]) => `${quotePlus(k)}=${quotePlus(v)}`).join('&');
  return `${selfLink(req.links, collection)}?${query}`;
}

function last(params: [string, string][], name: string): string | undefined {
  let found: string | undefined;
  for (const [k, v] of params) if (k === name) found = v;
  return found;
}

function all(params: [string, string][], name: string): string[] {
  return params.filter(([k]) => k === name).map(([, v]) => v);
}

/** common.get_sort_params then remove_invalid_sort_keys, then InstanceSortContext's uuid. */
function sortOrder(req: NovaRequest, params: [string, string][]): { keys: string[]; dirs: string[] } {
  let keys = all(params, 'sort_key').map((k) => k.trim());
  let dirs = all(params, 'sort_dir').map((d) => d.trim());
  if (keys.length === 0) keys = ['created_at'];
  if (dirs.length === 0) dirs = ['desc'];
  const ignored = req.mv.atLeast('2.73') ? IGNORED_SORT_KEYS.filter((k) => k !== 'locked') : IGNORED_SORT_KEYS;
  for (const key of [...keys]) {
    if (ignored.includes(key)) {
      const at = keys.indexOf(key);
      if (dirs.length > at) dirs.splice(at, 1);
      keys.splice(at, 1);
    } else if ((key === 'host' || key === 'node') && !req.auth.isAdmin) {
      throw new NovaFault(403, `Only administrators can sort servers by ${key}`);
    }
  }
  if (keys.length === 0) {
    keys = ['created_at', 'id'];
    dirs = ['desc', 'desc'];
  }
  if (!keys.includes('uuid')) {
    keys.push('uuid');
    dirs.push('asc');
  }
  return { keys, dirs };
}

function respond(req: NovaRequest, detail: boolean, servers: ServerRecord[], params: [string, string][]): SimResponse {
  const body: JsonObject = {
    servers: servers.map((s) => (detail ? serverListView(s, req.view) : serverBasicView(s, req.view))),
  };
  // _get_collection_links: a next link when the page is as long as it could be.
  const limitParam = last(params, 'limit');
  const maxItems = Math.min(limitParam === undefined ? MAX_LIMIT : Number(limitParam), MAX_LIMIT);
  const lastServer = servers[servers.length - 1];
  if (maxItems > 0 && maxItems === servers.length && lastServer) {
    const links: JsonValue = [{ rel: 'next', href: nextLink(req, params, detail ? 'servers/detail' : 'servers', lastServer.id) }];
    body.servers_links = links;
  }
  return novaOk(req.ctx, req.mv, 200, body);
}

export function listServers(req: NovaRequest, detail: boolean): SimResponse {
  const params = validateListQuery(req.ctx.query, req.mv);
  const empty = (): SimResponse => novaOk(req.ctx, req.mv, 200, { servers: [] });

  // search_opts.update(req.GET): each name once, its last value, in order of first appearance.
  const opts = new Map<string, FilterValue>(params);
  if (req.auth.isAdmin) {
    for (const key of PAGING_SORTING_PARAMS) opts.delete(key);
  } else {
    const allowed = memberSearchOptions(req);
    for (const key of [...opts.keys()]) if (!allowed.includes(key)) opts.delete(key);
  }
  for (const key of opts.keys()) {
    if (JOINED_TABLE_PARAMS.includes(key) || key.startsWith('_')) throw badRequest(`Invalid filter field: ${key}.`);
  }

  opts.delete('status');
  if (params.some(([k]) => k === 'status')) {
    const { vmStates, taskStates } = statesForStatuses(all(params, 'status'));
    if (vmStates.length === 0 && taskStates.length === 0) {
      if (req.mv.atLeast('2.38')) throw badRequest('Invalid status value');
      return empty(); // 13e
    }
    opts.set('vm_state', vmStates);
    if (!taskStates.includes('default')) opts.set('task_state', taskStates);
  }

  for (const key of ['changes-since', 'changes-before']) {
    const raw = opts.get(key);
    if (raw === undefined) continue;
    const at = parseIsoTime(String(raw));
    if (at === null) throw badRequest(`Invalid filter field: ${key}.`);
    opts.set(key, at);
  }
  const since = opts.get('changes-since');
  const before = opts.get('changes-before');
  if (typeof since === 'number' && typeof before === 'number' && before < since) {
    throw badRequest('The value of changes-since must be less than or equal to changes-before.');
  }

  // Deleted servers only with changes-since or changes-before, unless an admin says `deleted`.
  const deleted = opts.get('deleted');
  if (deleted === undefined) {
    if (since === undefined && before === undefined) opts.set('deleted', false);
  } else {
    opts.set('deleted', boolFromString(String(deleted), false, false));
  }
  const vmState = opts.get('vm_state');
  if (Array.isArray(vmState) && vmState.length === 1 && vmState[0] === 'deleted') {
    if (!req.auth.isAdmin) throw new NovaFault(403, 'Only administrators may list deleted instances');
    opts.set('deleted', true);
  }

  if (req.mv.atLeast('2.26')) {
    for (const key of TAG_FILTERS) {
      const value = opts.get(key);
      if (value !== undefined) opts.set(key, String(value).split(','));
    }
  }

  const allTenants = isAllTenants(opts);
  opts.delete('all_tenants');
  if (opts.has('locked')) opts.set('locked', boolFromString(String(opts.get('locked')), true));
  if (allTenants) {
    // The policy (servers:detail:get_all_tenants, servers:index:get_all_tenants) is admin-only.
    if (!req.auth.isAdmin) throw policyForbids(`os_compute_api:servers:${detail ? 'detail' : 'index'}:get_all_tenants`);
  } else {
    opts.delete('tenant_id');
    if (req.auth.projectId !== null) opts.set('project_id', req.auth.projectId);
    else opts.set('user_id', req.auth.userId);
  }

  const limitParam = last(params, 'limit');
  const limit = Math.min(MAX_LIMIT, limitParam === undefined ? MAX_LIMIT : Number(limitParam));
  const markerId = last(params, 'marker');
  const { keys, dirs } = sortOrder(req, params);

  // compute API get_all: its remaps, and the filters it knows cannot match.
  const filters = new Map<string, FilterValue>();
  for (const [opt, value] of opts) {
    if (opt === 'image') filters.set('image_ref', value);
    else if (opt === 'name') filters.set('display_name', value);
    else if (opt === 'tenant_id') filters.set('project_id', value);
    else if (opt === 'flavor') {
      const flavor = findFlavor(String(value));
      if (!flavor) return respond(req, detail, [], params); // FlavorNotFound: an empty list
      filters.set('instance_type_id', Number(flavor.id));
    } else filters.set(opt, value);
  }
  // Neutron finds no port of a simulated server, so an ip filter matches nothing.
  if (filters.has('ip') || filters.has('ip6')) return respond(req, detail, [], params);

  let marker: ServerRecord | null = null;
  if (markerId) {
    marker = req.core.store.find(markerId, req.ctx.now) ?? null;
    if (!marker) throw badRequest(`marker [${markerId}] not found`); // 12c
  }
  // A sort direction the database refuses fails the query in every cell, and Nova skips failed
  // cells: an empty list, not an error.
  if (dirs.length > keys.length || dirs.some((d) => d !== 'asc' && d !== 'desc')) return respond(req, detail, [], params);

  const servers = queryInstances(req.core.store, { filters, limit, marker, sortKeys: keys, sortDirs: dirs, now: req.ctx.now });
  return respond(req, detail, servers, params);
}
