/**
 * What the simulator received, for tests to assert on. Only the request line, timing and ids are
 * kept: never a body (adminPass, personality contents, user_data) and never a token.
 */

/** The families of requests faults and logs are keyed by. */
export type RequestKind =
  | 'auth'
  | 'rebuild'
  | 'action'
  | 'get'
  | 'list'
  | 'actions'
  | 'create'
  | 'delete'
  | 'images'
  | 'other';

export interface RequestLogEntry {
  seq: number;
  /** Simulator clock (ms) when the request arrived. */
  at: number;
  method: string;
  /** Path and query string as received. */
  path: string;
  service: 'keystone' | 'compute' | 'image' | 'unknown';
  kind: RequestKind;
  serverId: string | null;
  /** The X-Openstack-Request-Id the simulator answered with (null when no answer carried one). */
  requestId: string | null;
  /** The client's valid X-Openstack-Request-Id, if it sent one. */
  globalRequestId: string | null;
  /** HTTP status written, or "reset" when the connection was destroyed instead. */
  status: number | 'reset' | null;
  /** The injected fault that answered, if any. */
  fault: string | null;
}

export class RequestLog {
  private readonly entries: RequestLogEntry[] = [];
  private seq = 0;

  start(entry: Omit<RequestLogEntry, 'seq' | 'status' | 'fault'>): RequestLogEntry {
    const full: RequestLogEntry = { ...entry, seq: ++this.seq, status: null, fault: null };
    this.entries.push(full);
    return full;
  }

  /** A copy of the entries so far, oldest first. */
  list(): RequestLogEntry[] {
    return this.entries.map((e) => ({ ...e }));
  }

  clear(): void {
    this.entries.length = 0;
  }
}
