/**
 * Servers and their state machine. A transition (build or rebuild) stores its start and phase
 * times; the task_state, status and `updated` a reader sees are computed from the clock when read,
 * and a finished transition is folded into the record the first time it is observed (`settle`).
 * Nothing runs on timers, so a test that moves a fake clock sees exactly the states it expects.
 * `updated` moves at every task_state and vm_state change, on the simulator's own (possibly skewed)
 * clock, as Nova saves the instance at each (11a, 11b); a delete is Nova's soft delete: the record
 * stays, DELETED, for changes-since lists (11h) while every other request finds nothing (11i).
 */
import { generateAdminPassword, hostIdFor } from '../ids.js';
import type { RebuildTiming } from '../options.js';
import { PowerState, type TaskState, type VmState } from './states.js';

export { PowerState, statusOf, TASK_STATES, type TaskState, type VmState } from './states.js';

export interface ActionEvent {
  event: string;
  startTime: number;
  finishTime: number | null;
  result: 'Success' | 'Error' | null;
  traceback: string | null;
}

/** One row of os-instance-actions. */
export interface InstanceActionRecord {
  action: string;
  requestId: string;
  userId: string;
  projectId: string;
  startTime: number;
  updatedAt: number;
  message: string | null;
  /** Newest first, as Nova lists them (05b). */
  events: ActionEvent[];
}

export interface ServerFault {
  code: number;
  message: string;
  details: string;
  createdAt: number;
}

interface Phase {
  taskState: TaskState;
  startsAt: number;
}

type Outcome = { vmState: VmState; powerState: number } | { error: string };

interface Transition {
  kind: 'build' | 'rebuild';
  phases: Phase[];
  endsAt: number;
  outcome: Outcome;
  action: InstanceActionRecord;
}

export interface ServerRecord {
  id: string;
  tenantId: string;
  userId: string;
  name: string;
  imageId: string;
  flavorId: string;
  metadata: Record<string, string>;
  accessIPv4: string | null;
  accessIPv6: string | null;
  diskConfig: 'AUTO' | 'MANUAL';
  keyName: string | null;
  description: string | null;
  hostname: string;
  instanceNumber: number;
  reservationId: string;
  host: string;
  hostId: string;
  createdAt: number;
  updatedAt: number;
  launchedAt: number | null;
  /** When a delete ended the server (OS-SRV-USG:terminated_at, 11h). */
  terminatedAt: number | null;
  /** Set by a delete: the row is soft-deleted, listed only by changes-since (11h), 404 otherwise (11i). */
  deletedAt: number | null;
  vmState: VmState;
  /** The task_state outside a transition (a test may force one). */
  taskState: TaskState | null;
  powerState: number;
  lockedBy: 'owner' | 'admin' | null;
  lockedReason: string | null;
  trustedCerts: string[] | null;
  tags: string[];
  fault: ServerFault | null;
  transition: Transition | null;
  /** Set by `failNextRebuild`: the next accepted rebuild ends in ERROR with this message. */
  failNextRebuild: string | null;
  rebuildsAccepted: number;
  /** Oldest first; views reverse them. */
  actions: InstanceActionRecord[];
}

/** The compute host every simulated server runs on. */
export const SIM_HOST = 'sim-compute-1';

/** Folds a finished transition into the record. Call before reading or changing a server. */
export function settle(server: ServerRecord, now: number): void {
  const t = server.transition;
  if (!t || now < t.endsAt) return;
  server.transition = null;
  server.taskState = null;
  server.updatedAt = t.endsAt;
  t.action.updatedAt = t.endsAt;
  const open = t.action.events.find((e) => e.finishTime === null);
  if (open) open.finishTime = t.endsAt;
  if ('error' in t.outcome) {
    server.vmState = 'error';
    server.fault = {
      code: 500,
      message: t.outcome.error,
      details: `Traceback (most recent call last):\n  (simulated)\nnova.exception.BuildAbortException: ${t.outcome.error}\n`,
      createdAt: t.endsAt,
    };
    t.action.message = 'Error';
    if (open) {
      open.result = 'Error';
      open.traceback = server.fault.details;
    }
  } else {
    server.vmState = t.outcome.vmState;
    server.powerState = t.outcome.powerState;
    server.launchedAt = t.endsAt;
    if (open) open.result = 'Success';
  }
}

/** The task_state at `now` (settled servers only have the stored one). */
export function taskStateAt(server: ServerRecord, now: number): TaskState | null {
  if (!server.transition || now >= server.transition.endsAt) return server.taskState;
  let current: TaskState | null = server.taskState;
  for (const phase of server.transition.phases) if (phase.startsAt <= now) current = phase.taskState;
  return current;
}

/** `updated` at `now`: Nova saves the instance at every task_state change. */
export function updatedAt(server: ServerRecord, now: number): number {
  if (!server.transition) return server.updatedAt;
  // The last save of a transition is its end (vm_state set, task_state cleared), settled or not.
  if (now >= server.transition.endsAt) return server.transition.endsAt;
  let latest = server.updatedAt;
  for (const phase of server.transition.phases) if (phase.startsAt <= now) latest = Math.max(latest, phase.startsAt);
  return latest;
}

/** True while a rebuild of this server is in flight at `now` (what the capacity limit counts). */
export function isRebuilding(server: ServerRecord, now: number): boolean {
  return server.transition?.kind === 'rebuild' && now < server.transition.endsAt;
}

export interface NewServer {
  id: string;
  tenantId: string;
  userId: string;
  name: string;
  imageId: string;
  flavorId: string;
  metadata?: Record<string, string>;
  instanceNumber: number;
  now: number;
  requestId: string;
  /** Seeded servers start ACTIVE; created ones go through BUILD for `buildMs`. */
  buildMs: number | null;
  keyName?: string | null;
  description?: string | null;
  accessIPv4?: string | null;
  accessIPv6?: string | null;
}

function hostnameFrom(name: string): string {
  const cleaned = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
  return cleaned.length >= 2 ? cleaned : 'server';
}

/** A new server, ACTIVE at once or BUILDing, with its `create` instance action. */
export function newServer(spec: NewServer): ServerRecord {
  const action: InstanceActionRecord = {
    action: 'create',
    requestId: spec.requestId,
    userId: spec.userId,
    projectId: spec.tenantId,
    startTime: spec.now,
    updatedAt: spec.now,
    message: null,
    events: [],
  };
  const server: ServerRecord = {
    id: spec.id,
    tenantId: spec.tenantId,
    userId: spec.userId,
    name: spec.name,
    imageId: spec.imageId,
    flavorId: spec.flavorId,
    metadata: spec.metadata ?? {},
    accessIPv4: spec.accessIPv4 ?? null,
    accessIPv6: spec.accessIPv6 ?? null,
    diskConfig: 'MANUAL',
    keyName: spec.keyName ?? null,
    description: spec.description ?? null,
    hostname: hostnameFrom(spec.name),
    instanceNumber: spec.instanceNumber,
    reservationId: `r-${generateAdminPassword(8).toLowerCase()}`,
    host: SIM_HOST,
    hostId: hostIdFor(spec.tenantId, SIM_HOST),
    createdAt: spec.now,
    updatedAt: spec.now,
    launchedAt: spec.buildMs === null ? spec.now : null,
    terminatedAt: null,
    deletedAt: null,
    vmState: spec.buildMs === null ? 'active' : 'building',
    taskState: null,
    powerState: spec.buildMs === null ? PowerState.RUNNING : PowerState.NOSTATE,
    lockedBy: null,
    lockedReason: null,
    trustedCerts: null,
    tags: [],
    fault: null,
    transition: null,
    failNextRebuild: null,
    rebuildsAccepted: 0,
    actions: [action],
  };
  const event = (name: string, finish: number | null): ActionEvent => ({
    event: name,
    startTime: spec.now,
    finishTime: finish,
    result: finish === null ? null : 'Success',
    traceback: null,
  });
  if (spec.buildMs === null) {
    action.events = [event('compute__do_build_and_run_instance', spec.now)];
    return server;
  }
  const build = spec.buildMs;
  action.events = [event('compute__do_build_and_run_instance', null), event('conductor_schedule_and_build_instances', spec.now)];
  server.transition = {
    kind: 'build',
    phases: [
      { taskState: 'scheduling', startsAt: spec.now },
      { taskState: 'block_device_mapping', startsAt: spec.now + build * 0.4 },
      { taskState: 'spawning', startsAt: spec.now + build * 0.7 },
    ],
    endsAt: spec.now + build,
    outcome: { vmState: 'active', powerState: PowerState.RUNNING },
    action,
  };
  return server;
}

/**
 * Starts a rebuild at `now`: task_state rebuilding → rebuild_block_device_mapping →
 * rebuild_spawning → none (01c–01e), then ACTIVE, or SHUTOFF for a server that was stopped (02d),
 * or ERROR when `failNextRebuild` was armed.
 */
export function startRebuild(
  server: ServerRecord,
  timing: RebuildTiming,
  now: number,
  action: Omit<InstanceActionRecord, 'events' | 'updatedAt' | 'message' | 'action' | 'startTime'>,
): void {
  const t1 = now + timing.rebuildingMs;
  const t2 = t1 + timing.blockDeviceMappingMs;
  const endsAt = t2 + timing.spawningMs;
  const record: InstanceActionRecord = {
    action: 'rebuild',
    startTime: now,
    updatedAt: now,
    message: null,
    ...action,
    // 05b lists the compute event before the API's rebuild_server.
    events: [
      { event: 'compute_rebuild_instance', startTime: now, finishTime: null, result: null, traceback: null },
      { event: 'rebuild_server', startTime: now, finishTime: now, result: 'Success', traceback: null },
    ],
  };
  const outcome: Outcome =
    server.failNextRebuild !== null
      ? { error: server.failNextRebuild }
      : server.vmState === 'stopped'
        ? { vmState: 'stopped', powerState: PowerState.SHUTDOWN }
        : { vmState: 'active', powerState: PowerState.RUNNING };
  server.failNextRebuild = null;
  server.transition = {
    kind: 'rebuild',
    phases: [
      { taskState: 'rebuilding', startsAt: now },
      { taskState: 'rebuild_block_device_mapping', startsAt: t1 },
      { taskState: 'rebuild_spawning', startsAt: t2 },
    ],
    endsAt,
    outcome,
    action: record,
  };
  server.updatedAt = now;
  server.rebuildsAccepted += 1;
  server.actions.push(record);
}

/**
 * Deletes a server as Nova does, at once: vm_state deleted, task_state none, power_state NOSTATE,
 * terminated_at and updated_at now, then the row soft-deleted with its metadata and tags (11h).
 * A build or rebuild still in flight ends there, its compute event failed (the compute host finds
 * the instance gone), and the capacity limit no longer counts it.
 */
export function softDelete(server: ServerRecord, now: number, requestId: string, userId: string): void {
  settle(server, now);
  const t = server.transition;
  if (t) {
    const open = t.action.events.find((e) => e.finishTime === null);
    if (open) {
      open.finishTime = now;
      open.result = 'Error';
    }
    t.action.message = 'Error';
    t.action.updatedAt = now;
    server.transition = null;
  }
  server.vmState = 'deleted';
  server.taskState = null;
  server.powerState = PowerState.NOSTATE;
  server.terminatedAt = now;
  server.updatedAt = now;
  server.deletedAt = now;
  server.metadata = {};
  server.tags = [];
  server.failNextRebuild = null;
  recordAction(server, 'delete', requestId, userId, server.tenantId, now, 'compute_terminate_instance');
}

/** Records an instantaneous action (lock, pause, stop, ...) in os-instance-actions. */
export function recordAction(
  server: ServerRecord,
  action: string,
  requestId: string,
  userId: string,
  projectId: string,
  now: number,
  computeEvent: string | null,
): void {
  server.actions.push({
    action,
    requestId,
    userId,
    projectId,
    startTime: now,
    updatedAt: now,
    message: null,
    events: computeEvent
      ? [{ event: computeEvent, startTime: now, finishTime: now, result: 'Success', traceback: null }]
      : [],
  });
}
