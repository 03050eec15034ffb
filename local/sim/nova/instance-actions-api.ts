/**
 * GET /servers/{id}/os-instance-actions[/{request_id}]: newest first (05a), paged from 2.58 with
 * limit/marker and a `links` next entry (05c), events on the detail (05b, 05d). This is how a client
 * learns whether a rebuild it is unsure about was accepted: the row's request_id is the
 * X-Openstack-Request-Id of the 202.
 */
import type { SimResponse } from '../http/types.js';
import type { JsonObject } from '../python.js';
import { badRequest, NovaFault } from './errors.js';
import { getServerForActions, type NovaRequest } from './request.js';
import { novaOk } from './respond.js';
import { instanceActionDetailView, instanceActionView, selfLink } from './views.js';

export function listInstanceActions(req: NovaRequest, serverId: string): SimResponse {
  const server = getServerForActions(req, serverId);
  // Newest first; rows of the same second keep their insertion order reversed (05a).
  let actions = [...server.actions].reverse();
  const body: JsonObject = {};
  if (req.mv.atLeast('2.58')) {
    const marker = req.ctx.query.get('marker');
    if (marker !== null) {
      const at = actions.findIndex((a) => a.requestId === marker);
      if (at < 0) throw badRequest(`Marker ${marker} could not be found.`);
      actions = actions.slice(at + 1);
    }
    const limitParam = req.ctx.query.get('limit');
    const limit = limitParam === null ? 1000 : Number(limitParam);
    if (!Number.isInteger(limit) || limit < 0) throw badRequest(`Invalid input for query parameters limit. Value: ${limitParam}.`);
    actions = actions.slice(0, limit);
    body.instanceActions = actions.map((a) => instanceActionView(server.id, a, req.view));
    const last = actions[actions.length - 1];
    if (last && actions.length === limit) {
      body.links = [
        {
          rel: 'next',
          href: `${selfLink(req.links, `servers/${server.id}/os-instance-actions`)}?limit=${limit}&marker=${last.requestId}`,
        },
      ];
    }
  } else {
    body.instanceActions = actions.map((a) => instanceActionView(server.id, a, req.view));
  }
  return novaOk(req.ctx, req.mv, 200, body);
}

export function showInstanceAction(req: NovaRequest, serverId: string, requestId: string): SimResponse {
  const server = getServerForActions(req, serverId);
  const action = server.actions.find((a) => a.requestId === requestId);
  if (!action) throw new NovaFault(404, `Action for request_id ${requestId} on instance ${server.id} not found`);
  return novaOk(req.ctx, req.mv, 200, { instanceAction: instanceActionDetailView(server, action, req.view) });
}
