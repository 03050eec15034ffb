/**
 * What every fuzz property sends its requests through, and the oracles it judges the answers by.
 *
 * Run counts. Each property runs `FUZZ_RUNS` times (default 50, for `npm test`); a property
 * sends at least one request per run. The suite has 24 properties, so
 *
 *     FUZZ_RUNS=500 npx vitest run test/fuzz
 *
 * sends at least 500 × 24 = 12,000 generated requests (the full count, for `npm run faults`).
 * `FUZZ_SEED=<seed>` (with `FUZZ_PATH=<path>` from a failure report) replays a failing run.
 * Every file asserts, after its properties, that it sent at least FUZZ_RUNS requests per
 * property run and prints how many it sent.
 */
import { afterAll, expect, it } from 'vitest';
import fc from 'fast-check';
import { type ApiEvent, type ApiResult, createApi } from '../../functions/api-app.js';
import { apiConfigFromEnv } from '../../lib/settings.js';
import { PRINCIPAL } from '../support/api.js';
import { MemoryJobStore, MemoryQueue, capturingLogger } from '../support/memory.js';

function positiveInt(raw: string | undefined, fallback: number, name: string): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer; it is "${raw}"`);
  return n;
}

/** Runs per property. */
export const RUNS = positiveInt(process.env.FUZZ_RUNS, 50, 'FUZZ_RUNS');
/** fast-check parameters: the run count, and a seed to replay when one is given. */
export function fcParams<T>(): fc.Parameters<T> {
  const seed = process.env.FUZZ_SEED;
  const path = process.env.FUZZ_PATH;
  return {
    numRuns: RUNS,
    ...(seed ? { seed: Number(seed) } : {}),
    ...(path ? { path } : {}),
  };
}

/** A property may take a while at the full count; vitest's default 30 s is for ordinary tests. */
export const PROPERTY_TIMEOUT = 30_000 + RUNS * 60;

/** The clock every request sees. */
export const NOW = new Date('2026-11-27T00:00:00.000Z');
export const BASE_URL = 'https://api.example.test';

/**
 * Secrets are generated around these markers: adminPass contains SECRET_MARK, and personality
 * contents and user_data are the base64 of bytes that begin with it (so their text begins with
 * SECRET_MARK_B64). Nothing else generated can contain either.
 */
export const SECRET_MARK = 'FUZZSECRET';
export const SECRET_MARK_B64 = Buffer.from(SECRET_MARK).toString('base64').slice(0, 13);

/** Job option defaults the harness configures, different from the shipped ones so they are seen. */
export const DEFAULT_OPTIONS = { maxAttempts: 7, deadlineSeconds: 3600, maxFailurePercentage: 50, maxInFlight: 9 } as const;
export const MAX_MICROVERSION = 96;

export interface HarnessLimits {
  maxBodyBytes: number;
  maxServersPerJob: number;
}

/** Small limits keep oversized requests cheap to build and send. */
export const HOSTILE_LIMITS: HarnessLimits = { maxBodyBytes: 64 * 1024, maxServersPerJob: 40 };
/** Room for honest requests at their fields' own limits (a 65,535-character user_data). */
export const ROOMY_LIMITS: HarnessLimits = { maxBodyBytes: 256 * 1024, maxServersPerJob: 40 };

export interface Outcome {
  status: number;
  headers: Record<string, string>;
  body: string;
  json: unknown;
}

/** One API with in-memory adapters; `send` resets them first, so each request meets an empty service. */
export class Harness {
  readonly store = new MemoryJobStore();
  readonly queue = new MemoryQueue();
  readonly lines: string[];
  readonly limits: HarnessLimits;
  sent = 0;
  private readonly api: (event: ApiEvent) => Promise<ApiResult>;

  constructor(limits: HarnessLimits) {
    this.limits = limits;
    const { logger, lines } = capturingLogger();
    this.lines = lines;
    const config = apiConfigFromEnv({
      TABLE_NAME: 'fuzz-table',
      QUEUE_URL: 'fuzz-queue',
      MAX_BODY_BYTES: String(limits.maxBodyBytes),
      MAX_SERVERS_PER_JOB: String(limits.maxServersPerJob),
      NOVA_MAX_MICROVERSION: `2.${MAX_MICROVERSION}`,
      DEFAULT_MAX_ATTEMPTS: String(DEFAULT_OPTIONS.maxAttempts),
      DEFAULT_DEADLINE_SECONDS: String(DEFAULT_OPTIONS.deadlineSeconds),
      DEFAULT_MAX_FAILURE_PERCENTAGE: String(DEFAULT_OPTIONS.maxFailurePercentage),
      DEFAULT_MAX_IN_FLIGHT: String(DEFAULT_OPTIONS.maxInFlight),
      PROJECT_GRANTS: JSON.stringify({ [PRINCIPAL]: '*' }),
    });
    this.api = createApi({ store: this.store, queue: this.queue, logger, config, now: () => NOW });
  }

  reset(): void {
    this.store.jobs.clear();
    this.store.servers.clear();
    this.store.claims.clear();
    this.store.locks.clear();
    this.queue.messages.length = 0;
    this.queue.scheduled.length = 0;
    this.lines.length = 0;
  }

  /** Sends one request to an empty service. */
  async send(event: ApiEvent): Promise<Outcome> {
    this.reset();
    return this.sendAgain(event);
  }

  /** Sends one more request without resetting (replays, conflicts). */
  async sendAgain(event: ApiEvent): Promise<Outcome> {
    this.sent++;
    const res = await this.api(event);
    const body = res.body ?? '';
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers ?? {})) headers[k] = String(v);
    return { status: res.statusCode ?? 0, headers, body, json };
  }

  /** Everything a refused request could have written, for "nothing changed" checks. */
  footprint(): { jobs: number; servers: number; claims: number; messages: number; scheduled: number } {
    return {
      jobs: this.store.jobs.size,
      servers: this.store.servers.size,
      claims: this.store.claims.size,
      messages: this.queue.messages.length,
      scheduled: this.queue.scheduled.length,
    };
  }
}

function describeOutcome(res: Outcome): string {
  return `${res.status} ${res.body.length > 600 ? `${res.body.slice(0, 600)}…` : res.body}`;
}

/** A Nova fault body: exactly one key, whose value carries `code` = the status and a message. */
export function expectFault(res: Outcome): void {
  const json = res.json;
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error(`fault body is not a JSON object: ${describeOutcome(res)}`);
  }
  const keys = Object.keys(json);
  if (keys.length !== 1) throw new Error(`fault body has ${keys.length} top-level keys: ${describeOutcome(res)}`);
  const fault = (json as Record<string, unknown>)[keys[0] as string] as Record<string, unknown> | null;
  if (fault === null || typeof fault !== 'object') throw new Error(`fault is not an object: ${describeOutcome(res)}`);
  if (fault.code !== res.status) throw new Error(`fault code ${String(fault.code)} is not the status: ${describeOutcome(res)}`);
  if (typeof fault.message !== 'string' || fault.message.trim() === '') {
    throw new Error(`fault has no message: ${describeOutcome(res)}`);
  }
  if (res.headers['Content-Type']?.startsWith('application/json') !== true) {
    throw new Error(`fault is not served as JSON: ${res.headers['Content-Type']}`);
  }
}

/** No secret marker in the response, the log or the store. */
export function expectNoSecrets(h: Harness, res: Outcome): void {
  const places: [string, string][] = [
    ['response body', res.body],
    ['response headers', JSON.stringify(res.headers)],
    ['log', h.lines.join('\n')],
    ['store', JSON.stringify([[...h.store.jobs.values()], [...h.store.servers.values()], [...h.store.claims.values()]])],
  ];
  for (const [where, text] of places) {
    for (const mark of [SECRET_MARK, SECRET_MARK_B64]) {
      if (text.includes(mark)) throw new Error(`a secret reached the ${where}: ${text.slice(Math.max(0, text.indexOf(mark) - 200), text.indexOf(mark) + 100)}`);
    }
  }
}

/** Never a 5xx, whatever was sent. */
export function expectNo5xx(res: Outcome): void {
  if (res.status >= 500 || res.status < 200) throw new Error(`answered ${describeOutcome(res)}`);
}

/**
 * A refused request: a 4xx (one of `statuses` when given) with a Nova fault body, nothing
 * written or queued, no secret anywhere.
 */
export function expectRefused(h: Harness, res: Outcome, statuses?: number | readonly number[]): void {
  expectNo5xx(res);
  if (res.status < 400 || res.status > 499) throw new Error(`expected a refusal, got ${describeOutcome(res)}`);
  if (statuses !== undefined) {
    const wanted = typeof statuses === 'number' ? [statuses] : statuses;
    if (!wanted.includes(res.status)) throw new Error(`expected ${wanted.join(' or ')}, got ${describeOutcome(res)}`);
  }
  expectFault(res);
  expect(h.footprint()).toEqual({ jobs: 0, servers: 0, claims: 0, messages: 0, scheduled: 0 });
  expectNoSecrets(h, res);
}

/**
 * Whatever was sent, the answer is sane: below 500; a 4xx is a refusal as above; a 202 is a job
 * with exactly one queued message per server; any other 2xx wrote nothing.
 */
export function expectWellBehaved(h: Harness, res: Outcome): void {
  expectNo5xx(res);
  if (res.status >= 400) return expectRefused(h, res);
  expectNoSecrets(h, res);
  if (res.status === 202 && h.store.jobs.size === 1) {
    const [job] = [...h.store.jobs.values()];
    const ids = h.queue.messages.map((m) => m.serverId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(job?.total);
    expect(h.store.servers.size).toBe(job?.total);
    return;
  }
  expect(h.footprint()).toEqual({ jobs: 0, servers: 0, claims: 0, messages: 0, scheduled: 0 });
}

/** JSON with sorted own keys: compares values whatever their key order, `__proto__` keys included. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

/**
 * A property as a vitest test: fast-check runs it RUNS times (reporting seed and path on
 * failure), each run counted by the file's harness.
 */
export function property<T>(name: string, arb: fc.Arbitrary<T>, check: (value: T) => Promise<void>): void {
  it(
    name,
    async () => {
      propertiesRun++;
      try {
        await fc.assert(fc.asyncProperty(arb, check), fcParams<[T]>());
      } catch (err) {
        failedProperties++;
        throw err;
      }
    },
    PROPERTY_TIMEOUT,
  );
}

/** A failed property stops early; the count check below would only repeat its failure. */
let failedProperties = 0;
let propertiesRun = 0;

/** Asserts, after the file's properties, that each sent at least RUNS requests, and says how many were sent. */
export function countRequests(file: string, harnesses: Harness[]): void {
  afterAll(() => {
    const sent = harnesses.reduce((n, h) => n + h.sent, 0);
    console.info(`[fuzz] ${file}: ${sent} requests from ${propertiesRun} properties × ${RUNS} runs (FUZZ_RUNS=${RUNS})`);
    if (failedProperties === 0) expect(sent).toBeGreaterThanOrEqual(propertiesRun * RUNS);
  });
}
