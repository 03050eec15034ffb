/**
 * The servers the simulator knows, by id, deleted ones included (Nova soft-deletes, 11h). Reads
 * settle finished transitions first. Besides the map the store keeps every server in Nova's
 * default list order — created_at (whole seconds, as the database stores it) newest first, then
 * uuid ascending, the tie-break Nova's cell lister adds (11g, 13a) — maintained on insert, since
 * created_at never changes, so a default-ordered page is a walk from the marker, never a sort.
 */
import { isRebuilding, newServer, settle, softDelete, type NewServer, type ServerRecord } from './servers.js';

/** Nova's default order: created_at (seconds) desc, then uuid asc. Negative: `a` comes first. */
export function defaultOrder(a: ServerRecord, b: ServerRecord): number {
  const bySecond = Math.floor(b.createdAt / 1000) - Math.floor(a.createdAt / 1000);
  if (bySecond !== 0) return bySecond;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export class ServerStore {
  private readonly servers = new Map<string, ServerRecord>();
  private readonly ordered: ServerRecord[] = [];
  /** Servers that had a rebuild in flight when last looked at (pruned as they finish). */
  private readonly rebuilding = new Set<ServerRecord>();
  private nextInstanceNumber = 1;

  /** Adds a server; `instance-0000000N` numbers are handed out in order. */
  add(spec: Omit<NewServer, 'instanceNumber'>): ServerRecord {
    if (this.servers.has(spec.id.toLowerCase())) throw new Error(`server ${spec.id} already exists`);
    const server = newServer({ ...spec, id: spec.id.toLowerCase(), instanceNumber: this.nextInstanceNumber++ });
    this.servers.set(server.id, server);
    this.ordered.splice(this.firstAfter(server), 0, server);
    return server;
  }

  /** The index of the first server that comes after `server` in the default order (binary search). */
  private firstAfter(server: ServerRecord): number {
    let lo = 0;
    let hi = this.ordered.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (defaultOrder(this.ordered[mid] as ServerRecord, server) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** A live server by id (MySQL compares UUIDs case-insensitively), settled at `now`; a deleted one is gone (11i). */
  get(id: string, now: number): ServerRecord | undefined {
    const server = this.find(id, now);
    return server && server.deletedAt === null ? server : undefined;
  }

  /** A server by id, deleted or not (what Nova reads with read_deleted='yes': markers, instance actions). */
  find(id: string, now: number): ServerRecord | undefined {
    const server = this.servers.get(id.toLowerCase());
    if (server) settle(server, now);
    return server;
  }

  /** Every server, deleted ones included, in the default list order (not settled: readers settle). */
  inDefaultOrder(): readonly ServerRecord[] {
    return this.ordered;
  }

  /** Where the walk after `marker` starts in inDefaultOrder(). */
  positionAfter(marker: ServerRecord): number {
    return this.firstAfter(marker);
  }

  /** Every server, deleted ones included, settled. */
  all(now: number): ServerRecord[] {
    for (const s of this.ordered) settle(s, now);
    return [...this.ordered];
  }

  /** Soft-deletes a server (see softDelete); false when it is unknown or already deleted. */
  delete(id: string, now: number, requestId: string, userId: string): boolean {
    const server = this.get(id, now);
    if (!server) return false;
    softDelete(server, now, requestId, userId);
    this.rebuilding.delete(server);
    return true;
  }

  /** Call when a rebuild was accepted, so rebuildsInFlight counts it without a walk over every server. */
  noteRebuild(server: ServerRecord): void {
    this.rebuilding.add(server);
  }

  /** Rebuilds in flight at `now`, across all projects (the capacity limit's count). */
  rebuildsInFlight(now: number): number {
    let n = 0;
    for (const s of this.rebuilding) {
      if (isRebuilding(s, now)) n++;
      else this.rebuilding.delete(s);
    }
    return n;
  }
}
