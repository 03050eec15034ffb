import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ApiEvent, createApi } from '../../functions/api-app.js';
import { QueueUnavailableError, StoreUnavailableError } from '../../lib/errors.js';
import type { RebuildMessage } from '../../lib/jobs/message.js';
import { PRINCIPAL, apiEvent, testApiConfig } from '../support/api.js';
import { MemoryJobStore, MemoryQueue, capturingLogger } from '../support/memory.js';

const IMAGE = '70a599e0-31e7-49b7-b260-868f441e862b';
const fixture = (name: string) => readFileSync(join(import.meta.dirname, '..', 'fixtures', name), 'utf8');
const uuid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

function setup(env: Record<string, string> = {}) {
  const store = new MemoryJobStore();
  const queue = new MemoryQueue();
  const { logger, lines } = capturingLogger();
  let clock = Date.parse('2026-11-27T00:00:00Z');
  const api = createApi({ store, queue, logger, config: testApiConfig(env), now: () => new Date(clock) });
  const call = async (event: ApiEvent) => {
    const res = await api(event);
    return { ...res, json: JSON.parse(res.body ?? 'null') as Record<string, any> };
  };
  return { store, queue, lines, call, advance: (ms: number) => (clock += ms) };
}

const bulk = (servers: unknown[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ rebuildJob: { rebuild: { imageRef: IMAGE, adminPass: 'seekr3t' }, servers, ...extra } });
const post = (path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }, principal?: string) =>
  apiEvent('POST', path, { body, headers, ...(principal ? { principal } : {}) });

describe('POST /v2/{tenant_id}/rebuild-jobs', () => {
  it('accepts a bulk job: 202, Location, one message per server with the shared fields overlaid by its own', async () => {
    const t = setup();
    const res = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }, { id: uuid(2), rebuild: { name: 'web-2', adminPass: 'other' } }])));
    expect(res.statusCode).toBe(202);
    const job = res.json.rebuildJob;
    expect(res.headers?.Location).toBe(`https://api.example.test/v2/tenant-a/rebuild-jobs/${job.id}`);
    expect(job).toMatchObject({ status: 'QUEUED', total: 2, counts: { QUEUED: 2, SUCCEEDED: 0 }, submission: { state: 'COMPLETE' } });
    expect(job.links[0]).toEqual({ rel: 'self', href: res.headers?.Location });
    const msgs = t.queue.messages.sort((a, b) => a.serverId.localeCompare(b.serverId));
    expect(msgs.map((m) => m.rebuild)).toEqual([
      { imageRef: IMAGE, adminPass: 'seekr3t' },
      { imageRef: IMAGE, adminPass: 'other', name: 'web-2' },
    ]);
    expect(msgs[0]).toMatchObject({ jobId: job.id, tenantId: 'tenant-a', microversion: '2.1', maxAttempts: 30 });
  });

  it('takes job options and refuses a microversion that contradicts the header', async () => {
    const t = setup();
    const opts = { options: { microversion: '2.57', maxAttempts: 5, deadlineSeconds: 600, maxFailurePercentage: 10 } };
    const ok = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }], opts)));
    expect(ok.json.rebuildJob.options).toEqual({ microversion: '2.57', maxAttempts: 5, deadlineSeconds: 600, maxFailurePercentage: 10, maxInFlight: 50 });
    const clash = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }], opts), { 'content-type': 'application/json', 'x-openstack-nova-api-version': '2.60' }));
    expect(clash.statusCode).toBe(400);
    expect(clash.json.badRequest.message).toContain('options.microversion 2.57 contradicts the microversion header 2.60');
  });

  it('takes a rollout: a canary, waves by size or percent, a pause; and refuses one it cannot run, naming the field, writing nothing', async () => {
    const t = setup();
    const servers = Array.from({ length: 10 }, (_, i) => ({ id: uuid(i + 1) }));
    const bySize = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk(servers, { options: { rollout: { canary: 2, waveSize: 3, pause: 'afterCanary' } } })));
    expect(bySize.statusCode).toBe(202);
    expect(bySize.json.rebuildJob.options.rollout).toEqual({ canary: 2, waveSize: 3, pause: 'afterCanary' });
    expect(bySize.json.rebuildJob.rollout).toEqual({ wave: 0, open: 2 });
    // A percentage of all the job's servers, rounded up; no canary: the first wave goes first.
    const byPercent = await t.call(post('/v2/tenant-b/rebuild-jobs', bulk(servers, { options: { rollout: { wavePercent: 25 } } })));
    expect(byPercent.json.rebuildJob.options.rollout).toEqual({ canary: 0, waveSize: 3, pause: 'never' });
    expect(byPercent.json.rebuildJob.rollout).toEqual({ wave: 0, open: 3 });
    const jobs = t.store.jobs.size;
    const refused: [Record<string, unknown>, string, RegExp][] = [
      [{ canary: 10 }, '/rebuildJob/options/rollout/canary', /is not less than the job's 10 servers/],
      [{ canary: 0 }, '/rebuildJob/options/rollout/canary', /minimum of 1/],
      [{ waveSize: 2, wavePercent: 10 }, '/rebuildJob/options/rollout/wavePercent', /cannot be given with waveSize/],
      [{ wavePercent: 0 }, '/rebuildJob/options/rollout/wavePercent', /minimum of 0/],
      [{}, '/rebuildJob/options/rollout/canary', /needs a canary, a waveSize or a wavePercent/],
      [{ waveSize: 2, pause: 'afterCanary' }, '/rebuildJob/options/rollout/pause', /needs a canary/],
      [{ canary: 1, pause: 'sometimes' }, '/rebuildJob/options/rollout/pause', /is not one of/],
      [{ canary: 1, waves: 3 }, '/rebuildJob/options/rollout', /Additional properties are not allowed/],
    ];
    for (const [rollout, pointer, message] of refused) {
      const res = await t.call(post('/v2/tenant-c/rebuild-jobs', bulk(servers, { options: { rollout } })));
      expect(res.statusCode, JSON.stringify(rollout)).toBe(400);
      expect(res.json.badRequest.invalid, JSON.stringify(rollout)).toEqual([expect.objectContaining({ pointer, message: expect.stringMatching(message) })]);
    }
    expect(t.store.jobs.size).toBe(jobs);
  });

  it('takes confirm "manual": PLANNING, nothing but the watcher queued; a server with secrets of its own is refused, naming the field', async () => {
    const t = setup();
    const planned = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }, { id: uuid(2) }], { options: { confirm: 'manual' } })));
    expect(planned.statusCode).toBe(202);
    expect(planned.json.rebuildJob).toMatchObject({ status: 'PLANNING', options: { confirm: 'manual' }, awaiting: { until: expect.any(String) } });
    expect(planned.json.rebuildJob.links).toContainEqual({ rel: 'plan', href: expect.stringMatching(/\/plan$/) });
    expect(t.queue.messages).toHaveLength(0);
    expect(t.queue.scheduled.map((m) => m.message)).toEqual([expect.objectContaining({ kind: 'watch' })]);
    expect(t.queue.scheduled[0]?.message).not.toHaveProperty('secrets');
    const own = await t.call(post('/v2/tenant-b/rebuild-jobs', bulk([{ id: uuid(1), rebuild: { adminPass: 'own' } }], { options: { confirm: 'manual' } })));
    expect(own.statusCode).toBe(400);
    expect(own.json.badRequest.invalid).toEqual([expect.objectContaining({ pointer: '/rebuildJob/servers/0/rebuild/adminPass', message: expect.stringContaining('confirm') })]);
    const bad = await t.call(post('/v2/tenant-b/rebuild-jobs', bulk([{ id: uuid(1) }], { options: { confirm: 'later' } })));
    expect(bad.json.badRequest.invalid).toEqual([expect.objectContaining({ pointer: '/rebuildJob/options/confirm' })]);
  });

  it('validates each server at the job microversion: personality is refused per server at 2.57', async () => {
    const t = setup();
    const res = await t.call(
      post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }, { id: uuid(2), rebuild: { personality: [{ path: '/a', contents: 'aGk=' }] } }], { options: { microversion: '2.57' } })),
    );
    expect(res.statusCode).toBe(400);
    expect(res.json.badRequest.invalid).toEqual([
      expect.objectContaining({ pointer: '/rebuildJob/servers/1/rebuild', index: 1, serverId: uuid(2) }),
    ]);
    expect(t.queue.messages).toHaveLength(0);
    expect(t.store.jobs.size).toBe(0);
  });

  it('lists every invalid field with item index, server id and JSON pointer, capped with the count', async () => {
    const t = setup();
    const servers = Array.from({ length: 30 }, (_, i) => ({ id: uuid(i), rebuild: { name: ' bad' } }));
    const res = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([...servers, { id: uuid(0) }, { id: 'nope' }])));
    expect(res.statusCode).toBe(400);
    const fault = res.json.badRequest;
    expect(fault.invalidCount).toBe(32);
    expect(fault.invalid).toHaveLength(20);
    expect(fault.invalid[0]).toEqual({ pointer: '/rebuildJob/servers/0/rebuild/name', index: 0, serverId: uuid(0), message: expect.stringContaining('field/attribute name') });
    expect(fault.message).toMatch(/^32 invalid fields: .*; and 12 more$/);
    expect(t.store.jobs.size).toBe(0);
  });

  it('refuses a server listed twice, even written differently', async () => {
    const t = setup();
    const res = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(7) }, { id: uuid(7).toUpperCase() }])));
    expect(res.statusCode).toBe(400);
    expect(res.json.badRequest.message).toContain(`Server ${uuid(7)} is listed twice (items 0 and 1)`);
  });

  it('refuses a missing imageRef only where no shared one fills it', async () => {
    const t = setup();
    const body = JSON.stringify({ rebuildJob: { servers: [{ id: uuid(1), rebuild: { imageRef: IMAGE } }, { id: uuid(2) }] } });
    const res = await t.call(post('/v2/tenant-a/rebuild-jobs', body));
    expect(res.json.badRequest.invalid).toEqual([expect.objectContaining({ pointer: '/rebuildJob/servers/1/rebuild/imageRef', index: 1 })]);
  });

  it('answers 403 like Nova when only quota-type limits are exceeded', async () => {
    const t = setup({ QUOTA_METADATA_ITEMS: '1' });
    const res = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1), rebuild: { metadata: { a: '1', b: '2' } } }])));
    expect(res.statusCode).toBe(403);
    expect(res.json.forbidden.message).toContain('Maximum number of metadata items exceeds 1');
  });

  it('answers 413 overLimit above the maximum number of servers or bytes', async () => {
    const t = setup({ MAX_SERVERS_PER_JOB: '3', MAX_BODY_BYTES: '2048' });
    const many = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([1, 2, 3, 4].map((i) => ({ id: uuid(i) })))));
    expect(many.statusCode).toBe(413);
    expect(many.json.overLimit.message).toContain('at most 3 servers');
    const big = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1), rebuild: { name: 'x'.repeat(3000) } }])));
    expect(big.statusCode).toBe(413);
    expect(t.queue.messages).toHaveLength(0);
  });

  it('answers 415 for other media types and 400 for malformed or empty bodies', async () => {
    const t = setup();
    expect((await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }]), { 'content-type': 'application/xml' }))).json).toEqual({
      badMediaType: { code: 415, message: expect.stringContaining('Unsupported Content-Type') },
    });
    expect((await t.call(post('/v2/tenant-a/rebuild-jobs', '{"rebuildJob": '))).json).toEqual({ badRequest: { code: 400, message: 'Malformed request body' } });
    expect((await t.call(post('/v2/tenant-a/rebuild-jobs', ''))).statusCode).toBe(400);
    expect((await t.call(apiEvent('POST', '/v2/tenant-a/rebuild-jobs', { body: Buffer.from([0xff, 0xfe, 0x7b]), headers: { 'content-type': 'application/json' } }))).statusCode).toBe(400);
    expect((await t.call(post('/v2/tenant-a/rebuild-jobs', '[1,2]'))).statusCode).toBe(400);
    expect((await t.call(post('/v2/tenant-a/rebuild-jobs', 'null'))).statusCode).toBe(400);
  });

  it('reads text/plain and a missing Content-Type as JSON, as Nova does', async () => {
    const t = setup();
    expect((await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }]), { 'content-type': 'text/plain' }))).statusCode).toBe(202);
    expect((await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(2) }]), {}))).statusCode).toBe(202);
  });
});

describe('POST /v2/{tenant_id}/servers/{server_id}/action', () => {
  it("accepts the seed's JSON example and sends Nova the image UUID", async () => {
    const t = setup();
    const res = await t.call(post(`/v2/tenant-a/servers/${uuid(9)}/action`, fixture('seed-rebuild.json')));
    expect(res.statusCode).toBe(202);
    expect(res.json.rebuildJob).toMatchObject({ kind: 'single', total: 1, rebuild: { imageRef: IMAGE, adminPass: '***' } });
    expect(t.queue.messages[0]?.rebuild.imageRef).toBe(IMAGE);
    expect(t.queue.messages[0]?.serverId).toBe(uuid(9));
  });

  it("accepts the seed's XML example as the same request", async () => {
    const t = setup();
    const res = await t.call(post(`/v2/tenant-a/servers/${uuid(9)}/action`, fixture('seed-rebuild.xml'), { 'content-type': 'application/xml' }));
    expect(res.statusCode).toBe(202);
    const [msg] = t.queue.messages as [RebuildMessage];
    expect(msg.rebuild).toMatchObject({ imageRef: IMAGE, name: 'foobar', adminPass: 'seekr3t', metadata: { 'My Server Name': 'Apache1' } });
  });

  it('reads the microversion from either header Nova reads', async () => {
    const t = setup();
    await t.call(post(`/v2/tenant-a/servers/${uuid(1)}/action`, `{"rebuild": {"imageRef": "${IMAGE}"}}`, { 'OpenStack-API-Version': 'compute 2.57' }));
    await t.call(post(`/v2/tenant-a/servers/${uuid(2)}/action`, `{"rebuild": {"imageRef": "${IMAGE}"}}`, { 'X-OpenStack-Nova-API-Version': '2.19' }));
    expect(t.queue.messages.map((m) => m.microversion)).toEqual(['2.57', '2.19']);
  });

  it('answers a GET on the action path with 404 as Nova does, and other paths with 404 or 405', async () => {
    const t = setup();
    expect((await t.call(apiEvent('GET', `/v2/tenant-a/servers/${uuid(1)}/action`))).statusCode).toBe(404);
    expect((await t.call(apiEvent('GET', '/v2/tenant-a/nothing-here'))).json.itemNotFound.code).toBe(404);
    const del = await t.call(apiEvent('DELETE', '/v2/tenant-a/rebuild-jobs'));
    expect(del.statusCode).toBe(405);
    expect(del.json.badMethod.code).toBe(405);
    expect(del.headers?.Allow).toBe('POST, GET');
    // A path's trailing slash is the same path; a parameter's bad percent-encoding is a 400, never a 500.
    expect((await t.call(apiEvent('GET', '/v2/tenant-a/rebuild-jobs/'))).statusCode).toBe(200);
    const bad = await t.call(apiEvent('GET', '/v2/tenant-%E0%A4%A/rebuild-jobs'));
    expect(bad.statusCode).toBe(400);
    expect(bad.json.badRequest.message).toContain('percent-encoding');
    expect((await t.call(apiEvent('PUT', `/v2/tenant-a/rebuild-jobs/${uuid(1)}/plan`))).headers?.Allow).toBe('GET');
    // No path at all, or one without its leading slash, is a path that names nothing: 404, never a 500.
    for (const path of ['', 'v2/tenant-a/rebuild-jobs']) {
      const none = await t.call(apiEvent('GET', path));
      expect(none.statusCode, path).toBe(404);
      expect(none.json.itemNotFound.code).toBe(404);
    }
    // The method is read in upper case; one the router does not know finds no route.
    expect((await t.call(apiEvent('get', '/v2/tenant-a/rebuild-jobs'))).statusCode).toBe(200);
    expect((await t.call(apiEvent('FROB', '/v2/tenant-a/rebuild-jobs'))).statusCode).toBe(404);
  });
});

describe('idempotency', () => {
  it('returns the same job for the same key and body, and 409 for the same key with another body', async () => {
    const t = setup();
    const h = { 'content-type': 'application/json', 'Idempotency-Key': 'night-1' };
    const first = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }]), h));
    const again = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }]), h));
    expect(again.statusCode).toBe(202);
    expect(again.json.rebuildJob.id).toBe(first.json.rebuildJob.id);
    expect(t.queue.messages).toHaveLength(1);
    const other = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(2) }]), h));
    expect(other.statusCode).toBe(409);
    expect(other.json.conflictingRequest.message).toContain(first.json.rebuildJob.id);
  });

  it('scopes keys by principal and lets a key be reused after 24 hours', async () => {
    const other = 'arn:aws:iam::123456789012:user/someone-else';
    const t = setup({ PROJECT_GRANTS: JSON.stringify({ [PRINCIPAL]: '*', [other]: ['tenant-a'] }) });
    const h = { 'content-type': 'application/json', 'Idempotency-Key': 'k' };
    const a = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }]), h));
    const b = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(2) }]), h, other));
    expect(b.statusCode).toBe(202);
    expect(b.json.rebuildJob.id).not.toBe(a.json.rebuildJob.id);
    // The server is free again once job a has ended.
    await t.call(post(`/v2/tenant-a/rebuild-jobs/${a.json.rebuildJob.id}/action`, '{"cancel": null}'));
    t.advance(24 * 3600 * 1000 + 1000);
    t.store.claims.clear(); // what DynamoDB's TTL does eventually; the expiry check covers the time before
    const c = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }]), h));
    expect(c.statusCode).toBe(202);
    expect(c.json.rebuildJob.id).not.toBe(a.json.rebuildJob.id);
  });

  it('refuses a malformed key', async () => {
    const t = setup();
    const res = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }]), { 'Idempotency-Key': 'x'.repeat(300) }));
    expect(res.statusCode).toBe(400);
  });
});

describe('status endpoints', () => {
  it("hides a job in any other project behind a 404", async () => {
    const t = setup();
    const { json } = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }])));
    const id = json.rebuildJob.id;
    expect((await t.call(apiEvent('GET', `/v2/tenant-a/rebuild-jobs/${id}`))).statusCode).toBe(200);
    expect((await t.call(apiEvent('GET', `/v2/tenant-b/rebuild-jobs/${id}`))).statusCode).toBe(404);
    expect((await t.call(apiEvent('GET', `/v2/tenant-b/rebuild-jobs/${id}/servers`))).statusCode).toBe(404);
  });

  it("lists the caller's jobs newest first, a page at a time", async () => {
    const t = setup();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(i) }])))).json.rebuildJob.id);
      t.advance(1000);
    }
    const page1 = await t.call(apiEvent('GET', '/v2/tenant-a/rebuild-jobs', { query: { limit: '2' } }));
    expect(page1.json.rebuildJobs.map((j: { id: string }) => j.id)).toEqual([ids[2], ids[1]]);
    const next = new URL(page1.json.rebuildJobs_links[0].href);
    expect(next.searchParams.get('marker')).toBe(ids[1]);
    const page2 = await t.call(apiEvent('GET', '/v2/tenant-a/rebuild-jobs', { query: Object.fromEntries(next.searchParams) }));
    expect(page2.json.rebuildJobs.map((j: { id: string }) => j.id)).toEqual([ids[0]]);
    expect(page2.json.rebuildJobs_links).toEqual([]);
  });

  it("lists a job's servers by page and by status", async () => {
    const t = setup();
    const { json } = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([3, 1, 2].map((i) => ({ id: uuid(i) })))));
    const base = `/v2/tenant-a/rebuild-jobs/${json.rebuildJob.id}/servers`;
    const p1 = await t.call(apiEvent('GET', base, { query: { limit: '2' } }));
    expect(p1.json.servers.map((s: { id: string }) => s.id)).toEqual([uuid(1), uuid(2)]);
    expect(p1.json.servers[0]).toMatchObject({ status: 'QUEUED', attempts: 0, imageRef: IMAGE, computeRequestIds: [] });
    const marker = new URL(p1.json.servers_links[0].href).searchParams.get('marker');
    const p2 = await t.call(apiEvent('GET', base, { query: { limit: '2', marker: marker as string } }));
    expect(p2.json.servers.map((s: { id: string }) => s.id)).toEqual([uuid(3)]);
    expect((await t.call(apiEvent('GET', base, { query: { status: 'succeeded' } }))).json.servers).toEqual([]);
    expect((await t.call(apiEvent('GET', base, { query: { status: 'DONE' } }))).statusCode).toBe(400);
    expect((await t.call(apiEvent('GET', base, { query: { limit: '-1' } }))).statusCode).toBe(400);
  });
});

describe('failures midway', () => {
  it('answers 503 naming the job when the queue fails, and the job shows what was and was not queued', async () => {
    const t = setup();
    const sentBefore = new Set<string>();
    t.queue.send = async (messages) => {
      // The first three are taken, then the queue goes away.
      for (const m of messages.slice(0, 3)) sentBefore.add(m.serverId);
      throw new QueueUnavailableError('down', sentBefore);
    };
    const res = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([1, 2, 3, 4, 5].map((i) => ({ id: uuid(i) })))));
    expect(res.statusCode).toBe(503);
    const jobId = res.json.serviceUnavailable.jobId;
    expect(res.json.serviceUnavailable.message).toContain('3 of 5 servers were queued');
    const job = (await t.call(apiEvent('GET', `/v2/tenant-a/rebuild-jobs/${jobId}`))).json.rebuildJob;
    expect(job.counts).toMatchObject({ QUEUED: 3, FAILED: 2 });
    expect(job.submission).toMatchObject({ state: 'INCOMPLETE', notQueued: 2 });
    const failed = (await t.call(apiEvent('GET', `/v2/tenant-a/rebuild-jobs/${jobId}/servers`, { query: { status: 'FAILED' } }))).json.servers;
    expect(failed.map((s: { fault: { name: string } }) => s.fault.name)).toEqual(['notQueued', 'notQueued']);
  });

  it('ends a job at once, FAILED, when the queue took none of its messages', async () => {
    const t = setup();
    t.queue.send = async () => {
      throw new QueueUnavailableError('down', new Set());
    };
    const res = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }, { id: uuid(2) }])));
    expect(res.statusCode).toBe(503);
    expect(res.headers?.Location).toBe(`https://api.example.test/v2/tenant-a/rebuild-jobs/${res.json.serviceUnavailable.jobId}`);
    // The drop-in call points at the job too, not at its own path.
    const single = await t.call(post(`/v2/tenant-a/servers/${uuid(3)}/action`, `{"rebuild": {"imageRef": "${IMAGE}"}}`));
    expect(single.headers?.Location).toBe(`https://api.example.test/v2/tenant-a/rebuild-jobs/${single.json.serviceUnavailable.jobId}`);
    const job = (await t.call(apiEvent('GET', `/v2/tenant-a/rebuild-jobs/${res.json.serviceUnavailable.jobId}`))).json.rebuildJob;
    expect(job).toMatchObject({ status: 'FAILED', counts: { QUEUED: 0, FAILED: 2 }, submission: { state: 'INCOMPLETE', notQueued: 2 } });
    expect(job.completedAt).toBeDefined();
  });

  it('reports a submission that died midway as INTERRUPTED once its window has passed', async () => {
    const t = setup();
    t.queue.send = () => new Promise(() => undefined); // the function is frozen here forever
    void t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }])));
    while (t.store.jobs.size === 0) await Promise.resolve();
    const [job] = [...t.store.jobs.values()];
    const view = async () => (await t.call(apiEvent('GET', `/v2/tenant-a/rebuild-jobs/${job?.jobId}`))).json.rebuildJob.submission;
    expect((await view()).state).toBe('IN_PROGRESS');
    t.advance(61_000);
    expect(await view()).toMatchObject({ state: 'INTERRUPTED', message: expect.stringContaining('cancel the job') });
  });

  it('answers 503 when the job store cannot be reached, so clients retry', async () => {
    const t = setup();
    t.store.getJob = async () => {
      throw new StoreUnavailableError('DynamoDB is unavailable (connect ECONNREFUSED 127.0.0.1:8000)');
    };
    const res = await t.call(apiEvent('GET', `/v2/tenant-a/rebuild-jobs/${uuid(1)}`));
    expect(res.statusCode).toBe(503);
    expect(res.json.serviceUnavailable.message).not.toContain('127.0.0.1');
  });

  it('never answers 5xx to bad input, and never with internals', async () => {
    const t = setup();
    t.store.getJob = async () => {
      throw new Error('ProvisionedThroughputExceeded at arn:aws:dynamodb:secret-table');
    };
    const res = await t.call(apiEvent('GET', `/v2/tenant-a/rebuild-jobs/${uuid(1)}`));
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('arn:aws');
    expect(res.json.computeFault.message).toContain('erred');
  });
});

describe('secrets', () => {
  it('keeps adminPass, personality contents and user_data out of the store, the responses and the logs', async () => {
    const t = setup();
    const responses: string[] = [];
    const seed = fixture('seed-rebuild.json');
    const contents = (JSON.parse(seed) as { rebuild: { personality: { contents: string }[] } }).rebuild.personality[0]?.contents as string;
    responses.push((await t.call(post(`/v2/tenant-a/servers/${uuid(1)}/action`, seed))).body ?? '');
    const ud = await t.call(
      post('/v2/tenant-a/rebuild-jobs', JSON.stringify({ rebuildJob: { rebuild: { imageRef: IMAGE, user_data: 'dXNlci1kYXRhLXNlY3JldA==' }, servers: [{ id: uuid(2) }], options: { microversion: '2.57' } } })),
    );
    responses.push(ud.body ?? '');
    responses.push((await t.call(apiEvent('GET', '/v2/tenant-a/rebuild-jobs'))).body ?? '');
    for (const s of t.store.servers.values()) responses.push((await t.call(apiEvent('GET', `/v2/tenant-a/rebuild-jobs/${s.jobId}/servers`))).body ?? '');
    const stored = JSON.stringify([...t.store.jobs.values(), ...t.store.servers.values(), ...t.store.claims.values()]);
    for (const where of [stored, responses.join('\n'), t.lines.join('\n')]) {
      expect(where).not.toContain('seekr3t');
      expect(where).not.toContain(contents.slice(0, 40));
      expect(where).not.toContain('dXNlci1kYXRhLXNlY3JldA');
    }
    expect(t.lines.length).toBeGreaterThan(0);
    // They do travel in the queue message, the one place they must.
    expect(JSON.stringify(t.queue.messages)).toContain('seekr3t');
  });
});

describe('grants: a caller acts only on projects it was granted', () => {
  const role = 'arn:aws:iam::123456789012:role/ops/Rebuilders';
  const alice = 'arn:aws:sts::123456789012:assumed-role/Rebuilders/alice';
  const bob = 'arn:aws:sts::123456789012:assumed-role/Rebuilders/bob';
  const stranger = 'arn:aws:iam::123456789012:user/stranger';
  const grants = (g: Record<string, unknown>) => ({ PROJECT_GRANTS: JSON.stringify(g) });

  it('refuses every call on a project the principal was not granted with 403, naming both, and writes nothing', async () => {
    const t = setup(grants({ [role]: ['tenant-a'] }));
    const { json } = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }]), undefined, alice));
    const id = json.rebuildJob.id as string;
    const calls = [
      post('/v2/tenant-b/rebuild-jobs', bulk([{ id: uuid(2) }]), undefined, alice),
      post(`/v2/tenant-a/servers/${uuid(3)}/action`, JSON.stringify({ rebuild: { imageRef: IMAGE } }), undefined, stranger),
      apiEvent('GET', `/v2/tenant-a/rebuild-jobs/${id}`, { principal: stranger }),
      apiEvent('GET', `/v2/tenant-a/rebuild-jobs/${id}/servers`, { principal: stranger }),
      apiEvent('GET', '/v2/tenant-a/rebuild-jobs', { principal: stranger }),
      post(`/v2/tenant-a/rebuild-jobs/${id}/action`, '{"cancel": null}', undefined, stranger),
    ];
    for (const event of calls) {
      const res = await t.call(event);
      expect(res.statusCode, event.rawPath).toBe(403);
      expect(res.json.forbidden.message).toMatch(/has not been granted project tenant-[ab]/);
    }
    expect(t.store.jobs.size).toBe(1);
    expect(t.queue.messages).toHaveLength(1);
    expect((await t.call(apiEvent('GET', `/v2/tenant-a/rebuild-jobs/${id}`, { principal: alice }))).json.rebuildJob.stop).toBeUndefined();
  });

  it('is closed by default: with no grants every call is refused', async () => {
    const t = setup({ PROJECT_GRANTS: '' });
    expect((await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }])))).statusCode).toBe(403);
  });

  it('counts an assumed-role session as its role: another session of the role sees, lists and cancels the job, and its creator is recorded', async () => {
    const t = setup(grants({ [role]: ['tenant-a'] }));
    const created = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }]), { 'content-type': 'application/json', 'Idempotency-Key': 'night' }, alice));
    expect(created.statusCode).toBe(202);
    const id = created.json.rebuildJob.id as string;
    expect(created.json.rebuildJob.createdBy).toBe(alice);
    const seen = await t.call(apiEvent('GET', `/v2/tenant-a/rebuild-jobs/${id}`, { principal: bob }));
    expect(seen.statusCode).toBe(200);
    const listed = await t.call(apiEvent('GET', '/v2/tenant-a/rebuild-jobs', { principal: bob }));
    expect(listed.json.rebuildJobs.map((j: { id: string }) => j.id)).toEqual([id]);
    // The same key from the same role is the same request.
    const again = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }]), { 'content-type': 'application/json', 'Idempotency-Key': 'night' }, bob));
    expect(again.json.rebuildJob.id).toBe(id);
    const cancelled = await t.call(post(`/v2/tenant-a/rebuild-jobs/${id}/action`, '{"cancel": null}', undefined, bob));
    expect(cancelled.statusCode).toBe(202);
    expect(cancelled.json.rebuildJob).toMatchObject({ status: 'CANCELLED', stop: { by: 'cancel', reason: `Cancelled by ${bob}.` } });
  });

  it('lets every principal granted a project see its jobs, whoever created them', async () => {
    const t = setup(grants({ [role]: ['tenant-a'], [stranger]: ['tenant-a'] }));
    const { json } = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }]), undefined, alice));
    const res = await t.call(apiEvent('GET', `/v2/tenant-a/rebuild-jobs/${json.rebuildJob.id}/servers`, { principal: stranger }));
    expect(res.statusCode).toBe(200);
    expect(res.json.servers).toHaveLength(1);
  });
});

describe('one rebuild per server at a time, across jobs', () => {
  it('refuses a job naming a server that another live job of the project holds, with a 409 naming that job, and writes nothing for it', async () => {
    const t = setup();
    const first = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }, { id: uuid(2) }])));
    const firstId = first.json.rebuildJob.id as string;
    const second = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(3) }, { id: uuid(2) }])));
    expect(second.statusCode).toBe(409);
    expect(second.json.conflictingRequest.message).toContain(`${uuid(2)} (job ${firstId})`);
    expect(second.json.conflictingRequest.conflicts).toEqual([{ serverId: uuid(2), jobId: firstId }]);
    expect(t.store.jobs.size).toBe(1);
    expect(t.queue.messages).toHaveLength(2);
    // uuid(3) was not left locked by the refused job.
    expect((await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(3) }])))).statusCode).toBe(202);
    // The drop-in call is held to the same rule.
    const single = await t.call(post(`/v2/tenant-a/servers/${uuid(1)}/action`, JSON.stringify({ rebuild: { imageRef: IMAGE } })));
    expect(single.statusCode).toBe(409);
  });

  it('frees a server when its job ends, and a lock whose job never came to be lapses after the submit window', async () => {
    const t = setup();
    const first = await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }])));
    await t.call(post(`/v2/tenant-a/rebuild-jobs/${first.json.rebuildJob.id}/action`, '{"cancel": null}'));
    expect((await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }])))).statusCode).toBe(202);
    // A submission that died after taking its lock: the lock lapses once its window has passed.
    t.store.locks.set(`tenant-a/${uuid(9)}`, { tenantId: 'tenant-a', serverId: uuid(9), jobId: 'never-written', takenAt: new Date(Date.parse('2026-11-27T00:00:00Z')).toISOString(), expiresAt: 0 });
    expect((await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(9) }])))).statusCode).toBe(409);
    t.advance(61_000);
    expect((await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(9) }])))).statusCode).toBe(202);
  });

  it('lets the same server be in live jobs of two projects (it cannot belong to both: the worker fails the wrong one)', async () => {
    const t = setup();
    expect((await t.call(post('/v2/tenant-a/rebuild-jobs', bulk([{ id: uuid(1) }])))).statusCode).toBe(202);
    expect((await t.call(post('/v2/tenant-b/rebuild-jobs', bulk([{ id: uuid(1) }])))).statusCode).toBe(202);
  });
});
