import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ComputeTransportError } from '../../../lib/openstack/compute.js';
import { computeConfigFromEnv } from '../../../lib/settings.js';
import { createComputeApi } from '../../../lib/openstack/nova.js';
import { closeComputeHttpAgents, type ComputeHttpOptions, isCertainlyUnsent } from '../../../lib/openstack/transport.js';
import { type ComputeSimulator, startComputeSimulator } from '../../../local/sim/index.js';
import { fixture, startClientTestCloud, type ClientTestCloud } from './support/cloud.js';

const TENANT = 'bec105707dde41e7a3de32a75351ba1b';
const SERVER = 'aa92f6bc-5414-4410-beaf-af5a4e65adef';
const REQUEST_ID = 'req-5c1f0d8e-3b0e-4d55-9a55-0f8e6f7f2b10';
const TARGET = { tenantId: TENANT, microversion: '2.1' };
const ACTION = `/v2.1/${TENANT}/servers/${SERVER}/action`;

let cloud: ClientTestCloud;

const apiAt = (baseUrl: string, options: ComputeHttpOptions = {}) =>
  createComputeApi(computeConfigFromEnv({ COMPUTE_URL: `${baseUrl}/v2.1/{tenant_id}`, COMPUTE_TOKEN: 'token' }), options);

/** Resolves to what the call threw. */
const thrown = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => {
      throw new Error('expected the call to throw');
    },
    (error: unknown) => error,
  );

/** A loopback port nobody listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  cloud = await startClientTestCloud();
});
afterAll(async () => {
  await closeComputeHttpAgents();
  await cloud.sim.stop();
});
beforeEach(() => cloud.reset());

describe('transport failures', () => {
  it('reports a refused connection as maybeSent false', async () => {
    const port = await closedPort();

    const error = await thrown(apiAt(`http://127.0.0.1:${port}`).rebuild(TARGET, SERVER, {}, REQUEST_ID));

    expect(error).toBeInstanceOf(ComputeTransportError);
    expect(error).toMatchObject({ maybeSent: false });
    expect((error as Error).message).toContain('ECONNREFUSED');
    expect((error as Error).message).toContain('the request was not sent');
  });

  it('reports a connection closed after the request was read as maybeSent true', async () => {
    cloud.sim.script('POST', ACTION, 'destroy');

    const error = await thrown(apiAt(cloud.sim.url).rebuild(TARGET, SERVER, { imageRef: 'x' }, REQUEST_ID));

    expect(error).toBeInstanceOf(ComputeTransportError);
    expect(error).toMatchObject({ maybeSent: true });
    expect(cloud.sentTo('POST', ACTION)).toHaveLength(1);
  });

  it('reports a TCP reset after the request was read as maybeSent true', async () => {
    cloud.sim.script('POST', ACTION, 'reset');

    const error = await thrown(apiAt(cloud.sim.url).rebuild(TARGET, SERVER, { imageRef: 'x' }, REQUEST_ID));

    expect(error).toBeInstanceOf(ComputeTransportError);
    expect(error).toMatchObject({ maybeSent: true });
  });

  it('reports a missing answer past the headers timeout as maybeSent true', async () => {
    cloud.sim.script('POST', ACTION, 'hang');

    const error = await thrown(apiAt(cloud.sim.url, { headersTimeoutMs: 100 }).rebuild(TARGET, SERVER, {}, REQUEST_ID));

    expect(error).toBeInstanceOf(ComputeTransportError);
    expect(error).toMatchObject({ maybeSent: true });
    expect((error as Error).message).toMatch(/UND_ERR_HEADERS_TIMEOUT|Headers Timeout/);
  });

  it('reports a body that stalls past the body timeout as maybeSent true', async () => {
    const view = JSON.stringify({ server: { id: SERVER, status: 'ACTIVE', name: 'x'.repeat(60) } });
    cloud.sim.script('GET', `/v2.1/${TENANT}/servers/${SERVER}`, { status: 200, headers: [['Content-Type', 'application/json']], body: view, stallAfterBytes: 11 });

    const error = await thrown(apiAt(cloud.sim.url, { bodyTimeoutMs: 100 }).getServer(TARGET, SERVER));

    expect(error).toBeInstanceOf(ComputeTransportError);
    expect(error).toMatchObject({ maybeSent: true });
    expect((error as Error).message).toMatch(/reading the 200 body/);
  });

  it('cancels a body larger than maxResponseBytes instead of buffering it', async () => {
    const huge = JSON.stringify({ conflictingRequest: { code: 409, message: 'x'.repeat(10_000) } });
    cloud.sim.script('POST', ACTION, { status: 409, headers: [['Content-Type', 'application/json']], body: huge });

    const result = await apiAt(cloud.sim.url, { maxResponseBytes: 1_000 }).rebuild(TARGET, SERVER, {}, REQUEST_ID);

    expect(result).toEqual({ ok: false, status: 409, message: '409 Conflict: (body too long, not read)', computeRequestId: undefined });
  });

  it('sends successive calls over one kept-alive connection', async () => {
    cloud.sim.script('POST', ACTION, fixture('nova-rebuild-202'));
    const api = apiAt(cloud.sim.url);
    const before = cloud.sim.connectionCount();

    for (let i = 0; i < 3; i++) await api.rebuild(TARGET, SERVER, {}, REQUEST_ID);

    expect(cloud.sim.connectionCount() - before).toBeLessThanOrEqual(1);
  });

  it('keeps serving after a failure on the shared keep-alive pool', async () => {
    cloud.sim.script('POST', ACTION, (_request, index) => (index === 0 ? 'destroy' : fixture('nova-rebuild-202')));
    const api = apiAt(cloud.sim.url);

    await thrown(api.rebuild(TARGET, SERVER, {}, REQUEST_ID));
    const result = await api.rebuild(TARGET, SERVER, {}, REQUEST_ID);

    expect(result).toMatchObject({ ok: true, status: 202 });
  });
});

describe('isCertainlyUnsent', () => {
  const withCode = (code: string): Error => Object.assign(new Error(code), { code });

  it('is true for failures before the connection existed: refused, DNS, connect timeout, TLS verification', () => {
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'CERT_HAS_EXPIRED']) {
      expect(isCertainlyUnsent(withCode(code))).toBe(true);
    }
  });

  it('is false for failures on an open connection: reset, closed socket, headers or body timeout', () => {
    for (const code of ['ECONNRESET', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'EPIPE', 'ETIMEDOUT']) {
      expect(isCertainlyUnsent(withCode(code))).toBe(false);
    }
    expect(isCertainlyUnsent(new Error('no code'))).toBe(false);
    expect(isCertainlyUnsent('a string')).toBe(false);
  });

  it('is true for an AggregateError (happy eyeballs) only when every address failed to connect', () => {
    expect(isCertainlyUnsent(new AggregateError([withCode('ECONNREFUSED'), withCode('ENETUNREACH')]))).toBe(true);
    expect(isCertainlyUnsent(new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNRESET')]))).toBe(false);
  });
});

describe('a cloud behind a private CA', () => {
  const tls = (name: string) => readFileSync(fileURLToPath(new URL(`./fixtures/tls/test-only-${name}.pem`, import.meta.url)), 'utf8');
  let sim: ComputeSimulator;
  beforeAll(async () => {
    sim = await startComputeSimulator({ port: 0, tls: { cert: tls('cert'), key: tls('key') } });
  });
  afterAll(() => sim.stop());

  it('is reached when OS_CACERT names the CA its certificate chains to, and refused (nothing sent) without it', async () => {
    expect(sim.url).toMatch(/^https:/);
    const env = { COMPUTE_URL: `${sim.computeUrl}/{tenant_id}`, COMPUTE_TOKEN: sim.staticToken as string };
    const target = { tenantId: sim.tenantId, microversion: '2.1' };
    const trusting = createComputeApi(computeConfigFromEnv({ ...env, OS_CACERT_PEM: tls('cert') }));
    expect(await trusting.getServer(target, sim.serverIds[0] as string)).toMatchObject({ ok: true, status: 200 });
    expect(await trusting.getServer(target, SERVER.replace('aa', 'bb'))).toMatchObject({ ok: false, status: 404 });
    const before = sim.requests().length;
    const strict = createComputeApi(computeConfigFromEnv(env));
    const error = await thrown(strict.getServer(target, sim.serverIds[0] as string));
    expect(error).toBeInstanceOf(ComputeTransportError);
    // A certificate the client does not trust is refused before any request is written.
    expect((error as ComputeTransportError).maybeSent).toBe(false);
    expect((error as Error).message).toMatch(/SELF_SIGNED|self-signed/i);
    expect(sim.requests()).toHaveLength(before);
  });
});
