/** The /_sim admin endpoints a separate process uses to drive the simulator. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startComputeSimulator, type ComputeSimulator } from '../../local/sim/index.js';
import { call, json, postRebuild } from './helpers.js';

let sim: ComputeSimulator;

beforeEach(async () => {
  sim = await startComputeSimulator({ port: 0 });
});
afterEach(async () => {
  await sim.stop();
});

const admin = (method: string, path: string, body?: unknown) =>
  call(sim, method, `/_sim${path}`, body === undefined ? {} : { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

describe('the admin API', () => {
  it('describes the simulator', async () => {
    const info = json(await admin('GET', ''));
    expect(info).toMatchObject({ url: sim.url, tenantId: sim.tenantId, serverIds: sim.serverIds, staticToken: 'sim-token' });
  });

  it('arms a fault that the next rebuild gets, and lists it until then', async () => {
    const armed = await admin('POST', '/faults', { kind: 'rebuild', fault: { type: 'serviceUnavailable', retryAfter: 3 } });
    expect(armed.status).toBe(201);
    expect(json(await admin('GET', '/faults'))).toHaveLength(1);
    expect((await postRebuild(sim, sim.serverIds[0] ?? '')).status).toBe(503);
    expect(json(await admin('GET', '/faults'))).toHaveLength(0);
  });

  it('refuses a malformed fault with a 400 naming the problem', async () => {
    const answer = await admin('POST', '/faults', { kind: 'rebuild', fault: { type: 'nope' } });
    expect(answer.status).toBe(400);
    expect(answer.text).toContain('fault');
  });

  it('moves the clock so a rebuild completes without waiting', async () => {
    const id = sim.serverIds[0] ?? '';
    await postRebuild(sim, id);
    expect(json(await admin('GET', `/servers/${id}`))).toMatchObject({ status: 'REBUILD', taskState: 'rebuilding' });
    await admin('POST', '/clock/advance', { ms: 10_000 });
    expect(json(await admin('GET', `/servers/${id}`))).toMatchObject({ status: 'ACTIVE', taskState: null, rebuildsAccepted: 1 });
    expect(json(await admin('GET', '/rebuild-counts'))).toMatchObject({ [id]: 1 });
  });

  it('sets scenes: a paused server, a failing next rebuild, a capacity limit', async () => {
    const [a = '', b = '', c = ''] = sim.serverIds;
    expect(json(await admin('PATCH', `/servers/${a}`, { vmState: 'paused' }))).toMatchObject({ status: 'PAUSED' });
    expect((await postRebuild(sim, a)).status).toBe(409);
    expect((await admin('POST', `/servers/${b}/fail-next-rebuild`, { message: 'boom' })).status).toBe(204);
    await postRebuild(sim, b);
    await admin('POST', '/clock/advance', { ms: 10_000 });
    expect(json(await admin('GET', `/servers/${b}`))).toMatchObject({ status: 'ERROR', fault: { code: 500, message: 'boom' } });
    expect((await admin('PUT', '/capacity', { maxConcurrentRebuilds: 0 })).status).toBe(204);
    expect((await postRebuild(sim, c)).status).toBe(503);
  });

  it('creates servers and tokens, and expires or revokes tokens', async () => {
    const created = json(await admin('POST', '/servers', { name: 'made-by-admin' })) as { id: string; status: string };
    expect(created.status).toBe('ACTIVE');
    const token = (json(await admin('POST', '/tokens', {})) as { token: string }).token;
    const get = () =>
      call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/${created.id}`, { headers: { 'X-Auth-Token': token } });
    expect((await get()).status).toBe(200);
    expect(json(await admin('POST', '/tokens/expire', { token }))).toEqual({ expired: 1 });
    expect((await get()).status).toBe(401);
    const second = (json(await admin('POST', '/tokens', {})) as { token: string }).token;
    expect(json(await admin('POST', '/tokens/revoke', { token: second }))).toEqual({ revoked: true });
  });

  it('shows the request log without its own requests, and clears it', async () => {
    await postRebuild(sim, sim.serverIds[0] ?? '');
    const log = json(await admin('GET', '/requests')) as unknown as { method: string; kind: string; status: number }[];
    expect(log.map((e) => [e.method, e.kind, e.status])).toEqual([['POST', 'rebuild', 202]]);
    await admin('DELETE', '/requests');
    expect(json(await admin('GET', '/requests'))).toEqual([]);
  });
});
