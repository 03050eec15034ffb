/** The servers the simulator knows, by id. Every read settles finished transitions first. */
import { isRebuilding, newServer, settle, type NewServer, type ServerRecord } from './servers.js';

export class ServerStore {
  private readonly servers = new Map<string, ServerRecord>();
  private nextInstanceNumber = 1;

  /** Adds a server; `instance-0000000N` numbers are handed out in order. */
  add(spec: Omit<NewServer, 'instanceNumber'>): ServerRecord {
    if (this.servers.has(spec.id)) throw new Error(`server ${spec.id} already exists`);
    const server = newServer({ ...spec, instanceNumber: this.nextInstanceNumber++ });
    this.servers.set(server.id, server);
    return server;
  }

  /** A server by id (MySQL compares UUIDs case-insensitively), settled at `now`. */
  get(id: string, now: number): ServerRecord | undefined {
    const server = this.servers.get(id.toLowerCase());
    if (server) settle(server, now);
    return server;
  }

  /** The project's servers, newest first (Nova's default sort: created_at desc, then id desc). */
  list(projectId: string | null, now: number): ServerRecord[] {
    const found = [...this.servers.values()].filter((s) => s.tenantId === projectId);
    for (const s of found) settle(s, now);
    return found.sort((a, b) => b.createdAt - a.createdAt || b.instanceNumber - a.instanceNumber);
  }

  /** Every server, settled. */
  all(now: number): ServerRecord[] {
    const found = [...this.servers.values()];
    for (const s of found) settle(s, now);
    return found;
  }

  delete(id: string): boolean {
    return this.servers.delete(id.toLowerCase());
  }

  /** Rebuilds in flight at `now`, across all projects (the capacity limit's count). */
  rebuildsInFlight(now: number): number {
    let n = 0;
    for (const s of this.servers.values()) if (isRebuilding(s, now)) n++;
    return n;
  }
}
