/**
 * POST /servers/{id}/action {"rebuild": ...}, in the order Nova 26 checks things
 * (servers.py _action_rebuild, then compute/api.py rebuild):
 * schema for the microversion (400, 03c–03n, 04b, 04e) → the server (404, 03a) → its lock, unless
 * admin (409, 02f–02h) → vm_state ACTIVE/STOPPED/ERROR then task_state none (409, 02a–02c) →
 * key_name (400) → the image (400 "Cannot find image for rebuild", 03b) → metadata and personality
 * quotas (403, 03o, 06*) → the simulator's capacity limit (503) → 202 with the view, adminPass
 * and, from 2.57, user_data (01, 04*).
 */
import { generateAdminPassword } from '../ids.js';
import type { SimResponse } from '../http/types.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../python.js';
import { badRequest, instanceLocked, invalidState, NovaFault } from './errors.js';
import { rebuildSchema, validateBody } from './schemas.js';
import { getServer, type NovaRequest } from './request.js';
import { novaOk } from './respond.js';
import { startRebuild, taskStateAt, type ServerRecord } from './servers.js';
import { rebuildFlags, selfLink, serverView } from './views.js';

const REBUILDABLE = ['active', 'stopped', 'error'];

/** 403 `forbidden` quota messages (QuotaError subclasses), limits from the options. */
function checkQuotas(req: NovaRequest, metadata: JsonValue | undefined, personality: JsonValue | undefined): void {
  const q = req.core.options.quotas;
  if (isJsonObject(metadata) && Object.keys(metadata).length > q.metadataItems) {
    throw new NovaFault(403, `Maximum number of metadata items exceeds ${q.metadataItems}`); // 06b, 06f
  }
  if (!Array.isArray(personality) || personality.length === 0) return;
  if (personality.length > q.injectedFiles) throw new NovaFault(403, 'Personality file limit exceeded'); // 06c, 06g
  let maxPath = 0;
  let maxContent = 0;
  for (const file of personality) {
    if (!isJsonObject(file)) continue;
    // Nova compares len() of the path and of the still-encoded contents.
    maxPath = Math.max(maxPath, [...String(file.path ?? '')].length);
    maxContent = Math.max(maxContent, [...String(file.contents ?? '')].length);
  }
  if (maxPath > q.injectedFilePathBytes) {
    throw new NovaFault(403, `Personality file path exceeds maximum ${q.injectedFilePathBytes}`); // 03o
  }
  if (maxContent > q.injectedFileContentBytes) {
    throw new NovaFault(403, `Personality file content exceeds maximum ${q.injectedFileContentBytes}`); // 06d
  }
}

function checkState(server: ServerRecord, now: number): void {
  if (!REBUILDABLE.includes(server.vmState)) throw invalidState('rebuild', server.id, 'vm_state', server.vmState);
  const task = taskStateAt(server, now);
  if (task !== null) throw invalidState('rebuild', server.id, 'task_state', task);
}

function applyAttributes(req: NovaRequest, server: ServerRecord, r: JsonObject): void {
  if (typeof r.name === 'string') server.name = r.name.trim();
  if (isJsonObject(r.metadata)) {
    server.metadata = Object.fromEntries(Object.entries(r.metadata).map(([k, v]) => [k, String(v)]));
  }
  if (typeof r.accessIPv4 === 'string') server.accessIPv4 = r.accessIPv4;
  if (typeof r.accessIPv6 === 'string') server.accessIPv6 = r.accessIPv6;
  if (r['OS-DCF:diskConfig'] === 'AUTO' || r['OS-DCF:diskConfig'] === 'MANUAL') server.diskConfig = r['OS-DCF:diskConfig'];
  if (req.mv.atLeast('2.19') && 'description' in r) server.description = typeof r.description === 'string' ? r.description : null;
  if (req.mv.atLeast('2.54') && 'key_name' in r) server.keyName = typeof r.key_name === 'string' ? r.key_name : null;
  if (req.mv.atLeast('2.63') && 'trusted_image_certificates' in r) {
    const certs = r.trusted_image_certificates;
    server.trustedCerts = Array.isArray(certs) ? certs.map(String) : null;
  }
  if (req.mv.atLeast('2.90') && typeof r.hostname === 'string') server.hostname = r.hostname;
}

/** Handles a rebuild action; throws NovaFault for every refusal. */
export function rebuild(req: NovaRequest, serverId: string, body: JsonObject): SimResponse {
  const invalid = validateBody(body, rebuildSchema(req.mv));
  if (invalid !== null) throw badRequest(invalid);
  const r = body.rebuild;
  if (!isJsonObject(r)) throw badRequest('rebuild is not an object'); // unreachable after the schema
  const password = typeof r.adminPass === 'string' ? r.adminPass : generateAdminPassword();

  const { core, ctx } = req;
  const server = getServer(req, serverId);
  if (server.lockedBy !== null && !req.auth.isAdmin) throw instanceLocked(server.id);
  checkState(server, ctx.now);

  if (req.mv.atLeast('2.54') && typeof r.key_name === 'string' && !core.options.keypairs.includes(r.key_name)) {
    throw badRequest('Invalid key_name provided.');
  }
  const image = core.images.get(String(r.imageRef));
  if (!image) throw badRequest('Cannot find image for rebuild');
  if (image.status !== 'active') throw badRequest(`Image ${image.id} is not active.`);
  checkQuotas(req, r.metadata, r.personality);

  const limit = core.options.maxConcurrentRebuilds;
  if (limit !== null && core.store.rebuildsInFlight(ctx.now) >= limit) {
    throw new NovaFault(503, 'Server capacity is unavailable. Please try again later.', 'serverCapacityUnavailable');
  }

  applyAttributes(req, server, r);
  server.imageId = image.id;
  startRebuild(server, core.rebuildTimer.next(), ctx.now, {
    requestId: ctx.requestId,
    userId: req.auth.userId,
    projectId: server.tenantId,
  });
  core.store.noteRebuild(server);

  const view = serverView(server, req.view, rebuildFlags(req.view));
  view.adminPass = password;
  // Echoed, never stored: the simulator keeps no user_data (see views.ts).
  if (req.mv.atLeast('2.57')) view.user_data = typeof r.user_data === 'string' ? r.user_data : null;
  return novaOk(ctx, req.mv, 202, { server: view }, selfLink(req.links, `servers/${server.id}`));
}
