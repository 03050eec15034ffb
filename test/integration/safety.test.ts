/**
 * The promises that matter most, end to end: the local stack (DynamoDB Local, fauxqs, the
 * event-source stand-in) driving the Compute API simulator through the real HTTP client, with the
 * simulated cloud's clock five minutes behind ours — then, halfway, five minutes ahead.
 *
 * Exactly once whatever the cloud answers (a 5xx after Nova acted, a balancer's 504 while Nova acts
 * later, a worker that dies after the 202); no secret from the cloud's words in the table, the logs
 * or any answer; one rebuild per server across jobs; every server ends, every slot comes back; the
 * attempt budget spent only on requests that may have reached the cloud.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { PurgeQueueCommand } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pythonRepr } from '../../lib/request/nova-formats.js';
import type { ComputeSimulator } from '../../local/sim/index.js';
import { type LocalStack, startLocalStack } from '../../local/stack.js';
import { IMAGE, StackClient } from '../support/client.js';
import { capturingLogger } from '../support/memory.js';
import { loadRecordings } from '../support/recordings.js';

const FAST = {
  WATCH_FIRST_LOOK_SECONDS: '1',
  WATCH_MAX_PACE_SECONDS: '1',
  BACKOFF_BASE_SECONDS: '1',
  BACKOFF_CAP_SECONDS: '2',
  CLAIM_LEASE_SECONDS: '2',
  // An unknown outcome is final 2 s after the attempt here (the default is 3 minutes).
  SETTLE_SECONDS: '2',
  VERIFY_FIRST_SECONDS: '1',
};
const FIVE_MINUTES = 300_000;

let stack: LocalStack;
let sim: ComputeSimulator;
const { logger, lines } = capturingLogger();
/** Servers whose every step dies at its start (the worker crashes on them at every delivery). */
const crashing = new Set<string>();
const crashAfterAnswer = new Set<string>();

beforeAll(async () => {
  stack = await startLocalStack({
    env: FAST,
    logger,
    // A message left undeleted comes back after 2 s; the third delivery is its last.
    queue: { visibilityTimeoutSeconds: 2, maxReceiveCount: 3 },
    worker: {
      poller: { batchSize: 10, batchingWindowSeconds: 0, maxConcurrency: 4 },
      // The cloud's clock is five minutes behind ours.
      simulator: { clockSkewMs: -FIVE_MINUTES },
      sweepEverySeconds: 0,
      crashPoint: (point, serverId) => {
        if (point === 'stepStart' && crashing.has(serverId)) throw new Error('worker died at the start of the step');
        if (point === 'afterRebuildAnswered' && crashAfterAnswer.delete(serverId)) throw new Error('worker died after the cloud answered');
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
  crashing.clear();
  crashAfterAnswer.clear();
});

const client = new StackClient(() => stack, () => sim.tenantId);
const newServer = () => sim.createServer().id;

/** Arms `fault` for the server's next rebuild, submits it alone, and waits for the end. */
async function rebuildThrough(fault: Parameters<ComputeSimulator['injectFault']>[0]['fault'] | undefined, options: object = {}) {
  const id = newServer();
  if (fault) sim.injectFault({ kind: 'rebuild', serverId: id, fault });
  const jobId = await client.submit([{ id }], options);
  const job = await client.untilEnded(jobId);
  const [server] = await client.servers(jobId);
  return { id, jobId, job, server: server as NonNullable<typeof server> };
}

function exactlyOnceWhateverTheCloudAnswers(clockLabel: string) {
  describe(`exactly once whatever the cloud answers (its clock ${clockLabel})`, () => {
    it('rebuilds once when Nova acted and answered 500: its request id is found among its instance actions', async () => {
      const { id, job, server } = await rebuildThrough({ type: 'actThenFail', status: 500 });
      expect(job.status).toBe('SUCCEEDED');
      expect(sim.rebuildCount(id)).toBe(1);
      // The 500 carried Nova's request id, and it is the rebuild's, as its instance actions show.
      const actions = sim.requests().filter((r) => r.kind === 'rebuild' && r.serverId === id);
      expect(actions).toHaveLength(1);
      expect(server.computeRequestIds).toContain(actions[0]?.requestId);
    });

    it.each([502, 504] as const)("rebuilds once when Nova acted and a balancer answered %i without a request id", async (status) => {
      const { id, job } = await rebuildThrough({ type: 'actThenFail', status });
      expect(job.status).toBe('SUCCEEDED');
      expect(sim.rebuildCount(id)).toBe(1);
    });

    it("rebuilds once when a balancer answered 504 at once and Nova acted on the request later", async () => {
      const { id, job } = await rebuildThrough({ type: 'actLate', ms: 1200 });
      expect(job.status).toBe('SUCCEEDED');
      expect(sim.rebuildCount(id)).toBe(1);
    });

    it('rebuilds once when the worker died after the 202 and before anything was written', async () => {
      const id = newServer();
      crashAfterAnswer.add(id);
      const jobId = await client.submit([{ id }]);
      expect((await client.untilEnded(jobId)).status).toBe('SUCCEEDED');
      expect(sim.rebuildCount(id)).toBe(1);
    });

    it('sends once more, and only once, when the request was lost before Nova read it', async () => {
      const { id, job, server } = await rebuildThrough({ type: 'reset' });
      expect(job.status).toBe('SUCCEEDED');
      expect(sim.rebuildCount(id)).toBe(1);
      expect(server.attempts).toBe(2);
    });
  });
}

exactlyOnceWhateverTheCloudAnswers('five minutes behind ours');

describe('no secret from the cloud\'s words', () => {
  const adminPass = `it's "seekr3t"\\x\u00e9`;
  const contents = Buffer.from('hello banner, with a password: hunter2-banner\n').toString('base64');
  // Every form a secret may come back in: as sent, as Python's repr writes it, base64, decoded.
  const forms = [adminPass, pythonRepr(adminPass).slice(1, -1), contents, 'hunter2-banner', Buffer.from(adminPass).toString('base64')];

  async function tableText(): Promise<string> {
    const out = await stack.clients.dynamodb.send(new ScanCommand({ TableName: 'rebuild-jobs' }));
    return JSON.stringify(out.Items);
  }

  it('replays 04b through the worker: Nova quotes the whole body, and the stored fault, the logs and every answer are scrubbed', async () => {
    const recorded = loadRecordings().find((r) => r.name.startsWith('04b-'));
    expect(recorded).toBeDefined();
    const body = JSON.parse(recorded?.request.body ?? '{}') as { rebuild: Record<string, unknown> };
    const id = newServer();
    sim.injectFault({ kind: 'rebuild', serverId: id, fault: { type: 'quoteRequest', recording: '04b' } });
    // The recorded request, as the seed's drop-in call takes it (at 2.1, where personality is valid).
    const res = await client.post(`/servers/${id}/action`, { rebuild: { ...body.rebuild, imageRef: IMAGE } });
    expect(res.status).toBe(202);
    const jobId = res.json.rebuildJob.id as string;
    expect((await client.untilEnded(jobId)).status).toBe('FAILED');
    const [server] = await client.servers(jobId);
    expect(server?.fault?.name).toBe('badRequest');
    // Nova's words, as recorded, less the secrets.
    expect(server?.fault?.message).toContain("Invalid input for field/attribute rebuild. Value: {'imageRef': '70a599e0-31e7-49b7-b260-868f441e862b', 'name': 'foobar', 'adminPass': '***'");
    expect(server?.fault?.message).toContain("'personality': [{'path': '/etc/banner.txt', 'contents': '***'}]}. Additional properties are not allowed ('personality' was unexpected)");
    const everything = [await tableText(), lines.join('\n'), (await client.get(`/rebuild-jobs/${jobId}/servers`)).text, (await client.get(`/rebuild-jobs/${jobId}`)).text];
    for (const text of everything) {
      expect(text).not.toContain('seekr3t');
      expect(text).not.toContain('aGVsbG8gYmFubmVyCg==');
    }
  });

  it('takes every form of the secrets out of what Nova quotes (04b and 03i shapes), with quotes, escapes and non-ASCII in the password', async () => {
    const [a, b] = [newServer(), newServer()];
    sim.injectFault({ kind: 'rebuild', serverId: a, fault: { type: 'quoteRequest', recording: '04b' } });
    sim.injectFault({ kind: 'rebuild', serverId: b, fault: { type: 'quoteRequest', recording: '03i' } });
    const jobId = await client.submit([{ id: a }, { id: b }], {}, { imageRef: IMAGE, adminPass, personality: [{ path: '/etc/banner.txt', contents }] });
    expect((await client.untilEnded(jobId)).status).toBe('FAILED');
    const list = await client.servers(jobId);
    expect(list.map((s) => s.fault?.name)).toEqual(['badRequest', 'badRequest']);
    expect(list.find((s) => s.id === b)?.fault?.message).toBe("Invalid input for field/attribute contents. Value: ***. '***' is not a 'base64'");
    const everything = [await tableText(), lines.join('\n'), (await client.get(`/rebuild-jobs/${jobId}/servers`)).text, (await client.get(`/rebuild-jobs/${jobId}`)).text, (await client.get('/rebuild-jobs')).text];
    for (const text of everything) {
      for (const f of forms) expect(text.includes(f), `a form of a secret (${f.length} chars) in ${text.slice(0, 80)}`).toBe(false);
    }
  });
});

describe('one rebuild per server at a time, across jobs', () => {
  it('refuses a second job naming a server the first still holds, with a 409 naming the first; once that ends, the server is free', async () => {
    const [a, b] = [newServer(), newServer()];
    sim.setServerState(a, { taskState: 'rebooting' });
    const first = await client.submit([{ id: a }]);
    const second = await client.post('/rebuild-jobs', { rebuildJob: { rebuild: { imageRef: IMAGE }, servers: [{ id: b }, { id: a }] } });
    expect(second.status).toBe(409);
    expect(second.json.conflictingRequest.conflicts).toEqual([{ serverId: a, jobId: first }]);
    sim.setServerState(a, { taskState: null });
    expect((await client.untilEnded(first)).status).toBe('SUCCEEDED');
    const third = await client.submit([{ id: b }, { id: a }]);
    expect((await client.untilEnded(third)).status).toBe('SUCCEEDED');
    expect(sim.rebuildCount(a)).toBe(2);
    expect(sim.rebuildCount(b)).toBe(1);
  });
});

describe('every server ends, every slot comes back', () => {
  async function inFlight(jobId: string): Promise<number> {
    return (await stack.store.getJob(jobId))?.inFlight ?? -1;
  }

  it("holds the job's deadline when no message arrives: the sweep ends what is left, after asking the cloud", async () => {
    const [busy, rebuilding] = [newServer(), newServer()];
    // One is busy forever (never sent); the other's rebuild never finishes (sent, followed).
    sim.setServerState(busy, { taskState: 'rebooting' });
    const jobId = await client.submit([{ id: busy }, { id: rebuilding }], { deadlineSeconds: 600 });
    await client.until(jobId, (list) => list.some((s) => s.id === rebuilding && s.status === 'ACCEPTED' || s.status === 'REBUILDING'));
    sim.setServerState(rebuilding, { taskState: 'rebuild_spawning' });
    const report = await stack.sweep(new Date(Date.now() + 601_000));
    expect(report.ended).toBe(2);
    const job = await client.job(jobId);
    expect(job.status).toBe('FAILED');
    expect(job.completedAt).toBeDefined();
    expect(await inFlight(jobId)).toBe(0);
    const list = await client.servers(jobId);
    expect(list.find((s) => s.id === busy)?.fault?.name).toBe('deadlineExceeded');
    expect(list.find((s) => s.id === rebuilding)?.fault?.message).toMatch(/still REBUILD\/rebuild_spawning/);
    sim.setServerState(busy, { taskState: null });
    sim.setServerState(rebuilding, { taskState: null });
    await client.expectCountersExact(jobId);
  });

  it('ends a server whose step fails on every delivery at its last delivery, instead of leaving it to the dead-letter queue', async () => {
    const [bad, good] = [newServer(), newServer()];
    crashing.add(bad);
    const jobId = await client.submit([{ id: bad }, { id: good }]);
    const job = await client.untilEnded(jobId);
    expect(job.status).toBe('PARTIAL');
    const list = await client.servers(jobId);
    expect(list.find((s) => s.id === bad)).toMatchObject({ status: 'FAILED', fault: { name: 'abandoned' } });
    expect(sim.rebuildCount(bad)).toBe(0);
    expect(await inFlight(jobId)).toBe(0);
    expect(stack.sqs.bodies('dlq').filter((b) => b.includes(bad))).toEqual([]);
  });

  it("ends servers whose messages were lost (the queue purged): the sweep finds them overdue, asks the cloud about the sent ones, and ends the job", async () => {
    const [waiting, sent] = [newServer(), newServer()];
    sim.setServerState(waiting, { taskState: 'rebooting' });
    const jobId = await client.submit([{ id: waiting }, { id: sent }]);
    await client.until(jobId, (list) => list.some((s) => s.id === sent && s.status === 'SUCCEEDED') && list.some((s) => s.id === waiting && s.status === 'RETRY_WAIT'));
    // Every message is lost: the waiting server's next attempt among them.
    await stack.clients.sqs.send(new PurgeQueueCommand({ QueueUrl: stack.sqs.queueUrl }));
    const report = await stack.sweep(new Date(Date.now() + 90 * 60_000));
    expect(report.ended).toBeGreaterThanOrEqual(1);
    const list = await client.servers(jobId);
    expect(list.find((s) => s.id === waiting)).toMatchObject({ status: 'FAILED', fault: { name: 'stalled' } });
    expect((await client.job(jobId)).status).toBe('PARTIAL');
    expect(await inFlight(jobId)).toBe(0);
    sim.setServerState(waiting, { taskState: null });
    await client.expectCountersExact(jobId);
  });

  it('reconciles a job whose submission died midway: what was sent is rebuilt, the rest can be cancelled to an end', async () => {
    const ids = [newServer(), newServer(), newServer(), newServer()];
    const send = stack.queue.send.bind(stack.queue);
    stack.queue.send = async (messages) => {
      stack.queue.send = send;
      await send(messages.slice(0, 2));
      throw new Error('the submit function died');
    };
    const res = await client.post('/rebuild-jobs', { rebuildJob: { rebuild: { imageRef: IMAGE }, servers: ids.map((id) => ({ id })) } });
    expect(res.status).toBe(500);
    const [jobSummary] = (await client.get('/rebuild-jobs?limit=1')).json.rebuildJobs as { id: string; submission: { state: string }; total: number }[];
    expect(jobSummary).toMatchObject({ total: 4, submission: { state: 'IN_PROGRESS' } });
    const jobId = jobSummary?.id as string;
    await client.until(jobId, (list) => list.filter((s) => s.status === 'SUCCEEDED').length === 2);
    expect((await client.cancel(jobId)).status).toBe(202);
    const job = await client.untilEnded(jobId);
    expect(job).toMatchObject({ status: 'CANCELLED', counts: { SUCCEEDED: 2, CANCELLED: 2 } });
    expect(ids.map((id) => sim.rebuildCount(id)).sort()).toEqual([0, 0, 1, 1]);
    await client.expectCountersExact(jobId);
  });
});

describe('retries that respect the cloud and the budget', () => {
  it('spends no attempt on requests that never left: Keystone unreachable three times, maxAttempts 1, and still rebuilt', async () => {
    const id = newServer();
    // The worker's token is cached: the next three token requests fail (reset before Keystone read them).
    sim.expireTokens();
    sim.injectFault({ kind: 'auth', fault: { type: 'reset' }, times: 3 });
    const jobId = await client.submit([{ id }], { maxAttempts: 1 });
    expect((await client.untilEnded(jobId)).status).toBe('SUCCEEDED');
    const [server] = await client.servers(jobId);
    expect(server?.attempts).toBe(1);
    expect(sim.rebuildCount(id)).toBe(1);
  });

  it("fails at once when the cloud's Retry-After falls after the job's deadline, naming both", async () => {
    const { job, server } = await rebuildThrough({ type: 'overLimit', status: 429, retryAfter: 7200 }, { deadlineSeconds: 600 });
    expect(job.status).toBe('FAILED');
    expect(server).toMatchObject({ attempts: 1, lastHttpStatus: 429, fault: { name: 'deadlineExceeded' } });
    expect(server.fault?.message).toMatch(/in 7200 s\) would fall after the job's deadline/);
  });

  it('fails a 413 without Retry-After at once: the request is too large for the cloud, waiting will not help', async () => {
    // Over oslo's sizelimit (112 KiB): the cloud's own 413, no Retry-After.
    const metadata = Object.fromEntries(Array.from({ length: 128 }, (_, i) => [`${String(i).padStart(3, '0')}${'k'.repeat(250)}`, 'v'.repeat(255)]));
    const id = newServer();
    const jobId = await client.submit([{ id }], { microversion: '2.57' }, { imageRef: IMAGE, metadata, user_data: Buffer.alloc(40_000).toString('base64') });
    expect((await client.untilEnded(jobId)).status).toBe('FAILED');
    const [s] = await client.servers(jobId);
    expect(s).toMatchObject({ attempts: 1, lastHttpStatus: 413, fault: { name: 'tooLarge' } });
    expect(sim.rebuildCount(id)).toBe(0);
  });
});

describe('with the cloud five minutes ahead of us', () => {
  beforeAll(() => {
    // Ten minutes forward: the cloud's clock now runs five minutes ahead of ours.
    sim.advanceClock(2 * FIVE_MINUTES);
  });
  exactlyOnceWhateverTheCloudAnswers('five minutes ahead of ours');
});
