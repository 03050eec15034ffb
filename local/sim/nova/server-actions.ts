/**
 * The scene-setting server actions: lock/unlock (02e), pause/unpause, suspend/resume, os-stop/
 * os-start, shelve/unshelve, rescue/unrescue and the admin os-resetState. Each takes effect at
 * once (Nova's pausing/powering-off task states are not modelled) but checks lock and state like
 * Nova's @check_instance_lock / @check_instance_state, with the same 409 messages as rebuild.
 */
import { generateAdminPassword } from '../ids.js';
import type { SimResponse } from '../http/types.js';
import { isJsonObject, type JsonObject } from '../python.js';
import { badRequest, instanceLocked, invalidState, policyForbids } from './errors.js';
import type { ServerAction } from './body.js';
import { lockSchemaV273, resetStateSchema, validateBody } from './schemas.js';
import { getServer, type NovaRequest } from './request.js';
import { novaOk } from './respond.js';
import { PowerState, recordAction, taskStateAt, type ServerRecord, type VmState } from './servers.js';

interface Transition {
  /** The action's name in Nova's 409 messages and in os-instance-actions. */
  name: string;
  from: VmState[];
  to: VmState;
  power: number;
  event: string;
}

const TRANSITIONS: Partial<Record<ServerAction, Transition>> = {
  pause: { name: 'pause', from: ['active'], to: 'paused', power: PowerState.PAUSED, event: 'compute_pause_instance' },
  unpause: { name: 'unpause', from: ['paused'], to: 'active', power: PowerState.RUNNING, event: 'compute_unpause_instance' },
  suspend: { name: 'suspend', from: ['active'], to: 'suspended', power: PowerState.SUSPENDED, event: 'compute_suspend_instance' },
  resume: { name: 'resume', from: ['suspended'], to: 'active', power: PowerState.RUNNING, event: 'compute_resume_instance' },
  'os-stop': { name: 'stop', from: ['active', 'error'], to: 'stopped', power: PowerState.SHUTDOWN, event: 'compute_stop_instance' },
  'os-start': { name: 'start', from: ['stopped'], to: 'active', power: PowerState.RUNNING, event: 'compute_start_instance' },
  // shelved_offload_time defaults to 0: a shelved server is offloaded at once.
  shelve: {
    name: 'shelve',
    from: ['active', 'stopped', 'paused', 'suspended'],
    to: 'shelved_offloaded',
    power: PowerState.NOSTATE,
    event: 'compute_shelve_instance',
  },
  unshelve: {
    name: 'unshelve',
    from: ['shelved', 'shelved_offloaded'],
    to: 'active',
    power: PowerState.RUNNING,
    event: 'compute_unshelve_instance',
  },
  rescue: { name: 'rescue', from: ['active', 'stopped', 'error'], to: 'rescued', power: PowerState.RUNNING, event: 'compute_rescue_instance' },
  unrescue: { name: 'unrescue', from: ['rescued'], to: 'active', power: PowerState.RUNNING, event: 'compute_unrescue_instance' },
};

function record(req: NovaRequest, server: ServerRecord, action: string, event: string | null): void {
  recordAction(server, action, req.ctx.requestId, req.auth.userId, server.tenantId, req.ctx.now, event);
  server.updatedAt = req.ctx.now;
}

function lock(req: NovaRequest, server: ServerRecord, body: JsonObject): SimResponse {
  let reason: string | null = null;
  if (req.mv.atLeast('2.73')) {
    const invalid = validateBody(body, lockSchemaV273);
    if (invalid !== null) throw badRequest(invalid);
    if (isJsonObject(body.lock) && typeof body.lock.locked_reason === 'string') reason = body.lock.locked_reason;
  }
  // Nova records who locked: the owner's project, or an admin from elsewhere.
  server.lockedBy = server.tenantId === req.auth.projectId ? 'owner' : 'admin';
  server.lockedReason = reason;
  record(req, server, 'lock', null);
  return novaOk(req.ctx, req.mv, 202, null);
}

function unlock(req: NovaRequest, server: ServerRecord): SimResponse {
  if (server.lockedBy === 'admin' && !req.auth.isAdmin) {
    throw policyForbids('os_compute_api:os-lock-server:unlock:unlock_override');
  }
  server.lockedBy = null;
  server.lockedReason = null;
  record(req, server, 'unlock', null);
  return novaOk(req.ctx, req.mv, 202, null);
}

function resetState(req: NovaRequest, server: ServerRecord, body: JsonObject): SimResponse {
  if (!req.auth.isAdmin) throw policyForbids('os_compute_api:os-admin-actions:reset_state');
  const invalid = validateBody(body, resetStateSchema);
  if (invalid !== null) throw badRequest(invalid);
  const state = isJsonObject(body['os-resetState']) && body['os-resetState'].state === 'error' ? 'error' : 'active';
  server.transition = null;
  server.taskState = null;
  server.vmState = state;
  record(req, server, 'reset_state', null);
  return novaOk(req.ctx, req.mv, 202, null);
}

/** Any server action other than rebuild. */
export function serverAction(req: NovaRequest, serverId: string, action: ServerAction, body: JsonObject): SimResponse {
  const server = getServer(req, serverId);
  if (action === 'lock') return lock(req, server, body);
  if (action === 'unlock') return unlock(req, server);
  if (action === 'os-resetState') return resetState(req, server, body);
  const t = TRANSITIONS[action];
  if (!t) throw badRequest(`There is no such action: ${action}`);
  if (server.lockedBy !== null && !req.auth.isAdmin) throw instanceLocked(server.id);
  if (!t.from.includes(server.vmState)) throw invalidState(t.name, server.id, 'vm_state', server.vmState);
  const task = taskStateAt(server, req.ctx.now);
  if (task !== null) throw invalidState(t.name, server.id, 'task_state', task);
  server.vmState = t.to;
  server.powerState = t.power;
  record(req, server, t.name, t.event);
  if (action === 'rescue') return novaOk(req.ctx, req.mv, 200, { adminPass: generateAdminPassword() });
  return novaOk(req.ctx, req.mv, 202, null);
}
