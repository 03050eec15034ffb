/**
 * /_sim: the control API over HTTP, so a separate process (the worker under test, a shell) can set
 * scenes and arm faults. Unauthenticated, loopback only, never logged in the request log.
 *
 *   GET    /_sim                              the simulator's URLs, tenant, credentials
 *   GET    /_sim/servers[/{id}]               snapshots        POST /_sim/servers   create one
 *   PATCH  /_sim/servers/{id}                 force vmState / taskState / locked / tags
 *   DELETE /_sim/servers/{id}                 delete it now, even mid-rebuild (Nova's soft delete)
 *   POST   /_sim/servers/{id}/fail-next-rebuild   {"message"?}
 *   GET    /_sim/rebuild-counts
 *   GET|POST|DELETE /_sim/faults              {"kind","fault":{"type",...},"times"?,"serverId"?}
 *   PUT    /_sim/capacity                     {"maxConcurrentRebuilds": K | null}
 *   GET|DELETE /_sim/requests
 *   GET    /_sim/clock    POST /_sim/clock/advance {"ms"}
 *   POST   /_sim/tokens {"userName"?,"projectId"?,"roles"?,"lifetimeMs"?}
 *   POST   /_sim/tokens/revoke {"token"}      POST /_sim/tokens/expire {"token"?}
 */
import { z } from 'zod';
import type { SimControl } from '../control.js';
import { FaultRuleSchema } from '../faults.js';
import type { RequestContext, SimResponse } from '../http/types.js';
import { TASK_STATES } from '../nova/servers.js';

const CreateServer = z.object({
  name: z.string().optional(),
  tenantId: z.string().optional(),
  imageId: z.string().optional(),
  userName: z.string().optional(),
  buildMs: z.number().min(0).nullable().optional(),
  id: z.string().optional(),
});
const VM_STATES = ['active', 'building', 'stopped', 'paused', 'suspended', 'shelved', 'shelved_offloaded', 'rescued', 'error'] as const;
const StatePatch = z.object({
  vmState: z.enum(VM_STATES).optional(),
  taskState: z.enum(TASK_STATES).nullable().optional(),
  powerState: z.number().int().optional(),
  locked: z.union([z.boolean(), z.literal('owner'), z.literal('admin')]).optional(),
  lockedReason: z.string().nullable().optional(),
  tags: z.array(z.string()).optional(),
});
const Capacity = z.object({ maxConcurrentRebuilds: z.number().int().min(0).nullable() });
const Advance = z.object({ ms: z.number().min(0) });
const FailNext = z.object({ message: z.string().optional() });
const IssueToken = z.object({
  userName: z.string().optional(),
  projectId: z.string().nullable().optional(),
  roles: z.array(z.string()).optional(),
  lifetimeMs: z.number().min(0).optional(),
});
const TokenRef = z.object({ token: z.string() });
const OptionalTokenRef = z.object({ token: z.string().optional() });

function json(status: number, body: unknown): SimResponse {
  const text = status === 204 ? '' : JSON.stringify(body);
  const headers: [string, string][] = text === '' ? [] : [['Content-Type', 'application/json']];
  return { status, headers, body: text };
}

function parse<T>(schema: z.ZodType<T>, ctx: RequestContext): T {
  let raw: unknown = {};
  if (ctx.body.length > 0) raw = JSON.parse(ctx.body.toString('utf8'));
  return schema.parse(raw);
}

function route(ctx: RequestContext, control: SimControl, info: () => unknown): SimResponse {
  const parts = ctx.path.replace(/\/+$/, '').split('/').slice(2);
  const [first, id, sub] = parts;
  const m = ctx.method;
  if (first === undefined && m === 'GET') return json(200, info());
  if (first === 'servers') {
    if (id === undefined && m === 'GET') return json(200, control.servers());
    if (id === undefined && m === 'POST') return json(201, control.createServer(parse(CreateServer, ctx)));
    if (id !== undefined && sub === undefined && m === 'GET') return json(200, control.server(id));
    if (id !== undefined && sub === undefined && m === 'PATCH') return json(200, control.setServerState(id, parse(StatePatch, ctx)));
    if (id !== undefined && sub === undefined && m === 'DELETE') {
      return control.deleteServer(id) ? json(204, null) : json(404, { error: `server ${id} is already deleted` });
    }
    if (id !== undefined && sub === 'fail-next-rebuild' && m === 'POST') {
      control.failNextRebuild(id, parse(FailNext, ctx).message);
      return json(204, null);
    }
  }
  if (first === 'rebuild-counts' && m === 'GET') return json(200, control.rebuildCounts());
  if (first === 'faults') {
    if (m === 'GET') return json(200, control.pendingFaults());
    if (m === 'POST') return json(201, { id: control.injectFault(parse(FaultRuleSchema, ctx)) });
    if (m === 'DELETE') {
      control.clearFaults();
      return json(204, null);
    }
  }
  if (first === 'capacity' && m === 'PUT') {
    control.setMaxConcurrentRebuilds(parse(Capacity, ctx).maxConcurrentRebuilds);
    return json(204, null);
  }
  if (first === 'requests') {
    if (m === 'GET') return json(200, control.requests());
    if (m === 'DELETE') {
      control.clearRequests();
      return json(204, null);
    }
  }
  if (first === 'clock') {
    if (id === undefined && m === 'GET') return json(200, { now: control.now() });
    if (id === 'advance' && m === 'POST') {
      control.advanceClock(parse(Advance, ctx).ms);
      return json(200, { now: control.now() });
    }
  }
  if (first === 'tokens' && m === 'POST') {
    if (id === undefined) return json(201, { token: control.issueToken(parse(IssueToken, ctx)) });
    if (id === 'revoke') return json(200, { revoked: control.revokeToken(parse(TokenRef, ctx).token) });
    if (id === 'expire') return json(200, { expired: control.expireTokens(parse(OptionalTokenRef, ctx).token) });
  }
  return json(404, { error: `no admin route ${m} ${ctx.path}` });
}

/** Handles /_sim...; a malformed body is a 400 naming the problem. */
export function handleAdmin(ctx: RequestContext, control: SimControl, info: () => unknown): SimResponse {
  try {
    return route(ctx, control, info);
  } catch (error) {
    const message = error instanceof z.ZodError ? z.prettifyError(error) : error instanceof Error ? error.message : String(error);
    return json(400, { error: message });
  }
}
