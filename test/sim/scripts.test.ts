/**
 * Scripted answers and the tap (local/sim/http/scripts.ts): a client's tests answer a request as
 * recorded elsewhere or break its connection, on the simulator's own listener; the simulator keeps
 * no body and no token of what it was sent, and is itself again once the scripts are cleared.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startComputeSimulator, type ComputeSimulator, type TappedRequest } from '../../local/sim/index.js';
import { call, json, postRebuild } from './helpers.js';

let sim: ComputeSimulator;
beforeEach(async () => {
  sim = await startComputeSimulator({ port: 0 });
});
afterEach(() => sim.stop());

const server = () => `/compute/v2.1/${sim.tenantId}/servers/${sim.serverIds[0]}`;
const auth = { headers: { 'X-Auth-Token': 'sim-token' } };

describe('scripts', () => {
  it('answer in place of the simulator, the newest first, counting their requests; "simulate" lets Nova answer', async () => {
    sim.script('GET', server(), { status: 503, body: 'first' });
    sim.script('GET', server(), (_request, index) => (index === 0 ? { status: 418, statusText: 'Teapot', headers: [['X-Seen', '0']], body: 'scripted' } : 'simulate'));

    const scripted = await call(sim, 'GET', server(), auth);
    expect(scripted).toMatchObject({ status: 418, text: 'scripted', headers: { 'x-seen': '0', 'content-length': '8' } });
    const simulated = await call(sim, 'GET', server(), auth);
    expect(simulated.status).toBe(200);
    expect(json(simulated)).toMatchObject({ server: { id: sim.serverIds[0] } });
    expect(sim.requests().map((r) => [r.status, r.fault])).toEqual([[418, 'scripted'], [200, null]]);

    sim.clearScripts();
    expect((await call(sim, 'GET', server(), auth)).status).toBe(200);
  });

  it('match a path with its query by RegExp, and leave other methods to the simulator', async () => {
    sim.script('GET', /\/servers\/detail\?name=web/, { status: 200, body: '{"servers": []}' });
    expect(json(await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/detail?name=web`, auth))).toEqual({ servers: [] });
    expect((await postRebuild(sim, sim.serverIds[0] as string)).status).toBe(202);
  });

  it('break the connection after reading the request: closed, reset, or never answered', async () => {
    for (const broken of ['destroy', 'reset'] as const) {
      sim.script('GET', server(), broken);
      await expect(call(sim, 'GET', server(), auth)).rejects.toThrow();
    }
    sim.script('GET', server(), 'hang');
    const hung = call(sim, 'GET', server(), auth);
    const late = await Promise.race([hung.then(() => 'answered', () => 'failed'), new Promise((r) => setTimeout(() => r('still waiting'), 300))]);
    expect(late).toBe('still waiting');
    await sim.stop();
    await expect(hung).rejects.toThrow();
    sim = await startComputeSimulator({ port: 0 });
  });
});

describe('over TLS', () => {
  it('answers, and breaks a connection as scripted (a TLS socket has no TCP reset: it is closed), never a 500', async () => {
    const pem = (name: string) => readFileSync(new URL(`../lib/openstack/fixtures/tls/test-only-${name}.pem`, import.meta.url), 'utf8');
    const tls = await startComputeSimulator({ port: 0, tls: { cert: pem('cert'), key: pem('key') } });
    const dispatcher = new Agent({ connect: { ca: pem('cert') } });
    try {
      const path = `${tls.url}/compute/v2.1/${tls.tenantId}/servers/${tls.serverIds[0]}`;
      const get = () => request(path, { headers: { 'X-Auth-Token': 'sim-token' }, dispatcher });
      expect((await get()).statusCode).toBe(200);
      for (const broken of ['reset', 'destroy'] as const) {
        tls.script('GET', /\/servers\//, broken);
        await expect(get()).rejects.toThrow();
      }
      tls.injectFault({ kind: 'get', fault: { type: 'reset' } });
      tls.clearScripts();
      await expect(get()).rejects.toThrow();
      expect(tls.requests().map((r) => r.status)).toEqual([200, 'reset', 'reset', 'reset']);
    } finally {
      await dispatcher.close();
      await tls.stop();
    }
  });
});

describe('the tap', () => {
  it('hands each request over as sent, token and body, while the request log keeps neither', async () => {
    const seen: TappedRequest[] = [];
    const untap = sim.tap((r) => seen.push(r));
    await postRebuild(sim, sim.serverIds[0] as string, { headers: { 'X-Auth-Token': 'sim-token', 'Content-Type': 'application/json' } });
    untap();
    await call(sim, 'GET', server(), auth);

    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', path: `${server()}/action`, headers: { 'x-auth-token': 'sim-token' } });
    expect(JSON.parse(seen[0]!.body)).toHaveProperty('rebuild');
    expect(JSON.stringify(sim.requests())).not.toMatch(/sim-token|"rebuild"\s*:/);
  });
});
