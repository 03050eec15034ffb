/** The rebuild state machine, driven by a fake clock (no sleeps). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, startComputeSimulator, type ComputeSimulator } from '../../local/sim/index.js';
import { call, firstHeader, getServer, json, postRebuild, rebuildBody } from './helpers.js';

const IMAGE_B = '70a599e0-31e7-49b7-b260-868f441e862b';
const TIMING = { rebuildingMs: 1000, blockDeviceMappingMs: 200, spawningMs: 300 };

let sim: ComputeSimulator;
let clock: ManualClock;

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2026, 10, 27, 2, 7, 45));
  sim = await startComputeSimulator({ port: 0, clock, rebuildTiming: TIMING });
});
afterEach(async () => {
  await sim.stop();
});

function stateOf(server: Record<string, unknown>): [unknown, unknown, unknown] {
  return [server.status, server['OS-EXT-STS:task_state'], server['OS-EXT-STS:vm_state']];
}

describe('a rebuild', () => {
  it('walks task_state rebuilding → rebuild_block_device_mapping → rebuild_spawning → none, then is ACTIVE on the new image', async () => {
    const id = sim.serverIds[0] ?? '';
    const accepted = await postRebuild(sim, id, { body: rebuildBody({ imageRef: IMAGE_B }) });
    expect(accepted.status).toBe(202);
    const view = json(accepted).server as Record<string, unknown>;
    expect(view.status).toBe('REBUILD');
    expect((view.image as { id: string }).id).toBe(IMAGE_B);
    expect(firstHeader(accepted, 'Location')).toBe(`${sim.projectComputeUrl}/servers/${id}`);

    const seen: [unknown, unknown, unknown, unknown][] = [];
    for (const step of [0, 999, 1, 199, 1, 299, 1]) {
      clock.advance(step);
      const s = await getServer(sim, id);
      seen.push([...stateOf(s), s.updated]);
    }
    expect(seen).toEqual([
      ['REBUILD', 'rebuilding', 'active', '2026-11-27T02:07:45Z'],
      ['REBUILD', 'rebuilding', 'active', '2026-11-27T02:07:45Z'],
      ['REBUILD', 'rebuild_block_device_mapping', 'active', '2026-11-27T02:07:46Z'],
      ['REBUILD', 'rebuild_block_device_mapping', 'active', '2026-11-27T02:07:46Z'],
      ['REBUILD', 'rebuild_spawning', 'active', '2026-11-27T02:07:46Z'],
      ['REBUILD', 'rebuild_spawning', 'active', '2026-11-27T02:07:46Z'],
      ['ACTIVE', null, 'active', '2026-11-27T02:07:46Z'],
    ]);
    const done = await getServer(sim, id);
    expect((done.image as { id: string }).id).toBe(IMAGE_B);
    expect(done['OS-SRV-USG:launched_at']).toBe('2026-11-27T02:07:46.000000');
  });

  it('answers 409 conflictingRequest for a second rebuild during every phase and accepts one after the first finished', async () => {
    const id = sim.serverIds[1] ?? '';
    expect((await postRebuild(sim, id)).status).toBe(202);
    for (const [advance, task] of [
      [0, 'rebuilding'],
      [1000, 'rebuild_block_device_mapping'],
      [200, 'rebuild_spawning'],
    ] as const) {
      clock.advance(advance);
      const refused = await postRebuild(sim, id);
      expect(refused.status).toBe(409);
      expect(json(refused)).toEqual({
        conflictingRequest: { code: 409, message: `Cannot 'rebuild' instance ${id} while it is in task_state ${task}` },
      });
    }
    clock.advance(300);
    expect((await postRebuild(sim, id)).status).toBe(202);
    expect(sim.rebuildCount(id)).toBe(2);
  });

  it('keeps a stopped server SHUTOFF after its rebuild (02d)', async () => {
    const id = sim.serverIds[2] ?? '';
    const stop = await call(sim, 'POST', `/compute/v2.1/${sim.tenantId}/servers/${id}/action`, {
      headers: { 'X-Auth-Token': 'sim-token' },
      body: '{"os-stop": null}',
    });
    expect(stop.status).toBe(202);
    expect((await getServer(sim, id)).status).toBe('SHUTOFF');
    expect((await postRebuild(sim, id)).status).toBe(202);
    expect((await getServer(sim, id)).status).toBe('REBUILD');
    clock.advance(1500);
    const done = await getServer(sim, id);
    expect(stateOf(done)).toEqual(['SHUTOFF', null, 'stopped']);
    expect(done['OS-EXT-STS:power_state']).toBe(4);
  });

  it('ends in ERROR with a fault when the next rebuild was armed to fail, and a later rebuild recovers it', async () => {
    const id = sim.serverIds[0] ?? '';
    sim.failNextRebuild(id, 'No valid host was found.');
    expect((await postRebuild(sim, id)).status).toBe(202);
    clock.advance(1500);
    const failed = await getServer(sim, id);
    expect(stateOf(failed)).toEqual(['ERROR', null, 'error']);
    expect(failed.fault).toEqual({ code: 500, created: '2026-11-27T02:07:46Z', message: 'No valid host was found.' });
    expect(failed).not.toHaveProperty('progress');

    const actions = await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/${id}/os-instance-actions`, {
      headers: { 'X-Auth-Token': 'sim-token' },
    });
    const [latest] = json(actions).instanceActions as Record<string, unknown>[];
    expect(latest).toMatchObject({ action: 'rebuild', message: 'Error' });

    expect((await postRebuild(sim, id)).status).toBe(202);
    clock.advance(1500);
    expect(stateOf(await getServer(sim, id))).toEqual(['ACTIVE', null, 'active']);
  });

  it('is listed first in os-instance-actions with the 202 request id and a whole-second start_time', async () => {
    const id = sim.serverIds[3] ?? '';
    clock.advance(789);
    const accepted = await postRebuild(sim, id);
    const requestId = firstHeader(accepted, 'X-Openstack-Request-Id');
    expect(requestId).toMatch(/^req-[0-9a-f-]{36}$/);
    expect(firstHeader(accepted, 'X-Compute-Request-Id')).toBe(requestId);
    const list = await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/${id}/os-instance-actions`, {
      headers: { 'X-Auth-Token': 'sim-token' },
    });
    const actions = json(list).instanceActions as Record<string, unknown>[];
    expect(actions.map((a) => a.action)).toEqual(['rebuild', 'create']);
    expect(actions[0]).toMatchObject({ request_id: requestId, start_time: '2026-11-27T02:07:45.000000', message: null });

    const show = await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/${id}/os-instance-actions/${requestId}`, {
      headers: { 'X-Auth-Token': 'sim-token', 'X-OpenStack-Nova-API-Version': '2.84' },
    });
    const detail = json(show).instanceAction as { events: Record<string, unknown>[] };
    expect(detail.events.map((e) => [e.event, e.result])).toEqual([
      ['compute_rebuild_instance', null],
      ['rebuild_server', 'Success'],
    ]);
    clock.advance(1500);
    const after = await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/${id}/os-instance-actions/${requestId}`, {
      headers: { 'X-Auth-Token': 'sim-token' },
    });
    expect(json(after)).toMatchObject({ instanceAction: { request_id: requestId } });
    const unknown = await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/${id}/os-instance-actions/req-nope`, {
      headers: { 'X-Auth-Token': 'sim-token' },
    });
    expect(json(unknown)).toEqual({
      itemNotFound: { code: 404, message: `Action for request_id req-nope on instance ${id} not found` },
    });
  });

  it('generates a 12-character adminPass from Nova\'s alphabet when none is given (01f)', async () => {
    const accepted = await postRebuild(sim, sim.serverIds[4] ?? '');
    const pass = (json(accepted).server as { adminPass: string }).adminPass;
    expect(pass).toMatch(/^[2-9A-HJ-NP-Za-km-z]{12}$/);
  });

  it('keeps name, metadata and access IPs it was not given, and replaces those it was', async () => {
    const id = sim.serverIds[0] ?? '';
    await postRebuild(sim, id, { body: rebuildBody({ name: 'foobar', metadata: { 'meta var': 'meta val' }, accessIPv4: '1.2.3.4' }) });
    clock.advance(1500);
    await postRebuild(sim, id);
    const s = await getServer(sim, id);
    expect([s.name, s.metadata, s.accessIPv4, s.accessIPv6]).toEqual(['foobar', { 'meta var': 'meta val' }, '1.2.3.4', '']);
  });
});

describe('request ids', () => {
  const clientId = 'req-11111111-2222-4333-8444-555555555555';

  it('answers with a fresh id and keeps the client\'s only as the global request id, as oslo.middleware does', async () => {
    const accepted = await postRebuild(sim, sim.serverIds[0] ?? '', { headers: { 'X-Openstack-Request-Id': clientId } });
    const answered = firstHeader(accepted, 'X-Openstack-Request-Id');
    expect(answered).not.toBe(clientId);
    const entry = sim.requests().find((r) => r.kind === 'rebuild');
    expect(entry).toMatchObject({ requestId: answered, globalRequestId: clientId, status: 202 });
  });

  it('echoes a valid client id, also in os-instance-actions, in echo-client mode', async () => {
    const echo = await startComputeSimulator({ port: 0, clock, requestIdMode: 'echo-client' });
    try {
      const id = echo.serverIds[0] ?? '';
      const accepted = await postRebuild(echo, id, { headers: { 'X-Openstack-Request-Id': clientId } });
      expect(firstHeader(accepted, 'X-Openstack-Request-Id')).toBe(clientId);
      const bogus = await postRebuild(echo, echo.serverIds[1] ?? '', { headers: { 'X-Openstack-Request-Id': 'not-a-req-id' } });
      expect(firstHeader(bogus, 'X-Openstack-Request-Id')).toMatch(/^req-/);
      const list = await call(echo, 'GET', `/compute/v2.1/${echo.tenantId}/servers/${id}/os-instance-actions`, {
        headers: { 'X-Auth-Token': 'sim-token' },
      });
      expect((json(list).instanceActions as { request_id: string }[])[0]?.request_id).toBe(clientId);
    } finally {
      await echo.stop();
    }
  });

  it('never keeps adminPass, personality contents, user_data or tokens in the request log', async () => {
    await postRebuild(sim, sim.serverIds[0] ?? '', {
      body: rebuildBody({ adminPass: 'seekr3t-pass', personality: [{ path: '/etc/x', contents: 'c2VjcmV0LWZpbGU=' }] }),
    });
    clock.advance(1500);
    await postRebuild(sim, sim.serverIds[0] ?? '', {
      headers: { 'X-OpenStack-Nova-API-Version': '2.57' },
      body: rebuildBody({ user_data: 'dXNlci1kYXRhLXNlY3JldA==' }),
    });
    const log = JSON.stringify(sim.requests());
    for (const secret of ['seekr3t-pass', 'c2VjcmV0LWZpbGU=', 'dXNlci1kYXRhLXNlY3JldA==', 'sim-token']) {
      expect(log).not.toContain(secret);
    }
    expect(sim.requests().map((r) => [r.method, r.kind, r.status])).toEqual([
      ['POST', 'rebuild', 202],
      ['POST', 'rebuild', 202],
    ]);
  });
});

describe('scene-setting actions', () => {
  const action = (id: string, body: string, token = 'sim-token') =>
    call(sim, 'POST', `/compute/v2.1/${sim.tenantId}/servers/${id}/action`, { headers: { 'X-Auth-Token': token }, body });

  it('refuses a rebuild of a paused, suspended or shelved server with the vm_state 409, until it is resumed', async () => {
    const [a = '', b = '', c = ''] = sim.serverIds;
    expect((await action(a, '{"pause": null}')).status).toBe(202);
    expect((await action(b, '{"suspend": null}')).status).toBe(202);
    expect((await action(c, '{"shelve": null}')).status).toBe(202);
    for (const [id, state] of [[a, 'paused'], [b, 'suspended'], [c, 'shelved_offloaded']] as const) {
      const refused = await postRebuild(sim, id);
      expect(json(refused)).toEqual({
        conflictingRequest: { code: 409, message: `Cannot 'rebuild' instance ${id} while it is in vm_state ${state}` },
      });
    }
    expect((await action(a, '{"pause": null}')).status).toBe(409);
    expect((await action(a, '{"unpause": null}')).status).toBe(202);
    expect((await action(b, '{"resume": null}')).status).toBe(202);
    expect((await postRebuild(sim, a)).status).toBe(202);
    expect((await postRebuild(sim, b)).status).toBe(202);
  });

  it('refuses a locked server to a member and lets an admin rebuild it (02f, 02g)', async () => {
    const id = sim.serverIds[0] ?? '';
    expect((await action(id, '{"lock": null}')).status).toBe(202);
    expect(json(await postRebuild(sim, id))).toEqual({ conflictingRequest: { code: 409, message: `Instance ${id} is locked` } });
    const admin = sim.issueToken({ userName: sim.credentials.admin.name });
    expect((await postRebuild(sim, id, { headers: { 'X-Auth-Token': admin } })).status).toBe(202);
    clock.advance(1500);
    expect((await action(id, '{"unlock": null}')).status).toBe(202);
    expect((await postRebuild(sim, id)).status).toBe(202);
  });

  it('shows locked and locked_reason from 2.73', async () => {
    const id = sim.serverIds[1] ?? '';
    const lock = await call(sim, 'POST', `/compute/v2.1/${sim.tenantId}/servers/${id}/action`, {
      headers: { 'X-Auth-Token': 'sim-token', 'X-OpenStack-Nova-API-Version': '2.73' },
      body: '{"lock": {"locked_reason": "maintenance"}}',
    });
    expect(lock.status).toBe(202);
    const s = await getServer(sim, id, { 'X-OpenStack-Nova-API-Version': '2.73' });
    expect([s.locked, s.locked_reason]).toEqual([true, 'maintenance']);
  });

  it('creates a server that is BUILD until buildMs passed, then ACTIVE', async () => {
    const created = await call(sim, 'POST', `/compute/v2.1/${sim.tenantId}/servers`, {
      headers: { 'X-Auth-Token': 'sim-token', 'Content-Type': 'application/json' },
      body: JSON.stringify({ server: { name: 'new-one', imageRef: IMAGE_B, flavorRef: '1' } }),
    });
    expect(created.status).toBe(202);
    const id = (json(created).server as { id: string }).id;
    expect((await getServer(sim, id)).status).toBe('BUILD');
    expect(json(await postRebuild(sim, id))).toEqual({
      conflictingRequest: { code: 409, message: `Cannot 'rebuild' instance ${id} while it is in vm_state building` },
    });
    clock.advance(500);
    expect((await getServer(sim, id)).status).toBe('ACTIVE');
  });

  it('lists the project\'s servers, basic and detailed, newest first', async () => {
    // created_at is whole seconds; servers of the same second come in uuid order (11g).
    clock.advance(1000);
    const newest = sim.createServer({ name: 'newest' });
    clock.advance(1000);
    const list = await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers`, { headers: { 'X-Auth-Token': 'sim-token' } });
    const servers = json(list).servers as Record<string, unknown>[];
    expect(servers).toHaveLength(6);
    expect(Object.keys(servers[0] ?? {})).toEqual(['id', 'name', 'links']);
    const detail = await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/detail?limit=2`, {
      headers: { 'X-Auth-Token': 'sim-token' },
    });
    const body = json(detail) as { servers: { id: string; status: string }[]; servers_links: unknown[] };
    expect(body.servers.map((s) => s.status)).toEqual(['ACTIVE', 'ACTIVE']);
    expect(body.servers_links).toHaveLength(1);
    expect(servers[0]?.id).toBe(newest.id);
  });
});
