/** Fault injection: each armed fault answers the next matching requests, then the simulator is itself again. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, startComputeSimulator, type ComputeSimulator } from '../../local/sim/index.js';
import { call, firstHeader, json, postRebuild } from './helpers.js';

let sim: ComputeSimulator;
let clock: ManualClock;
let id: string;

beforeEach(async () => {
  clock = new ManualClock();
  sim = await startComputeSimulator({ port: 0, clock });
  id = sim.serverIds[0] ?? '';
});
afterEach(async () => {
  await sim.stop();
});

/** Waits until the simulator holds a rebuild request (it logs one on arrival, before any delay). */
async function arrived(s: ComputeSimulator): Promise<void> {
  while (!s.requests().some((r) => r.kind === 'rebuild')) await new Promise((r) => setImmediate(r));
}

const getServer = () =>
  call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/${id}`, { headers: { 'X-Auth-Token': 'sim-token' } });

/** The error undici raises when the connection dies, with its cause's code. */
async function transportError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    const e = error as { code?: string; cause?: { code?: string } };
    return e.code ?? e.cause?.code ?? 'unknown';
  }
  throw new Error('expected the request to fail');
}

describe('injected faults', () => {
  it('answers a JSON 503 with Retry-After, then one without', async () => {
    sim.injectFault({ kind: 'rebuild', fault: { type: 'serviceUnavailable', retryAfter: 7 } });
    sim.injectFault({ kind: 'rebuild', fault: { type: 'serviceUnavailable' } });
    const first = await postRebuild(sim, id);
    expect([first.status, firstHeader(first, 'Retry-After')]).toEqual([503, '7']);
    expect(json(first)).toEqual({
      serviceUnavailable: { code: 503, message: 'The server is currently unavailable. Please try again at a later time.' },
    });
    const second = await postRebuild(sim, id);
    expect([second.status, firstHeader(second, 'Retry-After')]).toEqual([503, undefined]);
    expect((await postRebuild(sim, id)).status).toBe(202);
    expect(sim.rebuildCount(id)).toBe(1);
  });

  it('answers a proxy\'s HTML 503 without Retry-After or request id', async () => {
    sim.injectFault({ kind: 'get', fault: { type: 'htmlServiceUnavailable' } });
    const answer = await getServer();
    expect(answer.status).toBe(503);
    expect(firstHeader(answer, 'Content-Type')).toBe('text/html');
    expect(answer.text).toContain('<h1>503 Service Unavailable</h1>');
    expect(answer.headers['retry-after']).toBeUndefined();
    expect(answer.headers['x-openstack-request-id']).toBeUndefined();
  });

  it.each([413, 429] as const)('answers %i with a Retry-After header and retryAfter in the body', async (status) => {
    sim.injectFault({ kind: 'rebuild', fault: { type: 'overLimit', status, retryAfter: 30 } });
    const answer = await postRebuild(sim, id);
    expect([answer.status, firstHeader(answer, 'Retry-After')]).toEqual([status, '30']);
    expect(json(answer)).toEqual({ overLimit: { code: status, message: 'This request was rate-limited.', retryAfter: '30' } });
  });

  it('answers a 500 computeFault with the lost-race message of 02b-concurrent', async () => {
    sim.injectFault({ kind: 'rebuild', fault: { type: 'computeFault' } });
    const answer = await postRebuild(sim, id);
    expect(answer.status).toBe(500);
    expect((json(answer).computeFault as { message: string }).message).toContain('UnexpectedTaskStateError');
    expect(sim.rebuildCount(id)).toBe(0);
  });

  it('answers with the seed\'s old fault names, 409 buildInProgress and 503 serverCapacityUnavailable', async () => {
    sim.injectFault({ kind: 'rebuild', fault: { type: 'buildInProgress' } });
    sim.injectFault({ kind: 'rebuild', fault: { type: 'serverCapacityUnavailable', retryAfter: 5 } });
    const a = await postRebuild(sim, id);
    const b = await postRebuild(sim, id);
    expect([a.status, Object.keys(json(a))]).toEqual([409, ['buildInProgress']]);
    expect([b.status, Object.keys(json(b)), firstHeader(b, 'Retry-After')]).toEqual([503, ['serverCapacityUnavailable'], '5']);
  });

  it('rejects the token once with keystonemiddleware\'s 401, then accepts it again', async () => {
    sim.injectFault({ kind: 'get', fault: { type: 'unauthorized' } });
    const rejected = await getServer();
    expect(rejected.status).toBe(401);
    expect(json(rejected)).toEqual({
      error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' },
    });
    expect(firstHeader(rejected, 'WWW-Authenticate')).toBe(`Keystone uri="${sim.url}/identity"`);
    expect((await getServer()).status).toBe(200);
  });

  it('resets the connection before processing: the rebuild did not happen', async () => {
    sim.injectFault({ kind: 'rebuild', fault: { type: 'reset' } });
    expect(await transportError(postRebuild(sim, id))).toMatch(/ECONNRESET|UND_ERR_SOCKET/);
    expect(sim.rebuildCount(id)).toBe(0);
    expect(sim.requests().at(-1)).toMatchObject({ kind: 'rebuild', status: 'reset', fault: 'reset', requestId: null });
  });

  it('resets the connection after processing: the client sees a reset, the rebuild happened and is in os-instance-actions', async () => {
    sim.injectFault({ kind: 'rebuild', fault: { type: 'resetAfterProcessing' } });
    expect(await transportError(postRebuild(sim, id))).toMatch(/ECONNRESET|UND_ERR_SOCKET/);
    expect(sim.rebuildCount(id)).toBe(1);
    expect(sim.server(id).status).toBe('REBUILD');
    const logged = sim.requests().at(-1);
    const actions = await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/${id}/os-instance-actions`, {
      headers: { 'X-Auth-Token': 'sim-token' },
    });
    const [latest] = json(actions).instanceActions as { action: string; request_id: string }[];
    expect(latest).toMatchObject({ action: 'rebuild', request_id: logged?.requestId });
  });

  it('answers late but changes state on arrival when delayed', async () => {
    sim.injectFault({ kind: 'rebuild', fault: { type: 'delay', ms: 150 } });
    const started = performance.now();
    const pending = postRebuild(sim, id);
    await arrived(sim);
    expect(sim.rebuildCount(id)).toBe(1);
    expect((await pending).status).toBe(202);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('handles a delayed request only after the delay when processFirst is false', async () => {
    sim.injectFault({ kind: 'rebuild', fault: { type: 'delay', ms: 100, processFirst: false } });
    const pending = postRebuild(sim, id);
    await arrived(sim);
    expect(sim.rebuildCount(id)).toBe(0);
    expect((await pending).status).toBe(202);
    expect(sim.rebuildCount(id)).toBe(1);
  });

  it('answers the next N matching requests only, by kind and server', async () => {
    const other = sim.serverIds[1] ?? '';
    sim.injectFault({ kind: 'rebuild', serverId: other, times: 2, fault: { type: 'serviceUnavailable' } });
    expect((await postRebuild(sim, id)).status).toBe(202);
    expect((await getServer()).status).toBe(200);
    expect((await postRebuild(sim, other)).status).toBe(503);
    expect((await postRebuild(sim, other)).status).toBe(503);
    expect(sim.pendingFaults()).toEqual([]);
    expect((await postRebuild(sim, other)).status).toBe(202);
  });

  it('can fail Keystone\'s token endpoint', async () => {
    sim.injectFault({ kind: 'auth', fault: { type: 'htmlServiceUnavailable' } });
    const body = JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: 'sim-user', domain: { name: 'Default' }, password: 'sim-password' } } },
        scope: { project: { id: sim.tenantId } },
      },
    });
    const headers = { 'Content-Type': 'application/json' };
    expect((await call(sim, 'POST', '/identity/v3/auth/tokens', { headers, body })).status).toBe(503);
    expect((await call(sim, 'POST', '/identity/v3/auth/tokens', { headers, body })).status).toBe(201);
  });
});

describe('the capacity limit', () => {
  it('refuses rebuild K+1 with 503 serverCapacityUnavailable while K are in flight, and accepts once one finished', async () => {
    sim.setMaxConcurrentRebuilds(2);
    const [a = '', b = '', c = ''] = sim.serverIds;
    expect((await postRebuild(sim, a)).status).toBe(202);
    clock.advance(100);
    expect((await postRebuild(sim, b)).status).toBe(202);
    const refused = await postRebuild(sim, c);
    expect(refused.status).toBe(503);
    expect(json(refused)).toEqual({
      serverCapacityUnavailable: { code: 503, message: 'Server capacity is unavailable. Please try again later.' },
    });
    expect(sim.rebuildCount(c)).toBe(0);
    clock.advance(300); // a's 400 ms rebuild is over, b's is not
    expect((await postRebuild(sim, c)).status).toBe(202);
    expect(sim.rebuildCounts()).toMatchObject({ [a]: 1, [b]: 1, [c]: 1 });
  });

  it('still answers 409 before 503 for a server that is itself rebuilding', async () => {
    sim.setMaxConcurrentRebuilds(1);
    expect((await postRebuild(sim, id)).status).toBe(202);
    expect((await postRebuild(sim, id)).status).toBe(409);
  });
});

describe('faults that act and still fail', () => {
  it('acts and answers Nova\'s 500 with the request id its instance actions show (actThenFail 500)', async () => {
    sim.injectFault({ kind: 'rebuild', fault: { type: 'actThenFail', status: 500 } });
    const res = await postRebuild(sim, id);
    expect(res.status).toBe(500);
    expect(json(res).computeFault).toMatchObject({ code: 500 });
    expect(sim.rebuildCount(id)).toBe(1);
    const actions = await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/${id}/os-instance-actions`, { headers: { 'X-Auth-Token': 'sim-token' } });
    const [latest] = json(actions).instanceActions as { action: string; request_id: string }[];
    expect(latest).toMatchObject({ action: 'rebuild', request_id: firstHeader(res, 'x-openstack-request-id') });
  });

  it.each([502, 504] as const)("acts and answers a balancer's %i page without a request id", async (status) => {
    sim.injectFault({ kind: 'rebuild', fault: { type: 'actThenFail', status } });
    const res = await postRebuild(sim, id);
    expect(res.status).toBe(status);
    expect(res.text).toContain(`<h1>${status}`);
    expect(firstHeader(res, 'x-openstack-request-id')).toBeUndefined();
    expect(sim.rebuildCount(id)).toBe(1);
  });

  it('answers 504 at once and acts when the delay has passed (actLate)', async () => {
    sim.injectFault({ kind: 'rebuild', fault: { type: 'actLate', ms: 100 } });
    const res = await postRebuild(sim, id);
    expect(res.status).toBe(504);
    expect(sim.rebuildCount(id)).toBe(0);
    while (sim.rebuildCount(id) === 0) await new Promise((r) => setTimeout(r, 10));
    expect(sim.rebuildCount(id)).toBe(1);
  });

  it('quotes the request as Nova does: the whole body as a Python dict (04b), a file\'s contents raw and as a repr (03i)', async () => {
    sim.injectFault({ kind: 'rebuild', fault: { type: 'quoteRequest', recording: '04b' } });
    const body = { rebuild: { imageRef: 'a2459075-d96c-40d5-893e-577ff92e721c', adminPass: "it's", personality: [{ path: '/p', contents: 'aGk=' }] } };
    const quoted = await call(sim, 'POST', `/compute/v2.1/${sim.tenantId}/servers/${id}/action`, { headers: { 'X-Auth-Token': 'sim-token', 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    expect((json(quoted).badRequest as { message: string }).message).toBe(
      `Invalid input for field/attribute rebuild. Value: {'imageRef': 'a2459075-d96c-40d5-893e-577ff92e721c', 'adminPass': "it's", 'personality': [{'path': '/p', 'contents': 'aGk='}]}. Additional properties are not allowed ('personality' was unexpected)`,
    );
    sim.injectFault({ kind: 'rebuild', fault: { type: 'quoteRequest', recording: '03i' } });
    const contents = await call(sim, 'POST', `/compute/v2.1/${sim.tenantId}/servers/${id}/action`, { headers: { 'X-Auth-Token': 'sim-token', 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    expect((json(contents).badRequest as { message: string }).message).toBe("Invalid input for field/attribute contents. Value: aGk=. 'aGk=' is not a 'base64'");
    expect(sim.rebuildCount(id)).toBe(0);
  });
});

describe('a cloud whose clock is off', () => {
  it('shows every time off by clockSkewMs, as a cloud whose NTP broke', async () => {
    const skewed = await startComputeSimulator({ port: 0, clock, clockSkewMs: -300_000 });
    try {
      expect(skewed.now()).toBe(clock.now() - 300_000);
      const res = await postRebuild(skewed, skewed.serverIds[0] ?? '');
      expect(res.status).toBe(202);
      const actions = await call(skewed, 'GET', `/compute/v2.1/${skewed.tenantId}/servers/${skewed.serverIds[0]}/os-instance-actions`, { headers: { 'X-Auth-Token': 'sim-token' } });
      const [latest] = json(actions).instanceActions as { start_time: string }[];
      expect(Date.parse(`${latest?.start_time}Z`)).toBe(Math.floor((clock.now() - 300_000) / 1000) * 1000);
    } finally {
      await skewed.stop();
    }
  });
});
