/** One authenticated Compute API request, past microversion and content-type checks. */
import type { SimCore } from '../core.js';
import type { RequestContext } from '../http/types.js';
import type { AuthContext } from '../keystone/tokens.js';
import { instanceNotFound } from './errors.js';
import type { Microversion } from './microversion.js';
import type { ServerRecord } from './servers.js';
import type { LinkBase, ViewContext } from './views.js';

export interface NovaRequest {
  ctx: RequestContext;
  core: SimCore;
  auth: AuthContext;
  mv: Microversion;
  links: LinkBase;
  view: ViewContext;
}

/**
 * compute_api.get as a project member sees it: another project's server is a 404 too (03z, k06a).
 * Admins reach every project's servers (Nova's legacy admin_or_owner policy).
 */
export function getServer(req: NovaRequest, id: string): ServerRecord {
  const server = req.core.store.get(id, req.ctx.now);
  if (!server || (server.tenantId !== req.auth.projectId && !req.auth.isAdmin)) throw instanceNotFound(id);
  return server;
}

/**
 * The server whose os-instance-actions are read: from 2.21 Nova reads them with read_deleted='yes',
 * so a deleted server's actions (its `delete` last) stay readable; before, it is a 404 like 11i.
 */
export function getServerForActions(req: NovaRequest, id: string): ServerRecord {
  if (!req.mv.atLeast('2.21')) return getServer(req, id);
  const server = req.core.store.find(id, req.ctx.now);
  if (!server || (server.tenantId !== req.auth.projectId && !req.auth.isAdmin)) throw instanceNotFound(id);
  return server;
}
