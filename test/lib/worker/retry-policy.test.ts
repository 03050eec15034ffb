import { describe, expect, it } from 'vitest';
import { backoffSeconds, decideRebuild, rebuildRunning } from '../../../lib/worker/retry-policy.js';
import { loadRecordings } from '../../support/recordings.js';

const fault = (status: number, body: string, faultName?: string, retryAfterMs?: number) =>
  ({ ok: false as const, status, message: body, ...(faultName ? { faultName } : {}), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });

describe("reading Nova's answers to a rebuild", () => {
  const conflicts = loadRecordings().filter((r) => r.response.status === 409);

  it('retries a 409 for a task in progress and fails one for a parked or locked server, as recorded', () => {
    expect(conflicts.length).toBeGreaterThanOrEqual(4);
    for (const r of conflicts) {
      const { message } = Object.values(JSON.parse(r.response.body) as Record<string, { message: string }>)[0] as { message: string };
      const kind = decideRebuild(fault(409, message, 'conflictingRequest')).kind;
      expect([r.name, kind]).toEqual([r.name, /task_state/.test(message) ? 'retry' : 'fail']);
    }
  });

  it("retries the seed's buildInProgress and serverCapacityUnavailable", () => {
    expect(decideRebuild(fault(409, 'Server build in progress', 'buildInProgress'))).toMatchObject({ kind: 'retry', cause: 'busy' });
    expect(decideRebuild(fault(503, 'no capacity', 'serverCapacityUnavailable', 3000))).toMatchObject({ kind: 'retry', cause: 'unavailable', retryAfterMs: 3000 });
  });

  it('retries 503 and 429, and 413 with Retry-After; fails 400, 401, 403, 404, 405, 406, 415 and a 413 without Retry-After at once', () => {
    for (const s of [503, 429]) expect(decideRebuild(fault(s, 'x')).kind).toBe('retry');
    expect(decideRebuild(fault(413, 'x', 'overLimit', 2000))).toMatchObject({ kind: 'retry', cause: 'rateLimited', retryAfterMs: 2000 });
    expect(decideRebuild(fault(413, 'Request Entity Too Large'))).toMatchObject({ kind: 'fail', cause: 'tooLarge' });
    for (const s of [400, 401, 403, 404, 405, 406, 415]) expect(decideRebuild(fault(s, 'x')).kind).toBe('fail');
  });

  it('takes every 5xx but 503 as uncertain: the cloud may have acted (a 500 from Nova, a balancer\'s 502 or 504)', () => {
    for (const s of [500, 501, 502, 504, 507, 599]) expect(decideRebuild(fault(s, 'x')).kind).toBe('uncertain');
    // Nova's answer to a rebuild that raced another (02b-concurrent-rebuild-pair-2).
    expect(decideRebuild(fault(500, "Unexpected API Error. <class 'nova.exception.UnexpectedTaskStateError'>", 'computeFault'))).toMatchObject({ kind: 'uncertain', status: 500 });
  });

  it('reads a fault Keystone gave before any token as a request that was never sent', () => {
    expect(decideRebuild({ ...fault(503, 'Keystone could not issue a token: 503'), unsent: true })).toMatchObject({ kind: 'retry', cause: 'unsent' });
  });

  it("knows a rebuild running from Nova's 409 task_state rebuilding and its 500 UnexpectedTaskStateError, and nothing else", () => {
    expect(rebuildRunning(fault(409, "Cannot 'rebuild' instance x while it is in task_state rebuilding", 'conflictingRequest'))).toBe(true);
    expect(rebuildRunning(fault(409, "Cannot 'rebuild' instance x while it is in task_state rebuild_spawning", 'conflictingRequest'))).toBe(true);
    expect(rebuildRunning(fault(500, "Unexpected API Error. <class 'nova.exception.UnexpectedTaskStateError'>", 'computeFault'))).toBe(true);
    expect(rebuildRunning(fault(409, "Cannot 'rebuild' instance x while it is in task_state rebooting", 'conflictingRequest'))).toBe(false);
    expect(rebuildRunning(fault(500, 'Unexpected API Error.', 'computeFault'))).toBe(false);
    expect(rebuildRunning(fault(409, 'Instance x is locked', 'conflictingRequest'))).toBe(false);
  });

  it('takes a 202 as accepted, keeping the Compute request id', () => {
    expect(decideRebuild({ ok: true, status: 202, body: {}, computeRequestId: 'req-1' })).toEqual({ kind: 'accepted', computeRequestId: 'req-1' });
  });
});

describe('backoff', () => {
  const settings = { baseSeconds: 5, capSeconds: 300 };

  it('grows exponentially with full jitter and stops at the cap', () => {
    expect(backoffSeconds(1, settings, undefined, () => 0.999)).toBe(5);
    expect(backoffSeconds(3, settings, undefined, () => 0.999)).toBe(20);
    expect(backoffSeconds(20, settings, undefined, () => 0.999)).toBe(300);
    expect(backoffSeconds(3, settings, undefined, () => 0)).toBe(1);
  });

  it('never waits less than Retry-After', () => {
    expect(backoffSeconds(1, settings, 120_000, () => 0)).toBe(120);
    expect(backoffSeconds(1, settings, 1500, () => 0)).toBe(2);
  });
});
