/**
 * The worker end to end: the local stack (DynamoDB Local, fauxqs, the local event-source poller)
 * driving the Compute API simulator through the real HTTP client, Keystone included. Timings are
 * scaled down (1 s follow-ups, 1–2 s backoff) so each scenario takes seconds.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../../local/stack.js';
import type { ComputeSimulator } from '../../local/sim/index.js';
import { IMAGE, type JobView, StackClient } from '../support/client.js';

const FAST = {
  WATCH_FIRST_LOOK_SECONDS: '1',
  WATCH_MAX_PACE_SECONDS: '1',
  BACKOFF_BASE_SECONDS: '1',
  BACKOFF_CAP_SECONDS: '2',
  CLAIM_LEASE_SECONDS: '2',
  // An attempt whose outcome is unknown counts as never taken once 2 s have passed without a trace of it.
  SETTLE_SECONDS: '2',
  VERIFY_FIRST_SECONDS: '1',
};

let stack: LocalStack;
let sim: ComputeSimulator;
let crashAfterAnswer = new Set<string>();

beforeAll(async () => {
  stack = await startLocalStack({
    env: FAST,
    // A message left undeleted comes back after 2 s; five receives make it poison.
    queue: { visibilityTimeoutSeconds: 2, maxReceiveCount: 3 },
    worker: {
      poller: { batchSize: 10, batchingWindowSeconds: 0, maxConcurrency: 4 },
      crashPoint: (point, serverId) => {
        if (point === 'afterRebuildAnswered' && crashAfterAnswer.delete(serverId)) throw new Error('worker killed after Nova answered, before the record');
      },
    },
  });
  sim = stack.sim as ComputeSimulator;
});
afterAll(async () => {
  await stack?.stop();
});
afterEach(() => {
  sim.clearFaults();
  crashAfterAnswer = new Set();
});

const client = new StackClient(() => stack, () => sim.tenantId);
const api = (path: string) => client.url(path);
const submit = client.submit.bind(client);
const job = client.job.bind(client);
const servers = client.servers.bind(client);
const untilEnded = client.untilEnded.bind(client);
const expectCountersExact = client.expectCountersExact.bind(client);

function newServers(n: number, input: Parameters<ComputeSimulator['createServer']>[0] = {}) {
  return Array.from({ length: n }, () => sim.createServer(input).id);
}

describe('the worker against the Compute API simulator', () => {
  it("takes the seed's JSON example to SUCCEEDED through the drop-in call", async () => {
    const [id] = newServers(1) as [string];
    const res = await fetch(api(`/servers/${id}/action`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: readFileSync(join(import.meta.dirname, '..', 'fixtures', 'seed-rebuild.json')),
    });
    expect(res.status).toBe(202);
    const jobId = ((await res.json()) as { rebuildJob: { id: string } }).rebuildJob.id;
    expect((await untilEnded(jobId)).status).toBe('SUCCEEDED');
    const [s] = await servers(jobId);
    expect(s).toMatchObject({ status: 'SUCCEEDED', attempts: 1, lastHttpStatus: 202, novaState: 'ACTIVE' });
    expect(s?.computeRequestIds).toHaveLength(1);
    expect(sim.server(id)).toMatchObject({ imageId: IMAGE, status: 'ACTIVE' });
    expect(sim.rebuildCount(id)).toBe(1);
    await expectCountersExact(jobId);
  });

  it('retries a server kept busy (409 task_state) until it is free, then records SUCCEEDED', async () => {
    const [id] = newServers(1) as [string];
    sim.setServerState(id, { taskState: 'rebooting' });
    const jobId = await submit([{ id }]);
    // Free it once Nova has refused it twice: the worker came back after its first 409.
    const refused = () => sim.requests().filter((r) => r.kind === 'rebuild' && r.serverId === id && r.status === 409).length;
    await client.until(jobId, () => refused() >= 2);
    sim.setServerState(id, { taskState: null });
    expect((await untilEnded(jobId)).status).toBe('SUCCEEDED');
    expect(refused()).toBeGreaterThanOrEqual(2);
    expect(sim.rebuildCount(id)).toBe(1);
    await expectCountersExact(jobId);
  });

  it('rides out a 503 storm with Retry-After: all succeed, none retried earlier than asked', async () => {
    const ids = newServers(4);
    sim.injectFault({ kind: 'rebuild', fault: { type: 'serviceUnavailable', retryAfter: 2 }, times: 8 });
    const jobId = await submit(ids.map((id) => ({ id })));
    expect((await untilEnded(jobId)).status).toBe('SUCCEEDED');
    for (const id of ids) {
      const tries = sim.requests().filter((r) => r.kind === 'rebuild' && r.serverId === id);
      for (let i = 1; i < tries.length; i++) {
        if (tries[i - 1]?.status === 503) expect((tries[i]?.at ?? 0) - (tries[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(2000);
      }
      expect(sim.rebuildCount(id)).toBe(1);
    }
    expect(sim.requests().filter((r) => r.kind === 'rebuild' && r.status === 503)).toHaveLength(8);
    await expectCountersExact(jobId);
  });

  it('retries an HTML 503 from a proxy (no JSON, no Retry-After)', async () => {
    const [id] = newServers(1) as [string];
    sim.injectFault({ kind: 'rebuild', fault: { type: 'htmlServiceUnavailable' }, times: 2, serverId: id });
    const jobId = await submit([{ id }]);
    expect((await untilEnded(jobId)).status).toBe('SUCCEEDED');
    const [s] = await servers(jobId);
    expect(s?.attempts).toBe(3);
    await expectCountersExact(jobId);
  });

  it("fails an unknown server at once with Nova's 404 message, before any rebuild call", async () => {
    const missing = '00000000-0000-4000-8000-0000000000aa';
    const jobId = await submit([{ id: missing }]);
    expect((await untilEnded(jobId)).status).toBe('FAILED');
    const [s] = await servers(jobId);
    // The project check (GET /servers/{id}) met the 404: no rebuild was sent.
    expect(s).toMatchObject({ status: 'FAILED', attempts: 0, lastHttpStatus: 404, fault: { name: 'itemNotFound' } });
    expect(sim.requests().filter((r) => r.kind === 'rebuild' && r.serverId === missing)).toHaveLength(0);
    expect(s?.fault?.message).toContain(`Instance ${missing} could not be found.`);
    await expectCountersExact(jobId);
  });

  it("fails a paused server with Nova's reason instead of waiting", async () => {
    const [id] = newServers(1) as [string];
    sim.setServerState(id, { vmState: 'paused' });
    const jobId = await submit([{ id }]);
    expect((await untilEnded(jobId)).status).toBe('FAILED');
    const [s] = await servers(jobId);
    expect(s).toMatchObject({ attempts: 1, lastHttpStatus: 409, fault: { name: 'conflictingRequest' } });
    expect(s?.fault?.message).toContain('while it is in vm_state paused');
    expect(s?.computeRequestIds).toHaveLength(1);
    expect(sim.rebuildCount(id)).toBe(0);
    await expectCountersExact(jobId);
  });

  it('re-authenticates once after a 401, then succeeds', async () => {
    const [id] = newServers(1) as [string];
    sim.injectFault({ kind: 'rebuild', fault: { type: 'unauthorized' }, times: 1, serverId: id });
    const jobId = await submit([{ id }]);
    expect((await untilEnded(jobId)).status).toBe('SUCCEEDED');
    const [s] = await servers(jobId);
    expect(s?.attempts).toBe(1);
    expect(sim.requests().filter((r) => r.kind === 'rebuild' && r.serverId === id).map((r) => r.status)).toEqual([401, 202]);
    await expectCountersExact(jobId);
  });

  it('leaves a stopped server SHUTOFF on the new image', async () => {
    const [id] = newServers(1) as [string];
    sim.setServerState(id, { vmState: 'stopped', powerState: 4 });
    const jobId = await submit([{ id }]);
    expect((await untilEnded(jobId)).status).toBe('SUCCEEDED');
    expect(sim.server(id)).toMatchObject({ status: 'SHUTOFF', imageId: IMAGE });
    expect((await servers(jobId))[0]?.novaState).toBe('SHUTOFF');
    await expectCountersExact(jobId);
  });

  it("fails a server that goes to ERROR with the server's fault", async () => {
    const [id] = newServers(1) as [string];
    sim.failNextRebuild(id, 'No valid host was found.');
    const jobId = await submit([{ id }]);
    expect((await untilEnded(jobId)).status).toBe('FAILED');
    const [s] = await servers(jobId);
    expect(s).toMatchObject({ status: 'FAILED', fault: { name: 'serverError' } });
    expect(s?.fault?.message).toContain('No valid host was found.');
    await expectCountersExact(jobId);
  });

  it('rebuilds exactly once when the worker dies after the 202 and before the record', async () => {
    const [id] = newServers(1) as [string];
    crashAfterAnswer.add(id);
    const jobId = await submit([{ id }]);
    expect((await untilEnded(jobId)).status).toBe('SUCCEEDED');
    expect(crashAfterAnswer.size).toBe(0);
    expect(sim.rebuildCount(id)).toBe(1);
    expect(sim.requests().filter((r) => r.kind === 'actions' && r.serverId === id).length).toBeGreaterThan(0);
    await expectCountersExact(jobId);
  });

  it('asks Nova before sending again when the connection broke after Nova took the rebuild', async () => {
    const [id] = newServers(1) as [string];
    sim.injectFault({ kind: 'rebuild', fault: { type: 'resetAfterProcessing' }, times: 1, serverId: id });
    const jobId = await submit([{ id }]);
    expect((await untilEnded(jobId)).status).toBe('SUCCEEDED');
    expect(sim.rebuildCount(id)).toBe(1);
    expect(sim.requests().filter((r) => r.kind === 'rebuild' && r.serverId === id)).toHaveLength(1);
    expect(sim.requests().some((r) => r.kind === 'actions' && r.serverId === id)).toBe(true);
    await expectCountersExact(jobId);
  });

  it('sends again, once, when the connection broke before Nova took the rebuild', async () => {
    const [id] = newServers(1) as [string];
    sim.injectFault({ kind: 'rebuild', fault: { type: 'reset' }, times: 1, serverId: id });
    const jobId = await submit([{ id }]);
    expect((await untilEnded(jobId)).status).toBe('SUCCEEDED');
    expect(sim.rebuildCount(id)).toBe(1);
    expect(sim.requests().filter((r) => r.kind === 'rebuild' && r.serverId === id).map((r) => r.status)).toEqual(['reset', 202]);
    await expectCountersExact(jobId);
  });

  it('waits at least Retry-After on a 429 from a rate-limiting proxy', async () => {
    const [id] = newServers(1) as [string];
    sim.injectFault({ kind: 'rebuild', fault: { type: 'overLimit', status: 429, retryAfter: 2 }, times: 1, serverId: id });
    const jobId = await submit([{ id }]);
    expect((await untilEnded(jobId)).status).toBe('SUCCEEDED');
    const [first, second] = sim.requests().filter((r) => r.kind === 'rebuild' && r.serverId === id);
    expect(first?.status).toBe(429);
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(2000);
    await expectCountersExact(jobId);
  });

  it("keeps no more than maxInFlight rebuilds running, so the cloud's capacity limit is never hit", async () => {
    const ids = newServers(8);
    sim.setMaxConcurrentRebuilds(2);
    try {
      const jobId = await submit(ids.map((id) => ({ id })), { maxInFlight: 2 });
      expect((await untilEnded(jobId, 60)).status).toBe('SUCCEEDED');
      const posts = sim.requests().filter((r) => r.kind === 'rebuild' && ids.includes(r.serverId ?? ''));
      expect(posts.map((r) => r.status)).toEqual(Array(8).fill(202));
      for (const id of ids) expect(sim.rebuildCount(id)).toBe(1);
      await expectCountersExact(jobId);
    } finally {
      sim.setMaxConcurrentRebuilds(null);
    }
  });

  it('cancels: servers not yet submitted end CANCELLED, in-flight ones finish, the job ends CANCELLED', async () => {
    const [busy, a, b] = newServers(3) as [string, string, string];
    sim.setServerState(busy, { taskState: 'rebooting' }); // keeps it waiting between attempts
    const jobId = await submit([{ id: busy }, { id: a }, { id: b }]);
    // Cancel once the free two were accepted by Nova (and before their first follow-up).
    const until = Date.now() + 20_000;
    for (;;) {
      const list = await servers(jobId);
      const st = (id: string) => list.find((s) => s.id === id)?.status;
      if (st(busy) === 'RETRY_WAIT' && st(a) === 'ACCEPTED' && st(b) === 'ACCEPTED') break;
      if (Date.now() > until) throw new Error(`never got there: ${JSON.stringify(list.map((s) => s.status))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const res = await fetch(api(`/rebuild-jobs/${jobId}/action`), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"cancel": null}' });
    expect(res.status).toBe(202);
    const after = ((await res.json()) as { rebuildJob: JobView }).rebuildJob;
    expect(after.counts.CANCELLED).toBe(1);
    const ended = await untilEnded(jobId);
    expect(ended.status).toBe('CANCELLED');
    const list = await servers(jobId);
    expect(Object.fromEntries(list.map((s) => [s.id, s.status]))).toEqual({ [busy]: 'CANCELLED', [a]: 'SUCCEEDED', [b]: 'SUCCEEDED' });
    expect([sim.rebuildCount(busy), sim.rebuildCount(a), sim.rebuildCount(b)]).toEqual([0, 1, 1]);
    sim.setServerState(busy, { taskState: null });
    await expectCountersExact(jobId);
    const again = await fetch(api(`/rebuild-jobs/${jobId}/action`), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"cancel": null}' });
    expect(again.status).toBe(409);
  });

  it('stops submitting past maxFailurePercentage: the rest end CANCELLED and the job FAILED with the reason', async () => {
    const missing = Array.from({ length: 12 }, (_, i) => `00000000-0000-4000-8000-0000000001${String(i).padStart(2, '0')}`);
    // The good servers are busy, so they are still waiting when the unknown ones have failed.
    const good = newServers(8);
    for (const id of good) sim.setServerState(id, { taskState: 'rebooting' });
    const jobId = await submit([...missing, ...good].map((id) => ({ id })), { maxFailurePercentage: 50 });
    const ended = await untilEnded(jobId, 25);
    expect(ended.status).toBe('FAILED');
    expect(ended.stop?.by).toBe('threshold');
    expect(ended.stop?.reason).toMatch(/over the job's maxFailurePercentage of 50%/);
    // Judged once ten have ended (MIN_FAILURE_SAMPLE): the stop comes at the 10th, 11th or 12th
    // failure, as the unknown servers' steps race; the ones not failed by then are cancelled.
    const failed = ended.counts.FAILED ?? 0;
    expect(failed).toBeGreaterThanOrEqual(10);
    expect(ended.counts).toMatchObject({ CANCELLED: 20 - failed, SUCCEEDED: 0 });
    const list = await servers(jobId);
    for (const id of good) {
      expect(list.find((s) => s.id === id)?.status).toBe('CANCELLED');
      expect(sim.rebuildCount(id)).toBe(0);
      sim.setServerState(id, { taskState: null });
    }
    expect(list.filter((s) => s.status === 'FAILED').every((s) => missing.includes(s.id) && s.fault?.name === 'itemNotFound')).toBe(true);
    expect(list.filter((s) => s.status === 'CANCELLED').every((s) => s.fault?.name === 'failureThreshold')).toBe(true);
    await expectCountersExact(jobId);
  });
});

describe('poison messages', () => {
  it('go to the dead-letter queue while the rest of their batch is handled', async () => {
    const ids = newServers(3);
    const { SendMessageCommand, SQSClient } = await import('@aws-sdk/client-sqs');
    const sqs = new SQSClient({ region: stack.aws.region, credentials: stack.aws.credentials, endpoint: stack.aws.sqsEndpoint });
    await sqs.send(new SendMessageCommand({ QueueUrl: stack.sqs.queueUrl, MessageBody: '{"v": 1, "adminPass": "not-a-real-message"}' }));
    const jobId = await submit(ids.map((id) => ({ id })));
    expect((await untilEnded(jobId)).status).toBe('SUCCEEDED');
    const until = Date.now() + 20_000;
    while (stack.sqs.bodies('dlq').length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    expect(stack.sqs.bodies('dlq')).toEqual(['{"v": 1, "adminPass": "not-a-real-message"}']);
    await expectCountersExact(jobId);
  });
});
