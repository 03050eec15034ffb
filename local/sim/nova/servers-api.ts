/** GET/POST /servers, GET /servers/detail, GET/DELETE /servers/{id}. */
import { randomUUID } from 'node:crypto';
import { generateAdminPassword } from '../ids.js';
import type { SimResponse } from '../http/types.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../python.js';
import { badRequest, instanceLocked, malformedBody } from './errors.js';
import { findFlavor } from './flavors.js';
import { createSchema, validateBody } from './schemas.js';
import { getServer, type NovaRequest } from './request.js';
import { novaOk } from './respond.js';
import type { ServerRecord } from './servers.js';
import { getFlags, selfLink, serverBasicView, serverView } from './views.js';

/** limit/marker paging with a `servers_links` next link when a page is full. */
function page(req: NovaRequest, servers: ServerRecord[], collection: string): { items: ServerRecord[]; links: JsonValue | null } {
  const limitParam = req.ctx.query.get('limit');
  const marker = req.ctx.query.get('marker');
  let items = servers;
  if (marker !== null) {
    const at = items.findIndex((s) => s.id === marker);
    if (at < 0) throw badRequest(`Marker ${marker} could not be found.`);
    items = items.slice(at + 1);
  }
  const limit = limitParam === null ? 1000 : Number(limitParam);
  if (!Number.isInteger(limit) || limit < 0) throw badRequest(`Invalid input for query parameters limit. Value: ${limitParam}.`);
  items = items.slice(0, limit);
  const last = items[items.length - 1];
  const links =
    last && items.length === limit
      ? [{ rel: 'next', href: `${selfLink(req.links, collection)}?limit=${limit}&marker=${last.id}` }]
      : null;
  return { items, links };
}

export function listServers(req: NovaRequest, detail: boolean): SimResponse {
  const all = req.core.store.list(req.auth.projectId, req.ctx.now);
  const { items, links } = page(req, all, detail ? 'servers/detail' : 'servers');
  const views = items.map((s) => (detail ? serverView(s, req.view, getFlags(req.view)) : serverBasicView(s, req.view)));
  const body: JsonObject = { servers: views };
  if (links) body.servers_links = links;
  return novaOk(req.ctx, req.mv, 200, body);
}

export function showServer(req: NovaRequest, id: string): SimResponse {
  const server = getServer(req, id);
  return novaOk(req.ctx, req.mv, 200, { server: serverView(server, req.view, getFlags(req.view)) });
}

export function deleteServer(req: NovaRequest, id: string): SimResponse {
  const server = getServer(req, id);
  if (server.lockedBy !== null && !req.auth.isAdmin) throw instanceLocked(server.id);
  req.core.store.delete(server.id);
  return novaOk(req.ctx, req.mv, 204, null);
}

/** A trimmed server create: name, image, flavor, metadata; the server goes through BUILD. */
export function createServer(req: NovaRequest, body: JsonValue | undefined): SimResponse {
  if (body === undefined) throw malformedBody();
  const invalid = validateBody(body, createSchema(req.mv));
  if (invalid !== null) throw badRequest(invalid);
  const spec = isJsonObject(body) && isJsonObject(body.server) ? body.server : {};
  const image = req.core.images.get(typeof spec.imageRef === 'string' ? spec.imageRef : '');
  if (!image) throw badRequest('Can not find requested image');
  const flavorId = String(spec.flavorRef);
  if (!findFlavor(flavorId)) throw badRequest('Invalid flavorRef provided.');
  const metadata = isJsonObject(spec.metadata)
    ? Object.fromEntries(Object.entries(spec.metadata).map(([k, v]) => [k, String(v)]))
    : {};
  const server = req.core.store.add({
    id: randomUUID(),
    tenantId: req.auth.projectId ?? '',
    userId: req.auth.userId,
    name: String(spec.name),
    imageId: image.id,
    flavorId,
    metadata,
    now: req.ctx.now,
    requestId: req.ctx.requestId,
    buildMs: req.core.options.buildMs,
    keyName: typeof spec.key_name === 'string' ? spec.key_name : null,
    description: typeof spec.description === 'string' ? spec.description : null,
    accessIPv4: typeof spec.accessIPv4 === 'string' ? spec.accessIPv4 : null,
    accessIPv6: typeof spec.accessIPv6 === 'string' ? spec.accessIPv6 : null,
  });
  const location = selfLink(req.links, `servers/${server.id}`);
  return novaOk(
    req.ctx,
    req.mv,
    202,
    {
      server: {
        id: server.id,
        links: [
          { rel: 'self', href: location },
          { rel: 'bookmark', href: location.replace('/compute/v2.1/', '/compute/') },
        ],
        'OS-DCF:diskConfig': server.diskConfig,
        security_groups: [{ name: 'default' }],
        adminPass: typeof spec.adminPass === 'string' ? spec.adminPass : generateAdminPassword(),
      },
    },
    location,
  );
}
