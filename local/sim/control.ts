/**
 * The test-facing control API: set scenes, arm faults, read counters and the request log, move
 * the clock, mint and kill tokens. Both startComputeSimulator's return value and the /_sim admin
 * endpoints go through this one class.
 */
import type { Script, Scripted, TappedRequest } from './http/scripts.js';
import { randomUUID } from 'node:crypto';
import type { SimCore } from './core.js';
import type { ArmedFault, FaultRule } from './faults.js';
import { newRequestId } from './ids.js';
import { roleFor, type User } from './keystone/identity.js';
import { statusOf, taskStateAt, updatedAt, type ServerRecord, type TaskState, type VmState } from './nova/servers.js';
import type { QuotaLimits } from './options.js';
import type { RequestLogEntry } from './request-log.js';
import { isoTime } from './timefmt.js';

/** A server as a test sees it at the simulator's current time. */
export interface ServerSnapshot {
  id: string;
  tenantId: string;
  name: string;
  status: string;
  vmState: VmState;
  taskState: TaskState | null;
  powerState: number;
  imageId: string;
  locked: boolean;
  updated: string;
  rebuildsAccepted: number;
  fault: { code: number; message: string } | null;
}

export interface CreateServerInput {
  name?: string;
  /** Default: the simulator's tenant. */
  tenantId?: string;
  /** Default: the first configured image. */
  imageId?: string;
  /** Owner; default the first user with a role on the project. */
  userName?: string;
  /** Go through BUILD for this long; default null (ACTIVE at once). */
  buildMs?: number | null;
  id?: string;
}

/** Forces a server's state, e.g. a task_state nobody would clear, or locked by an admin. */
export interface ServerStatePatch {
  vmState?: VmState;
  taskState?: TaskState | null;
  powerState?: number;
  /** true locks as the owner; "admin" as an admin of another project (only admins may unlock). */
  locked?: boolean | 'owner' | 'admin';
  lockedReason?: string | null;
  /** The server's tags (2.26), as PUT /servers/{id}/tags would set them: `updated` does not move (13f). */
  tags?: string[];
}

export interface IssueTokenInput {
  userName?: string;
  /** Default the simulator's tenant; null for an unscoped token. */
  projectId?: string | null;
  /** Default: the user's roles on the project. */
  roles?: string[];
  lifetimeMs?: number;
}

const POWER_FOR: Partial<Record<VmState, number>> = { active: 1, paused: 3, stopped: 4, suspended: 7, shelved_offloaded: 0 };

export class SimControl {
  constructor(private readonly core: SimCore) {}

  /** Simulator clock, ms. */
  now(): number {
    return this.core.clock.now();
  }

  /** Moves the simulator's clock forward (on top of whatever clock it was given). */
  advanceClock(ms: number): void {
    this.core.clock.advance(ms);
  }

  private userFor(projectId: string, name?: string): User {
    const users = this.core.identity.users;
    const user = name !== undefined ? users.find((u) => u.name === name) : users.find((u) => u.projectRoles.has(projectId));
    if (!user) throw new Error(name !== undefined ? `unknown user ${name}` : `no user has a role on project ${projectId}`);
    return user;
  }

  /** A server, deleted or not (reads). */
  private record(id: string): ServerRecord {
    const server = this.core.store.find(id, this.now());
    if (!server) throw new Error(`unknown server ${id}`);
    return server;
  }

  /** A server that is not deleted (changes). */
  private live(id: string): ServerRecord {
    const server = this.record(id);
    if (server.deletedAt !== null) throw new Error(`server ${id} is deleted`);
    return server;
  }

  private snapshot(server: ServerRecord): ServerSnapshot {
    const now = this.now();
    const taskState = taskStateAt(server, now);
    return {
      id: server.id,
      tenantId: server.tenantId,
      name: server.name,
      status: server.deletedAt !== null ? 'DELETED' : statusOf(server.vmState, taskState),
      vmState: server.vmState,
      taskState,
      powerState: server.powerState,
      imageId: server.imageId,
      locked: server.lockedBy !== null,
      updated: isoTime(updatedAt(server, now)),
      rebuildsAccepted: server.rebuildsAccepted,
      fault: server.vmState === 'error' && server.fault ? { code: server.fault.code, message: server.fault.message } : null,
    };
  }

  /** Adds a server (ACTIVE at once unless buildMs is given). */
  createServer(input: CreateServerInput = {}): ServerSnapshot {
    const tenantId = input.tenantId ?? this.core.options.tenantId;
    const user = this.userFor(tenantId, input.userName);
    const imageId = input.imageId ?? this.core.images.list()[0]?.id;
    if (imageId === undefined) throw new Error('no image configured');
    const server = this.core.store.add({
      id: input.id ?? randomUUID(),
      tenantId,
      userId: user.id,
      name: input.name ?? `sim-server-${Math.floor(Math.random() * 1e6)}`,
      imageId,
      flavorId: '1',
      now: this.now(),
      requestId: newRequestId(),
      buildMs: input.buildMs ?? null,
    });
    return this.snapshot(server);
  }

  server(id: string): ServerSnapshot {
    return this.snapshot(this.record(id));
  }

  servers(): ServerSnapshot[] {
    return this.core.store.all(this.now()).map((s) => this.snapshot(s));
  }

  setServerState(id: string, patch: ServerStatePatch): ServerSnapshot {
    const server = this.live(id);
    if (patch.vmState !== undefined) {
      server.transition = null;
      server.vmState = patch.vmState;
      server.powerState = POWER_FOR[patch.vmState] ?? server.powerState;
    }
    if (patch.taskState !== undefined) {
      server.transition = null;
      server.taskState = patch.taskState;
    }
    if (patch.powerState !== undefined) server.powerState = patch.powerState;
    if (patch.locked !== undefined) server.lockedBy = patch.locked === false ? null : patch.locked === 'admin' ? 'admin' : 'owner';
    if (patch.lockedReason !== undefined) server.lockedReason = patch.lockedReason;
    if (patch.tags !== undefined) server.tags = [...patch.tags];
    // Nova saves the instance (updated_at) for a state or lock change; tags live in their own table.
    const saved = [patch.vmState, patch.taskState, patch.powerState, patch.locked, patch.lockedReason].some((v) => v !== undefined);
    if (saved) server.updatedAt = this.now();
    return this.snapshot(server);
  }

  /**
   * Deletes a server now, as DELETE /servers/{id} does, even mid-rebuild (the rebuild then ends with
   * it): GET, rebuild and actions on it are 404 from here on (11i); changes-since lists show it as
   * DELETED (11h). False when it was already deleted.
   */
  deleteServer(id: string): boolean {
    const server = this.record(id);
    return this.core.store.delete(server.id, this.now(), newRequestId(), server.userId);
  }

  /** The next rebuild this server accepts ends in ERROR (status ERROR, fault set, action message "Error"). */
  failNextRebuild(id: string, message = 'Simulated rebuild failure'): void {
    this.live(id).failNextRebuild = message;
  }

  /** Rebuilds accepted (202, or processed before a reset) for this server. */
  rebuildCount(id: string): number {
    return this.record(id).rebuildsAccepted;
  }

  /**
   * Every rebuild the cloud ran or runs: when it began and when its task clears (the simulator's
   * clock, ms) — what benchmarks compute their bounds and end-to-end times from.
   */
  rebuildRuns(): { serverId: string; startedAt: number; endsAt: number }[] {
    const out: { serverId: string; startedAt: number; endsAt: number }[] = [];
    for (const s of this.core.store.all(this.now())) {
      for (const a of s.actions) {
        if (a.action !== 'rebuild') continue;
        const running = s.transition?.action === a ? s.transition.endsAt : null;
        const finished = a.events.find((e) => e.event === 'compute_rebuild_instance')?.finishTime ?? null;
        const endsAt = running ?? finished;
        if (endsAt !== null) out.push({ serverId: s.id, startedAt: a.startTime, endsAt });
      }
    }
    return out;
  }

  rebuildCounts(): Record<string, number> {
    return Object.fromEntries(this.core.store.all(this.now()).map((s) => [s.id, s.rebuildsAccepted]));
  }

  /** K concurrent rebuilds at most; one more is a 503 serverCapacityUnavailable. null: no limit. */
  setMaxConcurrentRebuilds(limit: number | null): void {
    if (limit !== null && !(limit >= 0)) throw new RangeError(`maxConcurrentRebuilds must be >= 0 or null, got ${limit}`);
    this.core.options.maxConcurrentRebuilds = limit;
  }

  /** Changes the rebuild quota limits (403 forbidden beyond them), e.g. to 06a's 1 / 1 / 16. */
  setQuotas(quotas: Partial<QuotaLimits>): void {
    for (const [key, value] of Object.entries(quotas) as [keyof QuotaLimits, number | undefined][]) {
      if (value === undefined) continue;
      if (!(value >= 0)) throw new RangeError(`quota ${key} must be >= 0, got ${value}`);
      this.core.options.quotas[key] = value;
    }
  }

  injectFault(rule: FaultRule): number {
    return this.core.faults.inject(rule);
  }

  pendingFaults(): ArmedFault[] {
    return this.core.faults.pending();
  }

  clearFaults(): void {
    this.core.faults.clear();
  }

  requests(): RequestLogEntry[] {
    return this.core.log.list();
  }

  clearRequests(): void {
    this.core.log.clear();
  }

  /**
   * Answers `method` on `path` (with its query; a RegExp tests it) as scripted, in place of the
   * simulator, until `clearScripts`: for a client's tests of what no cloud does on demand (http/scripts.ts).
   */
  script(method: string, path: string | RegExp, answer: Script | Scripted): void {
    this.core.scripts.on(method, path, answer);
  }

  /** Calls `listener` with each request as sent (headers, token, body), which the simulator never keeps. */
  tap(listener: (request: TappedRequest) => void): () => void {
    return this.core.scripts.tap(listener);
  }

  /** Drops every script and tap. */
  clearScripts(): void {
    this.core.scripts.clear();
  }

  /** Connections accepted since start. */
  connectionCount(): number {
    return this.core.connections.count;
  }

  /** Mints a Keystone token without going through POST /v3/auth/tokens. */
  issueToken(input: IssueTokenInput = {}): string {
    const projectId = input.projectId === undefined ? this.core.options.tenantId : input.projectId;
    const user = this.userFor(projectId ?? this.core.options.tenantId, input.userName);
    const roles = input.roles?.map(roleFor) ?? (projectId === null ? [] : (user.projectRoles.get(projectId) ?? []));
    const project = projectId === null ? null : this.core.identity.project(projectId);
    const token = this.core.tokens.issue(
      { methods: ['password'], user, project, roles, appCredential: null },
      this.now(),
      input.lifetimeMs,
    );
    return token.id;
  }

  /** Revokes a token in Keystone (Nova may keep accepting it for tokenCacheMs, see options). */
  revokeToken(token: string): boolean {
    return this.core.tokens.revoke(token);
  }

  /** Makes one token, or all of them, expire now. */
  expireTokens(token?: string): number {
    return this.core.tokens.expire(this.now(), token);
  }
}
