/**
 * The service's API as an operator uses it: submit a job, poll its status, page through its
 * servers. Every response body is kept, so the secrets check can look at all the scenario saw.
 */
import { sleep } from './harness.js';

export const IMAGE = '70a599e0-31e7-49b7-b260-868f441e862b';
const ENDED = ['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED'];

export interface JobView {
  id: string;
  status: string;
  total: number;
  counts: Record<string, number>;
  completedAt?: string;
  submission?: { state: string };
  selection?: { state: string; matched?: number };
}

export interface ServerView {
  id: string;
  status: string;
  attempts: number;
  fault?: { name: string; message: string };
}

export class ApiClient {
  /** Every response body received, for the secrets check. */
  readonly bodies: string[] = [];
  /** Calls that got no HTTP answer or a 5xx (expected while a stand-in restarts). */
  transientErrors = 0;

  constructor(
    private readonly apiUrl: string,
    private readonly tenantId: string,
  ) {}

  private url(path: string): string {
    return `${this.apiUrl}/v2/${this.tenantId}${path}`;
  }

  /** One call; the body is kept whatever the status. */
  async call(path: string, init: RequestInit = {}): Promise<{ status: number; text: string; json: unknown }> {
    const res = await fetch(this.url(path), { ...init, signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    this.bodies.push(text);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json };
  }

  /** Submits a bulk job; throws unless it is accepted (202). */
  async submit(body: unknown): Promise<JobView> {
    const res = await this.call('/rebuild-jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${res.text.slice(0, 500)}`);
    return (res.json as { rebuildJob: JobView }).rebuildJob;
  }

  /** The job's status; undefined when the API could not answer (a stand-in restarting). */
  async job(jobId: string): Promise<JobView | undefined> {
    try {
      const res = await this.call(`/rebuild-jobs/${jobId}`);
      if (res.status === 200) return (res.json as { rebuildJob: JobView }).rebuildJob;
    } catch {
      // No answer at all: counted below, retried by the caller.
    }
    this.transientErrors++;
    return undefined;
  }

  /**
   * Polls the status endpoint until the job has ended (a final status and its completedAt) or
   * `seconds` pass; returns the last view, whether it ended, and how long a final status was
   * shown before its completedAt. A scenario's abort stops the wait at once.
   */
  async untilEnded(jobId: string, seconds: number, signal: AbortSignal): Promise<{ job: JobView | undefined; ended: boolean; completedAtLagMs?: number }> {
    const until = Date.now() + seconds * 1000;
    let last: JobView | undefined;
    let finalSince: number | undefined;
    for (;;) {
      const j = await this.job(jobId);
      if (j) {
        last = j;
        if (ENDED.includes(j.status)) {
          if (j.completedAt) return { job: j, ended: true, ...(finalSince !== undefined ? { completedAtLagMs: Date.now() - finalSince } : {}) };
          finalSince ??= Date.now();
        }
      }
      if (Date.now() > until) return { job: last, ended: false, ...(finalSince !== undefined ? { completedAtLagMs: Date.now() - finalSince } : {}) };
      await sleep(finalSince !== undefined ? 50 : 500, signal);
    }
  }

  /** Waits until `test` holds for the job's status (e.g. a share of servers done). */
  async until(jobId: string, seconds: number, signal: AbortSignal, test: (job: JobView) => boolean): Promise<JobView> {
    const until = Date.now() + seconds * 1000;
    for (;;) {
      const j = await this.job(jobId);
      if (j && (test(j) || ENDED.includes(j.status))) return j;
      if (Date.now() > until) throw new Error(`job ${jobId} did not reach the wanted point within ${seconds} s: ${JSON.stringify(j?.counts)}`);
      await sleep(200, signal);
    }
  }

  /** Every server record of the job, page by page through `servers_links`. */
  async allServers(jobId: string): Promise<ServerView[]> {
    const out: ServerView[] = [];
    let marker: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const res = await this.call(`/rebuild-jobs/${jobId}/servers?limit=250${marker ? `&marker=${encodeURIComponent(marker)}` : ''}`);
      if (res.status !== 200) throw new Error(`listing servers answered ${res.status}: ${res.text.slice(0, 300)}`);
      const body = res.json as { servers: ServerView[]; servers_links?: { rel: string; href: string }[] };
      out.push(...body.servers);
      const next = body.servers_links?.find((l) => l.rel === 'next')?.href;
      marker = next ? (new URL(next).searchParams.get('marker') ?? undefined) : undefined;
      if (!marker) return out;
    }
    throw new Error('listing servers did not end after 1000 pages');
  }
}
