/**
 * An in-memory cloud for the model test: Nova's rebuild rules as the recordings show them (a
 * rebuild while one runs is a 409 "task_state rebuilding", or a 500 UnexpectedTaskStateError when
 * the two race; instance actions list each rebuild with Nova's own request id and a whole-second
 * start time on Nova's clock), with a clock off from ours by `skewMs`, and the failures a hostile
 * path adds, planned call by call: answers lost before or after Nova acted, 5xx after it acted,
 * a balancer's 504 while Nova acts later. It counts every rebuild it performs.
 *
 * A fake, for the pure model test only: the integration tests run the Compute API simulator.
 */
import { randomUUID } from 'node:crypto';
import {
  type ImageView,
  ComputeTransportError,
  type ComputeApi,
  type ComputeResult,
  type ComputeTarget,
  type InstanceAction,
  type ServerList,
  type ServerListQuery,
  type ServerView,
} from '../../lib/openstack/compute.js';

/** What happens to one rebuild call. */
export type RebuildFault =
  | 'none'
  | 'busy' // 409 task_state rebooting: clears
  | 'unavailable' // 503 before acting
  | 'unsent' // connection refused: never left
  | 'lostBefore' // connection lost; Nova never got it
  | 'lostAfter' // connection lost after Nova acted
  | 'actThen500' // Nova acted, answered 500 with its request id
  | 'actThen504' // Nova acted, a balancer answered 504 without one
  | 'actLate' // a balancer answered 504; Nova acts `lateMs` later
  | 'rateLimitedLong'; // 429 with Retry-After: 1800 (longer than SQS's longest delay)

/**
 * What happens to one read (GET server, instance actions). `stale`: an answer from before the
 * last change (no actions, no task) — a replica behind; outside what the worker can be asked to
 * survive alone, kept for the test of its last safety net.
 */
export type ReadFault = 'none' | 'unavailable' | 'lost' | 'stale';

interface CloudServer {
  id: string;
  tenantId: string;
  imageId: string;
  /** Our clock (ms) when the running rebuild ends; 0 when none runs. */
  busyUntil: number;
  busyTask: 'rebuilding' | 'rebooting' | null;
  /** Cloud clock, ms. */
  updated: number;
  actions: InstanceAction[];
  rebuilds: number;
  /** Deleted (Nova's soft delete): 404 to GET, DELETED in changes-since lists. */
  deleted: boolean;
  /** Set when the running rebuild is to end in ERROR with this fault message. */
  failWith?: string;
  /** The server is in ERROR, with this fault. */
  fault?: string;
}

const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
const novaTime = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('Z', '').replace('.000', '.000000');

export class ModelCloud implements ComputeApi {
  readonly servers = new Map<string, CloudServer>();
  rebuildFaults: RebuildFault[] = [];
  readFaults: ReadFault[] = [];
  /** Calls by kind (list pages counted one each). */
  readonly callsBy = { rebuild: 0, get: 0, actions: 0, list: 0 };
  /** Our clock (ms) when each server's last rebuild ended in the cloud (its task cleared). */
  readonly rebuildEnds = new Map<string, number>();
  /** A policy that forbids server lists: 403, as Nova answers a call its policy refuses. */
  listsForbidden = false;
  /** Late acts waiting for their time (our clock). */
  private late: { at: number; serverId: string; imageId: string; requestId: string }[] = [];
  calls = 0;

  constructor(
    private readonly now: () => number,
    readonly skewMs: number,
    /** How long a rebuild runs. */
    private readonly rebuildMs: number,
    /** How long after acting a late request acts (< the worker's settle time). */
    readonly lateMs: number,
  ) {}

  private cloudNow(): number {
    return this.now() + this.skewMs;
  }

  add(id: string, tenantId: string, imageId: string): void {
    this.servers.set(id, { id, tenantId, imageId, busyUntil: 0, busyTask: null, updated: this.cloudNow() - 3600_000, actions: [], rebuilds: 0, deleted: false });
  }

  /** Acts on requests whose late time has come. */
  settle(): void {
    const due = this.late.filter((l) => l.at <= this.now());
    this.late = this.late.filter((l) => l.at > this.now());
    for (const l of due) this.act(l.serverId, l.imageId, l.requestId);
  }

  /** Whether Nova still holds requests it will act on. */
  get pendingLate(): number {
    return this.late.length;
  }

  /** A server as Nova shows it now (its task cleared once its time came); deleted ones are not found. */
  private server(id: string): CloudServer | undefined {
    const s = this.raw(id);
    return s && !s.deleted ? s : undefined;
  }

  private raw(id: string): CloudServer | undefined {
    this.settle();
    const s = this.servers.get(id);
    if (s && s.busyUntil && s.busyUntil <= this.now()) {
      s.updated = s.busyUntil + this.skewMs;
      if (s.busyTask === 'rebuilding') this.rebuildEnds.set(s.id, s.busyUntil);
      if (s.busyTask === 'rebuilding' && s.failWith !== undefined) {
        s.fault = s.failWith;
        s.failWith = undefined;
      }
      s.busyUntil = 0;
      s.busyTask = null;
    }
    return s;
  }

  /** The server's next rebuild ends in ERROR with this fault message (which may quote the request). */
  failNextRebuild(id: string, message: string): void {
    const s = this.servers.get(id);
    if (s) s.failWith = message;
  }

  /** Someone deletes the server, whatever it is doing. */
  delete(id: string): void {
    const s = this.raw(id);
    if (!s || s.deleted) return;
    s.deleted = true;
    s.busyTask = null;
    s.busyUntil = 0;
    s.updated = this.cloudNow();
  }

  /** Nova's rebuild: refused while a task runs, else the action recorded and the rebuild started. */
  private act(serverId: string, imageId: string, requestId: string): ComputeResult<{ server?: ServerView }> {
    const s = this.server(serverId);
    if (!s) return { ok: false, status: 404, faultName: 'itemNotFound', message: `Instance ${serverId} could not be found.`, computeRequestId: requestId };
    if (s.busyTask) {
      return { ok: false, status: 409, faultName: 'conflictingRequest', message: `Cannot 'rebuild' instance ${serverId} while it is in task_state ${s.busyTask}`, computeRequestId: requestId };
    }
    s.rebuilds++;
    s.fault = undefined;
    s.imageId = imageId;
    s.busyTask = 'rebuilding';
    s.busyUntil = this.now() + this.rebuildMs;
    s.updated = this.cloudNow();
    s.actions.unshift({ action: 'rebuild', request_id: requestId, start_time: novaTime(this.cloudNow()) });
    return { ok: true, status: 202, body: { server: this.view(s) }, computeRequestId: requestId };
  }

  /** Makes a server busy with a task of someone else's that clears by itself. */
  reboot(serverId: string, ms: number): void {
    const s = this.server(serverId);
    if (!s || s.busyTask) return;
    s.busyTask = 'rebooting';
    s.busyUntil = this.now() + ms;
    s.updated = this.cloudNow();
  }

  private view(s: CloudServer): ServerView {
    return {
      id: s.id,
      status: s.deleted ? 'DELETED' : s.fault !== undefined && !s.busyTask ? 'ERROR' : s.busyTask === 'rebuilding' ? 'REBUILD' : s.busyTask === 'rebooting' ? 'REBOOT' : 'ACTIVE',
      ...(s.fault !== undefined && !s.busyTask ? { fault: { code: 500, message: s.fault } } : {}),
      tenant_id: s.tenantId,
      'OS-EXT-STS:task_state': s.busyTask,
      image: { id: s.imageId },
      updated: iso(s.updated),
    };
  }

  async rebuild(_target: ComputeTarget, serverId: string, body: Record<string, unknown>, _requestId: string): Promise<ComputeResult<{ server?: ServerView }>> {
    this.calls++;
    this.callsBy.rebuild++;
    const fault = this.rebuildFaults.shift() ?? 'none';
    const requestId = `req-${randomUUID()}`;
    const imageId = String(body.imageRef);
    switch (fault) {
      case 'busy':
        this.reboot(serverId, 20_000);
        return this.act(serverId, imageId, requestId);
      case 'unavailable':
        return { ok: false, status: 503, faultName: 'serviceUnavailable', message: 'The server is currently unavailable.' };
      case 'unsent':
        throw new ComputeTransportError('connect ECONNREFUSED', false);
      case 'lostBefore':
        throw new ComputeTransportError('socket hang up before Nova read it', true);
      case 'lostAfter':
        this.act(serverId, imageId, requestId);
        throw new ComputeTransportError('socket hang up after Nova acted', true);
      case 'actThen500': {
        const r = this.act(serverId, imageId, requestId);
        if (!r.ok) return r;
        return { ok: false, status: 500, faultName: 'computeFault', message: 'Unexpected API Error.', computeRequestId: requestId };
      }
      case 'actThen504': {
        const r = this.act(serverId, imageId, requestId);
        if (!r.ok) return r;
        return { ok: false, status: 504, message: '504 Gateway Time-out' };
      }
      case 'actLate':
        this.late.push({ at: this.now() + this.lateMs, serverId, imageId, requestId });
        return { ok: false, status: 504, message: '504 Gateway Time-out' };
      case 'rateLimitedLong':
        return { ok: false, status: 429, faultName: 'overLimit', message: 'This request was rate-limited.', retryAfterMs: 1_800_000 };
      case 'none': {
        const r = this.act(serverId, imageId, requestId);
        // Two rebuilds racing: Nova may answer the second with a 500 UnexpectedTaskStateError (02b).
        if (!r.ok && r.status === 409 && /rebuilding/.test(r.message) && this.calls % 3 === 0) {
          return { ok: false, status: 500, faultName: 'computeFault', message: "Unexpected API Error. <class 'nova.exception.UnexpectedTaskStateError'>", computeRequestId: requestId };
        }
        return r;
      }
    }
  }

  private readFault(): ReadFault {
    const fault = this.readFaults.shift() ?? 'none';
    if (fault === 'lost') throw new ComputeTransportError('read timed out', true);
    return fault;
  }

  async getServer(_target: ComputeTarget, serverId: string): Promise<ComputeResult<{ server: ServerView }>> {
    this.calls++;
    this.callsBy.get++;
    const f = this.readFault();
    if (f === 'unavailable') return { ok: false, status: 503, message: 'unavailable' };
    const s = this.server(serverId);
    if (!s) return { ok: false, status: 404, faultName: 'itemNotFound', message: `Instance ${serverId} could not be found.` };
    const view = this.view(s);
    return { ok: true, status: 200, body: { server: f === 'stale' ? { ...view, status: 'ACTIVE', 'OS-EXT-STS:task_state': null } : view } };
  }

  /** Nova's changes-since (updated ≥ T, whole seconds, deleted servers included; 11a, 11h), one project, pages of 1,000. */
  async listServers(target: ComputeTarget, query: ServerListQuery): Promise<ComputeResult<ServerList>> {
    this.calls++;
    this.callsBy.list++;
    if (this.listsForbidden) return { ok: false, status: 403, faultName: 'forbidden', message: 'Policy does not allow os_compute_api:servers:detail to be performed.' };
    const f = this.readFault();
    if (f === 'unavailable') return { ok: false, status: 503, message: 'unavailable' };
    const since = query.changesSince !== undefined ? Date.parse(query.changesSince) : undefined;
    const all = [...this.servers.keys()]
      .map((id) => this.raw(id) as CloudServer)
      .filter((s) => s.tenantId === target.tenantId && (since === undefined ? !s.deleted : Math.floor(s.updated / 1000) * 1000 >= since));
    const pages = Math.max(1, Math.ceil(all.length / 1000));
    // Nova reads lists from its main database: a `stale` read fault does not apply to them.
    const views = all.slice(0, query.maxPages * 1000).map((s) => this.view(s));
    this.calls += Math.min(pages, query.maxPages) - 1;
    this.callsBy.list += Math.min(pages, query.maxPages) - 1;
    return { ok: true, status: 200, body: { servers: views, pages: Math.min(pages, query.maxPages), complete: pages <= query.maxPages } };
  }

  /** Glance's images: any id not named here is an active image with no minimums; null is one Glance does not have. */
  readonly images = new Map<string, ImageView | null>();

  async getImage(_target: ComputeTarget, imageId: string): Promise<ComputeResult<{ image: ImageView }>> {
    this.calls++;
    const image = this.images.has(imageId) ? this.images.get(imageId) : { id: imageId, status: 'active', min_disk: 0, min_ram: 0 };
    if (!image) return { ok: false, status: 404, message: `No image found with ID ${imageId}` };
    return { ok: true, status: 200, body: { image: { ...image } } };
  }

  async listInstanceActions(_target: ComputeTarget, serverId: string): Promise<ComputeResult<{ instanceActions: InstanceAction[] }>> {
    this.calls++;
    this.callsBy.actions++;
    const f = this.readFault();
    if (f === 'unavailable') return { ok: false, status: 503, message: 'unavailable' };
    const s = this.server(serverId);
    if (!s) return { ok: false, status: 404, faultName: 'itemNotFound', message: `Instance ${serverId} could not be found.` };
    return { ok: true, status: 200, body: { instanceActions: f === 'stale' ? [] : s.actions.map((a) => ({ ...a })) } };
  }
}
