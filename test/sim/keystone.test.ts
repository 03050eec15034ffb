/** Keystone v3 flows against the simulator, and what Nova and Glance make of the tokens. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, startComputeSimulator, type ComputeSimulator } from '../../local/sim/index.js';
import { call, firstHeader, json, postRebuild, rebuildBody } from './helpers.js';

let sim: ComputeSimulator;
let clock: ManualClock;

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2026, 10, 27, 2, 35, 29));
  sim = await startComputeSimulator({ port: 0, clock, tokenLifetimeMs: 120_000 });
});
afterEach(async () => {
  await sim.stop();
});

function passwordAuth(name: string, password: string, projectId: string | null): string {
  const auth: Record<string, unknown> = {
    identity: { methods: ['password'], password: { user: { name, domain: { name: 'Default' }, password } } },
  };
  if (projectId !== null) auth.scope = { project: { id: projectId } };
  return JSON.stringify({ auth });
}

async function login(path = '/identity/v3/auth/tokens'): Promise<{ token: string; body: Record<string, unknown> }> {
  const answer = await call(sim, 'POST', path, {
    headers: { 'Content-Type': 'application/json' },
    body: passwordAuth(sim.credentials.user.name, sim.credentials.user.password, sim.tenantId),
  });
  expect(answer.status).toBe(201);
  return { token: firstHeader(answer, 'X-Subject-Token') ?? '', body: json(answer).token as Record<string, unknown> };
}

describe('Keystone password auth', () => {
  it('issues a project-scoped token whose catalog points compute public/internal/admin at this simulator', async () => {
    const { token, body } = await login();
    expect(token).toMatch(/^gAAAAAB/);
    expect(body.expires_at).toBe('2026-11-27T02:37:29.000000Z');
    const catalog = body.catalog as { type: string; endpoints: { interface: string; region: string; url: string }[] }[];
    const compute = catalog.find((s) => s.type === 'compute');
    expect(compute?.endpoints.map((e) => [e.interface, e.region, e.url])).toEqual([
      ['public', 'RegionOne', sim.projectComputeUrl],
      ['internal', 'RegionOne', sim.projectComputeUrl],
      ['admin', 'RegionOne', sim.projectComputeUrl],
    ]);
    expect(catalog.map((s) => s.type)).toEqual(['identity', 'compute', 'image']);
  });

  it('answers at /v3/auth/tokens too', async () => {
    await login('/v3/auth/tokens');
  });

  it('lets the token rebuild through the catalog URL, and refuses it once expired', async () => {
    const { token } = await login();
    const url = `/compute/v2.1/${sim.tenantId}/servers/${sim.serverIds[0]}/action`;
    const rebuild = () =>
      call(sim, 'POST', url, { headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' }, body: rebuildBody() });
    expect((await rebuild()).status).toBe(202);
    clock.advance(120_000);
    const expired = await rebuild();
    expect(expired.status).toBe(401);
    expect(firstHeader(expired, 'WWW-Authenticate')).toBe(`Keystone uri="${sim.url}/identity"`);
  });

  it('refuses a wrong password and a project without a role with Keystone\'s 401 body', async () => {
    for (const body of [
      passwordAuth(sim.credentials.user.name, 'wrong', sim.tenantId),
      passwordAuth(sim.credentials.user.name, sim.credentials.user.password, sim.otherTenantId),
    ]) {
      const answer = await call(sim, 'POST', '/identity/v3/auth/tokens', { headers: { 'Content-Type': 'application/json' }, body });
      expect(answer.status).toBe(401);
      expect(answer.text).toBe(
        '{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}\n',
      );
    }
  });

  it('gives an admin token that may rebuild a locked server', async () => {
    const answer = await call(sim, 'POST', '/identity/v3/auth/tokens', {
      headers: { 'Content-Type': 'application/json' },
      body: passwordAuth(sim.credentials.admin.name, sim.credentials.admin.password, sim.tenantId),
    });
    const token = firstHeader(answer, 'X-Subject-Token') ?? '';
    const id = sim.serverIds[1] ?? '';
    sim.setServerState(id, { locked: true });
    expect((await postRebuild(sim, id)).status).toBe(409);
    expect((await postRebuild(sim, id, { headers: { 'X-Auth-Token': token } })).status).toBe(202);
  });
});

describe('Keystone application credentials', () => {
  const appCredBody = (secret: string, withScope = false) => {
    const cred = sim.credentials.applicationCredential;
    const auth: Record<string, unknown> = {
      identity: { methods: ['application_credential'], application_credential: { id: cred.id, secret } },
    };
    if (withScope) auth.scope = { project: { id: sim.tenantId } };
    return JSON.stringify({ auth });
  };

  it('issues a token for the credential\'s project that Nova accepts', async () => {
    const answer = await call(sim, 'POST', '/identity/v3/auth/tokens', {
      headers: { 'Content-Type': 'application/json' },
      body: appCredBody(sim.credentials.applicationCredential.secret),
    });
    expect(answer.status).toBe(201);
    const token = json(answer).token as { project: { id: string }; application_credential: { restricted: boolean } };
    expect(token.project.id).toBe(sim.tenantId);
    expect(token.application_credential.restricted).toBe(true);
    const rebuilt = await postRebuild(sim, sim.serverIds[0] ?? '', { headers: { 'X-Auth-Token': firstHeader(answer, 'X-Subject-Token') ?? '' } });
    expect(rebuilt.status).toBe(202);
  });

  it('refuses a scope with "Application credentials cannot request a scope" (k02b)', async () => {
    const answer = await call(sim, 'POST', '/identity/v3/auth/tokens', {
      headers: { 'Content-Type': 'application/json' },
      body: appCredBody(sim.credentials.applicationCredential.secret, true),
    });
    expect(answer.status).toBe(401);
    expect((json(answer).error as { message: string }).message).toBe(
      'Error authenticating with application credential: Application credentials cannot request a scope.',
    );
  });

  it('refuses a wrong secret (k02c)', async () => {
    const answer = await call(sim, 'POST', '/identity/v3/auth/tokens', {
      headers: { 'Content-Type': 'application/json' },
      body: appCredBody('wrong'),
    });
    expect(answer.status).toBe(401);
  });
});

describe('token revocation', () => {
  it('makes Nova refuse a revoked token at once by default (k05c-401)', async () => {
    const { token } = await login();
    const get = () =>
      call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/${sim.serverIds[0]}`, { headers: { 'X-Auth-Token': token } });
    expect((await get()).status).toBe(200);
    const revoke = await call(sim, 'DELETE', '/identity/v3/auth/tokens', {
      headers: { 'X-Auth-Token': token, 'X-Subject-Token': token },
    });
    expect(revoke.status).toBe(204);
    expect((await get()).status).toBe(401);
    const validate = await call(sim, 'GET', '/identity/v3/auth/tokens', {
      headers: { 'X-Auth-Token': sim.issueToken(), 'X-Subject-Token': token },
    });
    expect(validate.text).toBe('{"error":{"code":404,"message":"Failed to validate token","title":"Not Found"}}\n');
  });

  it('lets Nova keep accepting a revoked token it validated within tokenCacheMs, but not one it never saw (k05c-200, k05d)', async () => {
    const cached = await startComputeSimulator({ port: 0, clock, tokenCacheMs: 300_000 });
    try {
      const used = cached.issueToken();
      const neverUsed = cached.issueToken();
      const get = (token: string) =>
        call(cached, 'GET', `/compute/v2.1/${cached.tenantId}/servers/${cached.serverIds[0]}`, { headers: { 'X-Auth-Token': token } });
      expect((await get(used)).status).toBe(200);
      cached.revokeToken(used);
      cached.revokeToken(neverUsed);
      expect((await get(used)).status).toBe(200);
      expect((await get(neverUsed)).status).toBe(401);
      clock.advance(300_000);
      expect((await get(used)).status).toBe(401);
    } finally {
      await cached.stop();
    }
  });

  it('validates a live token with GET, echoing X-Subject-Token', async () => {
    const { token } = await login();
    const answer = await call(sim, 'GET', '/identity/v3/auth/tokens', { headers: { 'X-Auth-Token': token, 'X-Subject-Token': token } });
    expect(answer.status).toBe(200);
    expect(firstHeader(answer, 'X-Subject-Token')).toBe(token);
  });
});

describe('the static token and Glance', () => {
  it('accepts the static token for the seeded project only', async () => {
    const own = await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers`, { headers: { 'X-Auth-Token': 'sim-token' } });
    expect(own.status).toBe(200);
    const other = await call(sim, 'GET', `/compute/v2.1/${sim.otherTenantId}/servers`, { headers: { 'X-Auth-Token': 'sim-token' } });
    expect(other.status).toBe(400);
  });

  it('has no static token when it is disabled', async () => {
    const strict = await startComputeSimulator({ port: 0, staticToken: null });
    try {
      const answer = await call(strict, 'GET', `/compute/v2.1/${strict.tenantId}/servers`, { headers: { 'X-Auth-Token': 'sim-token' } });
      expect(answer.status).toBe(401);
    } finally {
      await strict.stop();
    }
  });

  it('lists images including the recordings\' two, behind the token check', async () => {
    const listed = await call(sim, 'GET', '/image/v2/images', { headers: { 'X-Auth-Token': 'sim-token' } });
    const ids = (json(listed).images as { id: string; status: string }[]).map((i) => i.id);
    expect(ids).toEqual(expect.arrayContaining(['a2459075-d96c-40d5-893e-577ff92e721c', '70a599e0-31e7-49b7-b260-868f441e862b']));
    expect((await call(sim, 'GET', '/image/v2/images')).status).toBe(401);
    const one = await call(sim, 'GET', '/image/v2/images/70a599e0-31e7-49b7-b260-868f441e862b', { headers: { 'X-Auth-Token': 'sim-token' } });
    expect((json(one) as { name: string }).name).toBe('cirros-0.6.2-x86_64-disk-alt');
  });

  it('refuses a rebuild onto an image Glance does not have (03b)', async () => {
    const answer = await postRebuild(sim, sim.serverIds[0] ?? '', {
      body: rebuildBody({ imageRef: '11111111-2222-3333-4444-555555555555' }),
    });
    expect(json(answer)).toEqual({ badRequest: { code: 400, message: 'Cannot find image for rebuild' } });
  });
});
