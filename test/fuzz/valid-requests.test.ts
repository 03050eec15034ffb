/**
 * Property: every valid rebuild request — generated per microversion from Nova's documented
 * schema, seed call and bulk job alike — is accepted with 202, and exactly one message per
 * server carries exactly what Nova is to be sent; the secrets travel only in those messages.
 *
 * Full count (with the other fuzz files): `FUZZ_RUNS=500 npx vitest run test/fuzz` (see harness.ts).
 */
import { describe, expect } from 'vitest';
import fc from 'fast-check';
import { BASE_URL, Harness, NOW, type Outcome, ROOMY_LIMITS, canonical, countRequests, expectFault, expectNoSecrets, property } from './harness.js';
import { type Body, type ValidRequest, bulkRequestArb, idempotencyKeyArb, novaName, serverIdArb, singleRequestArb } from './arbitraries/rebuild.js';
import { byteLength, eventOf, rawOf, show } from './arbitraries/requests.js';

const h = new Harness(ROOMY_LIMITS);
countRequests('valid-requests', [h]);

function fail(req: ValidRequest, res: Outcome, why: string): never {
  throw new Error(`${why}\nrequest: ${show(rawOf(req))}\nanswer: ${res.status} ${res.body.slice(0, 800)}`);
}

/** The independent oracle for a valid request. */
function expectAccepted(req: ValidRequest, res: Outcome): string {
  const raw = rawOf(req);
  if (byteLength(raw.body) > h.limits.maxBodyBytes) {
    // Honest but too big for this deployment: refused whole.
    if (res.status !== 413) fail(req, res, 'a body over MAX_BODY_BYTES must be 413');
    expectFault(res);
    return '';
  }
  if (res.status !== 202) fail(req, res, 'a valid request must be accepted with 202');
  const view = (res.json as { rebuildJob: Record<string, unknown> }).rebuildJob;
  const id = view.id as string;
  const n = req.expected.length;
  expect(res.headers.Location).toBe(`${BASE_URL}/v2/${req.tenant}/rebuild-jobs/${id}`);
  expect(view).toMatchObject({ kind: req.kind, status: 'QUEUED', total: n, tenantId: req.tenant });
  expect(view.counts).toEqual({ QUEUED: n, SUBMITTING: 0, ACCEPTED: 0, REBUILDING: 0, RETRY_WAIT: 0, SUCCEEDED: 0, FAILED: 0, CANCELLED: 0 });
  expect(canonical(view.options)).toBe(canonical(req.options));
  const shownRebuild = view.rebuild as Body;
  if (req.shared && 'adminPass' in req.shared.body) expect(shownRebuild.adminPass).toBe('***');

  expect(h.store.jobs.size).toBe(1);
  expect(h.store.servers.size).toBe(n);
  const key = Object.entries(req.headers).find(([k]) => k.toLowerCase() === 'idempotency-key');
  expect(h.store.claims.size).toBe(key ? 1 : 0);

  const messages = h.queue.messages;
  if (messages.length !== n) fail(req, res, `expected ${n} messages, got ${messages.length}`);
  const deadline = new Date(NOW.getTime() + req.options.deadlineSeconds * 1000).toISOString();
  const byServer = new Map(messages.map((m) => [m.serverId, m]));
  for (const want of req.expected) {
    const m = byServer.get(want.serverId);
    if (!m) fail(req, res, `no message for server ${want.serverId}`);
    expect(m).toMatchObject({ v: 1, jobId: id, tenantId: req.tenant, microversion: req.options.microversion, maxAttempts: req.options.maxAttempts, deadline, seq: 0, phase: 'attempt' });
    if (canonical(m.rebuild) !== canonical(want.rebuild)) {
      fail(req, res, `server ${want.serverId} is sent\n  ${canonical(m.rebuild).slice(0, 1500)}\ninstead of\n  ${canonical(want.rebuild).slice(0, 1500)}`);
    }
  }
  expectNoSecrets(h, res);
  return id;
}

describe('valid rebuild requests', () => {
  property('accepts every valid seed call (JSON) at every microversion and sends Nova exactly its fields', singleRequestArb(), async (req) => {
    expectAccepted(req, await h.send(eventOf(rawOf(req))));
  });

  property('accepts every valid bulk job and queues exactly one message per server, shared fields overlaid by its own', bulkRequestArb(), async (req) => {
    expectAccepted(req, await h.send(eventOf(rawOf(req))));
  });

  property(
    'returns the same job for a replayed Idempotency-Key and 409 for another request under it, writing nothing more',
    fc.tuple(fc.oneof(singleRequestArb(), bulkRequestArb(6)), idempotencyKeyArb, serverIdArb, novaName(40)),
    async ([base, key, extraServer, newName]) => {
      const headers = Object.fromEntries(Object.entries(base.headers).filter(([k]) => k.toLowerCase() !== 'idempotency-key'));
      const req: ValidRequest = { ...base, headers: { ...headers, 'Idempotency-Key': key } };
      const first = await h.send(eventOf(rawOf(req)));
      const id = expectAccepted(req, first);
      const before = h.footprint();

      const replay = await h.sendAgain(eventOf(rawOf(req)));
      expect(replay.status).toBe(202);
      expect((replay.json as { rebuildJob: { id: string } }).rebuildJob.id).toBe(id);
      expect(h.footprint()).toEqual(before);

      // Another request under the same key: another server in a bulk job, another name for one server.
      const other: Body =
        req.kind === 'bulk'
          ? { rebuildJob: { ...(req.body.rebuildJob as Body), servers: [...((req.body.rebuildJob as Body).servers as Body[]), { id: extraServer.rendered, rebuild: { imageRef: extraServer.id } }] } }
          : { rebuild: { ...(req.body.rebuild as Body), name: (req.body.rebuild as Body).name === newName ? `${newName}-2` : newName } };
      const collides = req.kind === 'bulk' && req.servers.some((s) => s.id === extraServer.id);
      const conflict = await h.sendAgain(eventOf(rawOf({ ...req, body: other })));
      if (collides) return; // the same server twice: refused for that, not for the key
      if (conflict.status !== 409) fail(req, conflict, 'another request under a used Idempotency-Key must be 409');
      expectFault(conflict);
      expect(h.footprint()).toEqual(before);
      expectNoSecrets(h, conflict);
    },
  );
});
