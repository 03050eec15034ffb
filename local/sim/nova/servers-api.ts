/** POST /servers, GET/DELETE /servers/{id} (the lists are server-list.ts). */
import { randomUUID } from 'node:crypto';
import { generateAdminPassword } from '../ids.js';
import type { SimResponse } from '../http/types.js';
import { isJsonObject, type JsonValue } from '../python.js';
import { badRequest, instanceLocked, malformedBody } from './errors.js';
import { findFlavor } from './flavors.js';
import { createSchema, validateBody } from './schemas.js';
import { getServer, type NovaRequest } from './request.js';
import { novaOk } from './respond.js';
import { getFlags, selfLink, serverView } from './views.js';

export function showServer(req: NovaRequest, id: string): SimResponse {
  const server = getServer(req, id);
  return novaOk(req.ctx, req.mv, 200, { server: serverView(server, req.view, getFlags(req.view)) });
}

/** Nova's soft delete: listed as DELETED by changes-since only (11h), 404 to everything else (11i). */
export function deleteServer(req: NovaRequest, id: string): SimResponse {
  const server = getServer(req, id);
  if (server.lockedBy !== null && !req.auth.isAdmin) throw instanceLocked(server.id);
  req.core.store.delete(server.id, req.ctx.now, req.ctx.requestId, req.auth.userId);
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
