/**
 * The submit path end to end on the local stand-ins: HTTP into the local gateway, the real
 * DynamoDB and SQS adapters through the AWS SDK against DynamoDB Local and fauxqs on loopback.
 */
import { type AttributeValue, DynamoDBClient, ScanCommand, type ScanCommandOutput } from '@aws-sdk/client-dynamodb';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RebuildMessage, type WatchMessage, isWatchMessage, parseQueueMessage } from '../../lib/jobs/message.js';
import { type LocalStack, startLocalStack } from '../../local/stack.js';

const IMAGE = '70a599e0-31e7-49b7-b260-868f441e862b';
const uuid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
const logLines: string[] = [];

let stack: LocalStack;
let sqs: SQSClient;
let ddb: DynamoDBClient;

beforeAll(async () => {
  const logger = new Logger({ serviceName: 'it', logLevel: 'DEBUG' });
  const sink = (...a: unknown[]) => logLines.push(a.map(String).join(' '));
  (logger as unknown as { console: object }).console = { log: sink, info: sink, warn: sink, error: sink, debug: sink, trace: sink };
  stack = await startLocalStack({ logger, worker: false });
  sqs = new SQSClient({ region: stack.aws.region, credentials: stack.aws.credentials, endpoint: stack.aws.sqsEndpoint });
  ddb = new DynamoDBClient({ region: stack.aws.region, credentials: stack.aws.credentials, endpoint: stack.aws.dynamoEndpoint });
});
afterAll(async () => {
  await stack?.stop();
});

async function submit(body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.apiUrl}/v2/tenant-a/rebuild-jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, any> };
}

async function get(path: string) {
  const res = await fetch(`${stack.apiUrl}${path}`);
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

/** Receives and deletes every message in the queue, parsed with the worker's schema: the servers' and the watchers'. */
async function drainQueue(url: string): Promise<RebuildMessage[] & { watchers?: WatchMessage[] }> {
  const out: RebuildMessage[] & { watchers?: WatchMessage[] } = [];
  out.watchers = [];
  for (;;) {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    const msgs = r.Messages ?? [];
    if (msgs.length === 0) return out;
    for (const m of msgs) {
      const parsed = parseQueueMessage(m.Body ?? '');
      if (isWatchMessage(parsed)) out.watchers.push(parsed);
      else out.push(parsed);
    }
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })) }));
  }
}

async function allServers(jobId: string) {
  const servers = [];
  let marker: string | undefined;
  do {
    const page = await get(`/v2/tenant-a/rebuild-jobs/${jobId}/servers?limit=300${marker ? `&marker=${marker}` : ''}`);
    servers.push(...page.json.servers);
    const next = page.json.servers_links[0]?.href as string | undefined;
    marker = next ? (new URL(next).searchParams.get('marker') ?? undefined) : undefined;
  } while (marker);
  return servers;
}

describe('a 1,000-server job on the local stand-ins', () => {
  let jobId: string;
  const servers = Array.from({ length: 1000 }, (_, i) => ({ id: uuid(i), rebuild: { name: `web-${i}` } }));

  it('is accepted with 202 and a Location that answers', async () => {
    const res = await submit({ rebuildJob: { rebuild: { imageRef: IMAGE, adminPass: 'seekr3t' }, servers } }, { 'Idempotency-Key': 'fleet-1000' });
    expect(res.status).toBe(202);
    jobId = res.json.rebuildJob.id;
    const location = res.headers.get('location') as string;
    expect(location).toBe(`${stack.apiUrl}/v2/tenant-a/rebuild-jobs/${jobId}`);
    const job = (await get(new URL(location).pathname)).json.rebuildJob;
    expect(job).toMatchObject({ status: 'QUEUED', total: 1000, submission: { state: 'COMPLETE' } });
    expect(job.counts).toEqual({ QUEUED: 1000, SUBMITTING: 0, ACCEPTED: 0, REBUILDING: 0, RETRY_WAIT: 0, SUCCEEDED: 0, FAILED: 0, CANCELLED: 0 });
  });

  it('has 1,000 server records, all QUEUED, readable page by page', async () => {
    const records = await allServers(jobId);
    expect(records).toHaveLength(1000);
    expect(new Set(records.map((s) => s.id)).size).toBe(1000);
    expect(records.every((s) => s.status === 'QUEUED' && s.imageRef === IMAGE)).toBe(true);
  });

  it('returns the same job for the same Idempotency-Key, and 409 for another body', async () => {
    const again = await submit({ rebuildJob: { rebuild: { imageRef: IMAGE, adminPass: 'seekr3t' }, servers } }, { 'Idempotency-Key': 'fleet-1000' });
    expect(again.status).toBe(202);
    expect(again.json.rebuildJob.id).toBe(jobId);
    const other = await submit({ rebuildJob: { rebuild: { imageRef: IMAGE }, servers: servers.slice(1) } }, { 'Idempotency-Key': 'fleet-1000' });
    expect(other.status).toBe(409);
    expect(other.json.conflictingRequest.message).toContain(jobId);
  });

  it("has sent exactly 1,000 messages, one per server, each valid for the worker, and the watcher's first", async () => {
    const messages = await drainQueue(stack.sqs.queueUrl);
    expect(messages).toHaveLength(1000);
    // The preflight: the job's watcher, generation 1, carrying the shared secrets to scrub the cloud's text with.
    expect(messages.watchers).toEqual([expect.objectContaining({ kind: 'watch', jobId, gen: 1, tick: 0, secrets: { adminPass: 'seekr3t' } })]);
    expect(new Set(messages.map((m) => m.serverId))).toEqual(new Set(servers.map((s) => s.id)));
    expect(messages.every((m) => m.jobId === jobId && m.rebuild.adminPass === 'seekr3t')).toBe(true);
    expect(messages.find((m) => m.serverId === uuid(7))?.rebuild.name).toBe('web-7');
  });

  it('lists the job for its caller', async () => {
    const list = await get('/v2/tenant-a/rebuild-jobs?limit=5');
    expect(list.json.rebuildJobs.map((j: { id: string }) => j.id)).toContain(jobId);
  });
});

describe('the queue going away mid-submit', () => {
  it('leaves a job that says how many servers were queued, and the rest FAILED notQueued', async () => {
    await drainQueue(stack.sqs.queueUrl);
    const servers = Array.from({ length: 600 }, (_, i) => ({ id: uuid(5000 + i) }));
    // Stop the SQS server once it holds some of this job's messages: a real outage mid-submit.
    // The servers' messages (the watcher's first goes before them).
    const serverBodies = () => stack.sqs.bodies('main').filter((b) => !b.includes('"kind":"watch"'));
    let seenBeforeStop = -1;
    const watch = setInterval(() => {
      const n = serverBodies().length;
      if (n >= 100 && seenBeforeStop < 0) {
        seenBeforeStop = n;
        void stack.sqs.server.stop();
      }
    }, 1);
    const res = await submit({ rebuildJob: { rebuild: { imageRef: IMAGE }, servers } });
    clearInterval(watch);
    expect(seenBeforeStop).toBeGreaterThan(0);
    expect(res.status).toBe(503);
    const jobId = res.json.serviceUnavailable.jobId as string;
    const queued = serverBodies().length;
    expect(queued).toBeGreaterThanOrEqual(seenBeforeStop);
    expect(queued).toBeLessThan(600);
    const job = (await get(`/v2/tenant-a/rebuild-jobs/${jobId}`)).json.rebuildJob;
    expect(job.submission).toMatchObject({ state: 'INCOMPLETE', notQueued: 600 - queued });
    expect(job.submission.message).toContain(`${queued} of 600 servers were queued`);
    // The unsent servers end FAILED within the submit's budget (10 s); on a machine loaded enough
    // to run out of it, the rest are left QUEUED for the sweeper (see below), never lost.
    expect(job.counts.QUEUED + job.counts.FAILED).toBe(600);
    expect(job.counts.QUEUED).toBeGreaterThanOrEqual(queued);
    const records = await allServers(jobId);
    const failed = records.filter((s) => s.status === 'FAILED');
    expect(failed.every((s) => s.fault.name === 'notQueued')).toBe(true);
    expect(failed).toHaveLength(job.counts.FAILED);
  });
});

describe('secrets on the real stand-ins', () => {
  it("keeps the seed's adminPass out of the table and the logs", async () => {
    const scan = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out: ScanCommandOutput = await ddb.send(new ScanCommand({ TableName: 'rebuild-jobs', ...(start ? { ExclusiveStartKey: start } : {}) }));
      scan.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    expect(scan.length).toBeGreaterThan(1000);
    const table = JSON.stringify(scan);
    expect(table).toContain('***');
    expect(table).not.toContain('seekr3t');
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('\n')).not.toContain('seekr3t');
  });
});

describe('the table going away', () => {
  it('answers 503 serviceUnavailable, never a 500, while DynamoDB cannot be reached', async () => {
    await stack.dynamo.stop();
    const res = await fetch(`${stack.apiUrl}/v2/tenant-a/rebuild-jobs?limit=1`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { serviceUnavailable: { code: number; message: string } };
    expect(body.serviceUnavailable.code).toBe(503);
    expect(body.serviceUnavailable.message).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
    const post = await submit({ rebuildJob: { rebuild: { imageRef: IMAGE }, servers: [{ id: uuid(9999) }] } });
    expect(post.status).toBe(503);
  });
});
