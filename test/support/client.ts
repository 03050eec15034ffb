/**
 * The integration tests' view of a running local stack: its HTTP API, called as a user would, and
 * the checks every scenario ends with.
 */
import { expect } from 'vitest';
import { SERVER_STATES } from '../../lib/jobs/model.js';
import type { LocalStack } from '../../local/stack.js';

export const IMAGE = '70a599e0-31e7-49b7-b260-868f441e862b';

export type JobView = {
  id: string;
  status: string;
  counts: Record<string, number>;
  total: number;
  stop?: { by: string; reason: string };
  completedAt?: string;
  createdBy?: string;
  paused?: { at: string; by: string };
  options: { maxInFlight: number };
  redrives?: number;
  rollout?: { wave: number; open: number };
  selection?: { state: string; matched?: number; reason?: string };
  submission: { state: string };
};
export type ServerView = {
  id: string;
  status: string;
  attempts: number;
  lastHttpStatus?: number;
  fault?: { name: string; message: string };
  novaState?: string;
  computeRequestIds: string[];
  uncertainSince?: string;
  runs?: { status: string; faultName?: string; attempts: number }[];
  acceptedAt?: string;
  endedAt?: string;
  updatedAt: string;
};

const ENDED = ['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED'];

/** A client of one project of the stack's API. */
export class StackClient {
  constructor(
    private readonly stack: () => LocalStack,
    private readonly tenantId: () => string,
    private readonly principal?: string,
  ) {}

  url(path: string): string {
    return `${this.stack().apiUrl}/v2/${this.tenantId()}${path}`;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { 'content-type': 'application/json', ...(this.principal ? { 'x-local-principal': this.principal } : {}), ...extra };
  }

  /** POSTs `body` as JSON; the status and the parsed answer. */
  async post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, any> }> {
    const res = await fetch(this.url(path), { method: 'POST', headers: this.headers(headers), body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  }

  async get(path: string): Promise<{ status: number; json: Record<string, any>; text: string }> {
    const res = await fetch(this.url(path), { headers: this.headers() });
    const text = await res.text();
    return { status: res.status, json: JSON.parse(text) as Record<string, any>, text };
  }

  /** Submits a bulk job, expecting 202; returns its id. */
  async submit(servers: { id: string; rebuild?: object }[], options: object = {}, rebuild: object = { imageRef: IMAGE, adminPass: 'seekr3t' }): Promise<string> {
    const res = await this.post('/rebuild-jobs', { rebuildJob: { rebuild, servers, options } });
    expect(res.status, JSON.stringify(res.json)).toBe(202);
    return res.json.rebuildJob.id as string;
  }

  /** GETs `path` and keeps the body as text (reports are JSON lines or CSV). */
  async raw(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string }> {
    const res = await fetch(path.startsWith('http') ? path : this.url(path), { headers: this.headers(headers) });
    return { status: res.status, headers: res.headers, text: await res.text() };
  }

  /** POSTs a job action; the status and the parsed answer. */
  async action(id: string, body: unknown): Promise<{ status: number; json: Record<string, any> }> {
    return this.post(`/rebuild-jobs/${id}/action`, body);
  }

  async job(id: string): Promise<JobView> {
    return (await this.get(`/rebuild-jobs/${id}`)).json.rebuildJob as JobView;
  }

  async servers(id: string): Promise<ServerView[]> {
    return (await this.get(`/rebuild-jobs/${id}/servers`)).json.servers as ServerView[];
  }

  async cancel(id: string): Promise<{ status: number; json: Record<string, any> }> {
    return this.post(`/rebuild-jobs/${id}/action`, { cancel: null });
  }

  /** Waits (polling the status endpoint, as a user would) until the job ends; fails the test after `seconds`. */
  async untilEnded(id: string, seconds = 90): Promise<JobView> {
    const until = Date.now() + seconds * 1000;
    for (;;) {
      const j = await this.job(id);
      if (ENDED.includes(j.status)) return j;
      if (Date.now() > until) throw new Error(`job still ${j.status} after ${seconds} s: ${JSON.stringify(j.counts)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Waits until `check` holds for the job's servers; fails the test after `seconds`. */
  async until(id: string, check: (servers: ServerView[]) => boolean, seconds = 60): Promise<ServerView[]> {
    const end = Date.now() + seconds * 1000;
    for (;;) {
      const list = await this.servers(id);
      if (check(list)) return list;
      if (Date.now() > end) throw new Error(`not reached after ${seconds} s: ${JSON.stringify(list.map((s) => [s.id, s.status, s.fault?.name]))}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** The job's counters equal its records, every server has ended, and the job's end is stamped. */
  async expectCountersExact(id: string): Promise<void> {
    const [j, list] = await Promise.all([this.job(id), this.servers(id)]);
    const fromRecords = Object.fromEntries(SERVER_STATES.map((s) => [s, list.filter((x) => x.status === s).length]));
    expect(j.counts).toEqual(fromRecords);
    expect(list).toHaveLength(j.total);
    expect(j.completedAt).toBeDefined();
  }
}
