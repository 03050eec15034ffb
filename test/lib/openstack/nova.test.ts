import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ComputeAuthError, ComputeTransportError, type ComputeApi } from '../../../lib/openstack/compute.js';
import { computeConfigFromEnv } from '../../../lib/settings.js';
import { createComputeApi } from '../../../lib/openstack/nova.js';
import { closeComputeHttpAgents } from '../../../lib/openstack/transport.js';
import { fixture, header, startClientTestCloud, type ClientTestCloud, type ScriptedReply } from './support/cloud.js';

const TENANT = 'bec105707dde41e7a3de32a75351ba1b';
const SERVER = 'aa92f6bc-5414-4410-beaf-af5a4e65adef';
const TOKEN = 'gAAAAABrCO7zfixedtoken';
const REQUEST_ID = 'req-5c1f0d8e-3b0e-4d55-9a55-0f8e6f7f2b10';
const REQ_UUID = /^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
// The Date of the recorded 202 (k03): the clock for HTTP-date Retry-After.
const NOW = Date.parse('Fri, 27 Nov 2026 02:46:14 GMT');
const TARGET = { tenantId: TENANT, microversion: '2.57' };
const BASE = `/v2.1/${TENANT}`;

let cloud: ClientTestCloud;
let api: ComputeApi;

const fixedApi = (computeUrl: string, extra: Parameters<typeof createComputeApi>[1] = {}) =>
  createComputeApi(computeConfigFromEnv({ COMPUTE_URL: computeUrl, COMPUTE_TOKEN: TOKEN }), { now: () => NOW, ...extra });

beforeAll(async () => {
  cloud = await startClientTestCloud();
});
afterAll(async () => {
  await closeComputeHttpAgents();
  await cloud.sim.stop();
});
beforeEach(() => {
  cloud.reset();
  api = fixedApi(`${cloud.sim.url}/v2.1/{tenant_id}`);
});

/** A fault answer with the headers Nova sends, for bodies the recordings do not cover. */
const novaAnswer = (status: number, body: string, headers: Array<[string, string]> = []): ScriptedReply => ({
  status,
  headers: [['Content-Type', 'application/json; charset=UTF-8'], ['X-Compute-Request-Id', 'req-11111111-2222-4333-8444-555555555555'], ...headers],
  body,
});

describe('requests sent to Nova', () => {
  it('sends a rebuild with the token, both microversion headers, the caller request id and JSON headers', async () => {
    cloud.sim.script('POST', `${BASE}/servers/${SERVER}/action`, fixture('nova-rebuild-202'));
    const body = { imageRef: 'a2459075-d96c-40d5-893e-577ff92e721c', name: 'foobar', metadata: { 'meta var': 'meta val' } };

    const result = await api.rebuild(TARGET, SERVER, body, REQUEST_ID);

    expect(result).toMatchObject({
      ok: true,
      status: 202,
      computeRequestId: 'req-84a933ee-8bcb-4613-b83b-ee5c59d83815',
      body: { server: { id: SERVER, status: 'REBUILD' } },
    });
    const [sent] = cloud.sent;
    expect(JSON.parse(sent!.body)).toEqual({ rebuild: body });
    expect(header(sent!, 'x-auth-token')).toBe(TOKEN);
    expect(header(sent!, 'x-openstack-nova-api-version')).toBe('2.57');
    expect(header(sent!, 'openstack-api-version')).toBe('compute 2.57');
    expect(header(sent!, 'x-openstack-request-id')).toBe(REQUEST_ID);
    expect(header(sent!, 'content-type')).toBe('application/json');
    expect(header(sent!, 'accept')).toBe('application/json');
  });

  it('sends each GET with a fresh req-<uuid4> request id', async () => {
    cloud.sim.script('GET', `${BASE}/servers/${SERVER}`, fixture('nova-get-server-200'));

    await api.getServer(TARGET, SERVER);
    await api.getServer(TARGET, SERVER);

    const ids = cloud.sent.map((request) => header(request, 'x-openstack-request-id'));
    expect(ids[0]).toMatch(REQ_UUID);
    expect(ids[1]).toMatch(REQ_UUID);
    expect(ids[0]).not.toBe(ids[1]);
    expect(header(cloud.sent[0]!, 'openstack-api-version')).toBe('compute 2.57');
  });

  it('reads the server view and its X-Compute-Request-Id', async () => {
    cloud.sim.script('GET', `${BASE}/servers/${SERVER}`, fixture('nova-get-server-200'));

    const result = await api.getServer(TARGET, SERVER);

    expect(result).toMatchObject({
      ok: true,
      status: 200,
      computeRequestId: 'req-da87424c-dc5f-404a-93fc-d5269e1f6974',
      body: { server: { id: SERVER, status: 'ACTIVE', 'OS-EXT-STS:task_state': null, image: { id: 'a2459075-d96c-40d5-893e-577ff92e721c' } } },
    });
  });

  it('falls back to X-Openstack-Request-Id when X-Compute-Request-Id is absent', async () => {
    cloud.sim.script('GET', `${BASE}/servers/${SERVER}`, {
      status: 200,
      headers: [['X-Openstack-Request-Id', 'req-99999999-2222-4333-8444-555555555555']],
      body: fixture('nova-get-server-200').body!,
    });

    const result = await api.getServer(TARGET, SERVER);

    expect(result.computeRequestId).toBe('req-99999999-2222-4333-8444-555555555555');
  });

  it('lists instance actions newest first as Nova returns them', async () => {
    cloud.sim.script('GET', `${BASE}/servers/${SERVER}/os-instance-actions`, fixture('nova-instance-actions-200'));

    const result = await api.listInstanceActions(TARGET, SERVER);

    expect(result.ok && result.body.instanceActions.map((action) => [action.action, action.request_id])).toEqual([
      ['rebuild', 'req-c9ba6fc2-dd96-4e5a-b090-10d7ef3af952'],
      ['rebuild', 'req-84a933ee-8bcb-4613-b83b-ee5c59d83815'],
      ['create', 'req-4015f5b9-26b2-4444-9fa0-b3a5a99f81ea'],
    ]);
  });

  it('substitutes %(tenant_id)s in COMPUTE_URL and keeps a URL without placeholder as it is', async () => {
    cloud.sim.script('GET', /\/servers\//, fixture('nova-get-server-200'));

    await fixedApi(`${cloud.sim.url}/compute/v2.1/%(tenant_id)s/`).getServer(TARGET, SERVER);
    await fixedApi(`${cloud.sim.url}/v2.1`).getServer(TARGET, SERVER);

    expect(cloud.sent.map((request) => request.path)).toEqual([
      `/compute/v2.1/${TENANT}/servers/${SERVER}`,
      `/v2.1/servers/${SERVER}`,
    ]);
  });

  it('throws ComputeAuthError at once when Nova refuses a fixed COMPUTE_TOKEN, without the token', async () => {
    cloud.sim.script('GET', `${BASE}/servers/${SERVER}`, fixture('nova-bogus-token-401'));

    const error = (await api.getServer(TARGET, SERVER).catch((caught: unknown) => caught)) as ComputeAuthError;

    expect(error).toBeInstanceOf(ComputeAuthError);
    expect(error.status).toBe(401);
    expect(error.message).toContain('refused COMPUTE_TOKEN (401)');
    expect(error.message).not.toContain(TOKEN);
    expect(cloud.sent).toHaveLength(1);
  });

  it('refuses a request id that is not req-<uuid> and a malformed microversion before sending', async () => {
    await expect(api.rebuild(TARGET, SERVER, {}, 'my-id')).rejects.toThrow(TypeError);
    await expect(api.getServer({ ...TARGET, microversion: '2.x' }, SERVER)).rejects.toThrow(TypeError);
    expect(cloud.sent).toHaveLength(0);
  });

  it('treats a 200 whose body is not a server view as a lost answer', async () => {
    cloud.sim.script('GET', `${BASE}/servers/${SERVER}`, { status: 200, headers: [['Content-Type', 'text/html']], body: '<h1>Welcome to nginx</h1>' });

    const error = await api.getServer(TARGET, SERVER).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ComputeTransportError);
    expect(error).toMatchObject({ maybeSent: true });
    expect((error as Error).message).toContain('Welcome to nginx');
  });
});

describe('faults', () => {
  it('reads a 409 conflictingRequest by its single top-level key', async () => {
    cloud.sim.script('POST', `${BASE}/servers/${SERVER}/action`, fixture('nova-rebuild-conflicting-request-409'));

    const result = await api.rebuild(TARGET, SERVER, { imageRef: 'a2459075-d96c-40d5-893e-577ff92e721c' }, REQUEST_ID);

    expect(result).toEqual({
      ok: false,
      status: 409,
      faultName: 'conflictingRequest',
      message: "Cannot 'rebuild' instance b9d262ee-902b-4020-8eab-7d99cf420fa3 while it is in task_state rebuilding",
      computeRequestId: 'req-ccd64dd8-716c-4983-b48f-b3786bae34d6',
    });
  });

  it('reads a 404 itemNotFound', async () => {
    cloud.sim.script('GET', `${BASE}/servers/${SERVER}`, fixture('nova-item-not-found-404'));

    const result = await api.getServer(TARGET, SERVER);

    expect(result).toMatchObject({ ok: false, status: 404, faultName: 'itemNotFound', message: `Instance ${SERVER} could not be found.` });
  });

  it('reads a 500 computeFault and flattens its multi-line message', async () => {
    cloud.sim.script('POST', `${BASE}/servers/${SERVER}/action`, fixture('nova-compute-fault-500'));

    const result = await api.rebuild(TARGET, SERVER, {}, REQUEST_ID);

    expect(result).toMatchObject({ ok: false, status: 500, faultName: 'computeFault' });
    expect(!result.ok && result.message).toMatch(/if possible\. <class 'nova\.exception\.UnexpectedTaskStateError'>$/);
  });

  it('reads an older cloud\'s buildInProgress and serverCapacityUnavailable the same way', async () => {
    cloud.sim.script('POST', `${BASE}/servers/${SERVER}/action`, (_request, index) =>
      index === 0
        ? novaAnswer(409, '{"buildInProgress": {"code": 409, "message": "Server is building"}}')
        : novaAnswer(503, '{"serverCapacityUnavailable": {"code": 503, "message": "No capacity"}}'),
    );

    const first = await api.rebuild(TARGET, SERVER, {}, REQUEST_ID);
    const second = await api.rebuild(TARGET, SERVER, {}, REQUEST_ID);

    expect(first).toMatchObject({ ok: false, status: 409, faultName: 'buildInProgress', message: 'Server is building' });
    expect(second).toMatchObject({ ok: false, status: 503, faultName: 'serverCapacityUnavailable', message: 'No capacity' });
  });

  it("reads Keystone's {\"error\": {...}} body from the auth middleware", async () => {
    cloud.sim.script('GET', `${BASE}/servers/${SERVER}`, novaAnswer(403, '{"error": {"code": 403, "title": "Forbidden", "message": "You are not authorized."}}'));

    const result = await api.getServer(TARGET, SERVER);

    expect(result).toMatchObject({ ok: false, status: 403, faultName: 'error', message: 'You are not authorized.' });
  });

  it('tolerates an HTML 503 from a proxy: no faultName, the status line and the page\'s text without markup, whole (the worker scrubs, then shortens)', async () => {
    const page =
      '<html><head><title>503 Service Unavailable</title><style>body{color:red}</style></head>' +
      `<body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your request.</p>${'<p>padding</p>'.repeat(100)}</body></html>`;
    cloud.sim.script('GET', `${BASE}/servers/${SERVER}`, { status: 503, statusText: 'Service Unavailable', headers: [['Content-Type', 'text/html']], body: page });

    const result = await api.getServer(TARGET, SERVER);

    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.faultName).toBeUndefined();
    expect(result.retryAfterMs).toBeUndefined();
    expect(result.message).toMatch(
      /^503 Service Unavailable: 503 Service Unavailable Service Unavailable The server is temporarily unable to service your request\. padding/,
    );
    expect(result.message).not.toMatch(/[<>]|color:red/);
    expect(result.message.match(/padding/g)).toHaveLength(100);
  });

  it('gives the status line alone for an empty error body', async () => {
    cloud.sim.script('GET', `${BASE}/servers/${SERVER}`, { status: 502 });

    const result = await api.getServer(TARGET, SERVER);

    expect(result).toMatchObject({ ok: false, status: 502, message: '502 Bad Gateway' });
  });

  it('reads Retry-After given in seconds', async () => {
    cloud.sim.script('POST', `${BASE}/servers/${SERVER}/action`, novaAnswer(429, '{"overLimit": {"code": 429, "message": "Rate limited"}}', [['Retry-After', '12']]));

    const result = await api.rebuild(TARGET, SERVER, {}, REQUEST_ID);

    expect(result).toMatchObject({ ok: false, status: 429, faultName: 'overLimit', retryAfterMs: 12_000 });
  });

  it('reads Retry-After given as an HTTP date against the injected clock', async () => {
    cloud.sim.script('GET', `${BASE}/servers/${SERVER}`, { status: 503, headers: [['Retry-After', 'Fri, 27 Nov 2026 02:46:44 GMT']], body: 'busy' });

    const result = await api.getServer(TARGET, SERVER);

    expect(result).toMatchObject({ ok: false, status: 503, retryAfterMs: 30_000, message: '503 Service Unavailable: busy' });
  });

  it('reads retryAfter in the fault body and takes the larger of body and header', async () => {
    cloud.sim.script('POST', `${BASE}/servers/${SERVER}/action`, (_request, index) =>
      index === 0
        ? novaAnswer(413, '{"overLimit": {"code": 413, "message": "Over limit", "retryAfter": "20"}}')
        : novaAnswer(413, '{"overLimit": {"code": 413, "message": "Over limit", "retryAfter": 3}}', [['Retry-After', '5']]),
    );

    const bodyOnly = await api.rebuild(TARGET, SERVER, {}, REQUEST_ID);
    const both = await api.rebuild(TARGET, SERVER, {}, REQUEST_ID);

    expect(bodyOnly).toMatchObject({ ok: false, status: 413, retryAfterMs: 20_000 });
    expect(both).toMatchObject({ ok: false, status: 413, retryAfterMs: 5_000 });
  });

  it('caps an absurd Retry-After at a day (the longest deadline) and ignores an unreadable one', async () => {
    cloud.sim.script('GET', `${BASE}/servers/${SERVER}`, (_request, index) =>
      index === 0
        ? { status: 503, headers: [['Retry-After', '1764212774']] } // an epoch timestamp sent as seconds
        : { status: 503, headers: [['Retry-After', 'soon, maybe']] },
    );

    const absurd = await api.getServer(TARGET, SERVER);
    const unreadable = await api.getServer(TARGET, SERVER);

    expect(absurd).toMatchObject({ ok: false, retryAfterMs: 86_400_000 });
    expect(unreadable).toMatchObject({ ok: false, status: 503 });
    expect('retryAfterMs' in unreadable).toBe(false);
  });

  it('reads an HTTP date in the past as retry now', async () => {
    cloud.sim.script('GET', `${BASE}/servers/${SERVER}`, { status: 503, headers: [['Retry-After', 'Fri, 27 Nov 2026 02:00:00 GMT']] });

    const result = await api.getServer(TARGET, SERVER);

    expect(result).toMatchObject({ ok: false, retryAfterMs: 0 });
  });
});
