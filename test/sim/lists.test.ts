/**
 * Server lists beyond what the recordings show one by one (replay.test.ts): paging through
 * thousands of servers by marker, changes-since seeing a rebuild end and a deletion, and each
 * filter with what Nova's code does around it (microversion gates, member vs admin, bad values).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, startComputeSimulator, type ComputeSimulator } from '../../local/sim/index.js';
import { call, json, postRebuild, rebuildBody, type Answer } from './helpers.js';

const IMAGE_A = 'a2459075-d96c-40d5-893e-577ff92e721c';
const IMAGE_B = '70a599e0-31e7-49b7-b260-868f441e862b';
const TIMING = { rebuildingMs: 1000, blockDeviceMappingMs: 200, spawningMs: 300 };

let sim: ComputeSimulator;
let clock: ManualClock;
let admin: string;

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2026, 11, 1, 3, 0, 0));
  sim = await startComputeSimulator({ port: 0, clock, rebuildTiming: TIMING, serverCount: 0 });
  admin = sim.issueToken({ userName: sim.credentials.admin.name });
});
afterEach(async () => {
  await sim.stop();
});

interface ListBody {
  servers: Record<string, unknown>[];
  servers_links?: { rel: string; href: string }[];
}

/** GET a list path under the project, as the member (static token) unless told. */
async function list(query: string, options: { detail?: boolean; mv?: string; token?: string } = {}): Promise<Answer> {
  const path = `/compute/v2.1/${sim.tenantId}/servers${options.detail === false ? '' : '/detail'}${query}`;
  const headers: Record<string, string> = { 'X-Auth-Token': options.token ?? sim.staticToken ?? '' };
  if (options.mv) headers['X-OpenStack-Nova-API-Version'] = options.mv;
  return call(sim, 'GET', path, { headers });
}

async function ids(query: string, options: { detail?: boolean; mv?: string; token?: string } = {}): Promise<string[]> {
  const answer = await list(query, options);
  expect(answer.status, answer.text).toBe(200);
  return (json(answer) as unknown as ListBody).servers.map((s) => s.id as string);
}

function fault(answer: Answer): { status: number; message: string } {
  const inner = Object.values(json(answer))[0] as { message: string };
  return { status: answer.status, message: inner.message };
}

/** An ISO time the API takes, from the simulator's clock. */
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('paging', () => {
  it('walks 2,500 servers by marker: pages of max_limit 1000, newest first, a next link only on full pages', async () => {
    const made: { id: string; second: number }[] = [];
    for (let i = 0; i < 2500; i++) {
      made.push({ id: sim.createServer({ name: `bulk-${i}` }).id, second: Math.floor(sim.now() / 1000) });
      clock.advance(i % 3 === 0 ? 1000 : 0); // several servers per second: uuid order inside a second
    }
    const seen: string[] = [];
    let next: string | undefined = `/compute/v2.1/${sim.tenantId}/servers/detail`;
    const pageSizes: number[] = [];
    while (next) {
      const answer = await call(sim, 'GET', next, { headers: { 'X-Auth-Token': sim.staticToken ?? '' } });
      const body = json(answer) as unknown as ListBody;
      pageSizes.push(body.servers.length);
      seen.push(...body.servers.map((s) => s.id as string));
      const href = body.servers_links?.[0]?.href;
      next = href === undefined ? undefined : href.slice(sim.url.length);
    }
    // 1000 + 1000 + 500; the last page is short, so it has no next link.
    expect(pageSizes).toEqual([1000, 1000, 500]);
    // Newest second first; within a second, uuid ascending (11g); each server once.
    const expected = [...made].sort((a, b) => b.second - a.second || (a.id < b.id ? -1 : 1)).map((m) => m.id);
    expect(seen).toEqual(expected);
  });

  it('pages with limit and marker, the next link carrying the other parameters sorted and marker last', async () => {
    for (let i = 0; i < 5; i++) {
      sim.createServer({ name: `web-${i}` });
      clock.advance(1000);
    }
    const all = await ids('');
    const first = json(await list('?name=web&limit=2')) as unknown as ListBody;
    expect(first.servers.map((s) => s.id)).toEqual(all.slice(0, 2));
    expect(first.servers_links?.[0]?.href).toBe(`${sim.projectComputeUrl}/servers/detail?limit=2&name=web&marker=${all[1]}`);
    expect(await ids(`?limit=2&marker=${all[1]}`)).toEqual(all.slice(2, 4));
    // A request that names a marker keeps it where sorting put it.
    const third = json(await list(`?status=ACTIVE&marker=${all[1]}&limit=2`)) as unknown as ListBody;
    expect(third.servers_links?.[0]?.href).toBe(`${sim.projectComputeUrl}/servers/detail?limit=2&marker=${all[3]}&status=ACTIVE`);
    // The last, short page has no link; limit=0 is an empty list; limit above 1000 is 1000.
    expect((json(await list(`?limit=2&marker=${all[3]}`)) as unknown as ListBody).servers_links).toBeUndefined();
    expect(json(await list('?limit=0'))).toEqual({ servers: [] });
    expect(await ids('?limit=5000')).toHaveLength(5);
    expect(fault(await list('?limit=-1'))).toEqual({ status: 400, message: "Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'" });
    expect(fault(await list('?limit=abc'))).toEqual({ status: 400, message: "Invalid input for query parameters limit. Value: abc. 'abc' does not match '^[0-9]*$'" });
    expect(fault(await list('?limit='))).toEqual({ status: 400, message: "Invalid input for query parameters limit. Value: . '' is too short" });
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect(fault(await list(`?marker=${unknown}`))).toEqual({ status: 400, message: `marker [${unknown}] not found` });
  });

  it('sorts by sort_key/sort_dir (sort_key alone sorts descending), ignores blacklisted keys, and refuses host to a member', async () => {
    for (const name of ['bravo', 'alpha', 'Charlie']) {
      sim.createServer({ name });
      clock.advance(1000);
    }
    const names = async (q: string): Promise<string[]> =>
      ((json(await list(q)) as unknown as ListBody).servers.map((s) => s.name as string));
    expect(await names('?sort_key=display_name&sort_dir=asc')).toEqual(['alpha', 'bravo', 'Charlie']);
    expect(await names('?sort_key=display_name')).toEqual(['Charlie', 'bravo', 'alpha']);
    expect(await names('?sort_key=created_at&sort_dir=asc')).toEqual(['bravo', 'alpha', 'Charlie']);
    expect(await names('?sort_key=id&sort_dir=asc')).toEqual(['Charlie', 'alpha', 'bravo']);
    expect(fault(await list('?sort_key=host'))).toEqual({ status: 403, message: 'Only administrators can sort servers by host' });
    expect(await names('?sort_key=display_name&sort_dir=sideways')).toEqual([]);
    expect(fault(await list('?sort_key=colour')).message).toMatch(/^Invalid input for query parameters sort_key\. Value: colour\. 'colour' is not one of \['access_ip_v4', /);
    const all = await ids('?sort_key=display_name&sort_dir=asc');
    expect(await ids(`?sort_key=display_name&sort_dir=asc&marker=${all[0]}`)).toEqual(all.slice(1));
  });
});

describe('changes-since', () => {
  it('sees a rebuild in flight, then its end, on the simulator\'s own skewed clock', async () => {
    await sim.stop();
    clock = new ManualClock(Date.UTC(2026, 11, 1, 3, 0, 0));
    sim = await startComputeSimulator({ port: 0, clock, rebuildTiming: TIMING, serverCount: 3, clockSkewMs: -120_000 });
    const [target] = sim.serverIds;
    clock.advance(5000);
    const since = iso(sim.now());
    expect(await ids(`?changes-since=${since}`)).toEqual([]);
    expect((await postRebuild(sim, target ?? '', { body: rebuildBody({ imageRef: IMAGE_B }) })).status).toBe(202);
    const during = json(await list(`?changes-since=${since}`)) as unknown as ListBody;
    expect(during.servers.map((s) => [s.id, s.status, s['OS-EXT-STS:task_state']])).toEqual([[target, 'REBUILD', 'rebuilding']]);
    expect(during.servers[0]?.updated).toBe(since);
    clock.advance(1500);
    const after = json(await list(`?changes-since=${since}`)) as unknown as ListBody;
    expect(after.servers.map((s) => [s.id, s.status, s['OS-EXT-STS:task_state']])).toEqual([[target, 'ACTIVE', null]]);
    expect(after.servers[0]?.updated).toBe(iso(sim.now()));
    // The clock is the cloud's: two minutes behind the test's.
    expect(sim.now()).toBe(clock.now() - 120_000);
    // Whole seconds, as the database stores updated_at: half a second later the same second no longer matches.
    expect(await ids(`?changes-since=${iso(sim.now())}`)).toEqual([target]);
    expect(await ids(`?changes-since=${new Date(Math.floor(sim.now() / 1000) * 1000 + 500).toISOString()}`)).toEqual([]);
  });

  it('lists a deleted server as DELETED, and only there; GET, rebuild and actions on it are 404', async () => {
    const keep = sim.createServer({ name: 'keep' }).id;
    const gone = sim.createServer({ name: 'gone' }).id;
    clock.advance(10_000);
    const since = iso(sim.now());
    const deleted = await call(sim, 'DELETE', `/compute/v2.1/${sim.tenantId}/servers/${gone}`, { headers: { 'X-Auth-Token': sim.staticToken ?? '' } });
    expect(deleted.status).toBe(204);
    expect(await ids('')).toEqual([keep]);
    const changed = json(await list(`?changes-since=${since}`)) as unknown as ListBody;
    expect(changed.servers.map((s) => [s.id, s.status, s['OS-EXT-STS:vm_state'], s['OS-EXT-STS:power_state']])).toEqual([[gone, 'DELETED', 'deleted', 0]]);
    expect(changed.servers[0]?.['OS-SRV-USG:terminated_at']).toBe(`${since.slice(0, -1)}.000000`);
    expect(changed.servers[0]).not.toHaveProperty('progress');
    expect(await ids(`?changes-since=${since}&status=ACTIVE`)).toEqual([]);
    const notFound = { itemNotFound: { code: 404, message: `Instance ${gone} could not be found.` } };
    const headers = { 'X-Auth-Token': sim.staticToken ?? '', 'Content-Type': 'application/json' };
    expect(json(await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/${gone}`, { headers }))).toEqual(notFound);
    expect(json(await postRebuild(sim, gone))).toEqual(notFound);
    expect(json(await call(sim, 'POST', `/compute/v2.1/${sim.tenantId}/servers/${gone}/action`, { headers, body: '{"pause": null}' }))).toEqual(notFound);
    expect((await call(sim, 'DELETE', `/compute/v2.1/${sim.tenantId}/servers/${gone}`, { headers })).status).toBe(404);
    // Its instance actions stay readable from 2.21 (read_deleted='yes'), the delete last.
    expect((await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/${gone}/os-instance-actions`, { headers })).status).toBe(404);
    const actions = json(await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/${gone}/os-instance-actions`, { headers: { ...headers, 'X-OpenStack-Nova-API-Version': '2.21' } }));
    expect((actions.instanceActions as { action: string }[]).map((a) => a.action)).toEqual(['delete', 'create']);
    // An admin may list deleted servers outright; a member may not ask for DELETED.
    expect(await ids('?deleted=true', { token: admin })).toEqual([gone]);
    expect(await ids('?status=DELETED', { token: admin })).toEqual([gone]);
    expect(fault(await list('?status=DELETED'))).toEqual({ status: 403, message: 'Only administrators may list deleted instances' });
  });

  it('deletes a server mid-rebuild from the control API and the admin route; the rebuild stops counting', async () => {
    sim.setMaxConcurrentRebuilds(1);
    const [a, b] = [sim.createServer().id, sim.createServer().id];
    const since = iso(sim.now());
    expect((await postRebuild(sim, a)).status).toBe(202);
    expect((await postRebuild(sim, b)).status).toBe(503);
    expect(sim.deleteServer(a)).toBe(true);
    expect(sim.deleteServer(a)).toBe(false);
    expect(sim.server(a)).toMatchObject({ status: 'DELETED', vmState: 'deleted', taskState: null });
    expect((await postRebuild(sim, b)).status).toBe(202);
    const viaAdmin = await call(sim, 'DELETE', `/_sim/servers/${b}`);
    expect(viaAdmin.status).toBe(204);
    expect((await call(sim, 'DELETE', `/_sim/servers/${b}`)).status).toBe(404);
    clock.advance(5000);
    const changed = json(await list(`?changes-since=${since}`)) as unknown as ListBody;
    expect(new Set(changed.servers.map((s) => `${s.id} ${s.status}`))).toEqual(new Set([`${a} DELETED`, `${b} DELETED`]));
    const rebuildRow = await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/${a}/os-instance-actions`, {
      headers: { 'X-Auth-Token': admin, 'X-OpenStack-Nova-API-Version': '2.58' },
    });
    expect((json(rebuildRow).instanceActions as { action: string; message: string | null }[]).map((r) => [r.action, r.message])).toEqual([
      ['delete', null],
      ['rebuild', 'Error'],
      ['create', null],
    ]);
  });

  it('refuses a changes-since that is not a date-time, honours changes-before from 2.66 and ignores it below', async () => {
    const old = sim.createServer({ name: 'old' }).id;
    clock.advance(60_000);
    const middle = iso(sim.now());
    clock.advance(60_000);
    const fresh = sim.createServer({ name: 'fresh' }).id;
    expect(fault(await list('?changes-since=yesterday'))).toEqual({
      status: 400,
      message: "Invalid input for query parameters changes-since. Value: yesterday. 'yesterday' is not a 'date-time'",
    });
    // iso8601's leniency: a bare date, a space, no timezone.
    expect(await ids('?changes-since=2026-12-01')).toEqual([fresh, old]);
    expect(await ids(`?changes-since=${middle.replace('T', '%20').replace('Z', '')}`)).toEqual([fresh]);
    expect(await ids(`?changes-before=${middle}`, { mv: '2.66' })).toEqual([old]);
    expect(await ids(`?changes-before=${middle}`, { mv: '2.65' })).toEqual([fresh, old]);
    expect(fault(await list(`?changes-since=${middle}&changes-before=2026-12-01T00:00:00Z`, { mv: '2.66' }))).toEqual({
      status: 400,
      message: 'The value of changes-since must be less than or equal to changes-before.',
    });
  });
});

describe('filters', () => {
  let web: string;
  let db: string;
  let other: string;

  beforeEach(async () => {
    web = sim.createServer({ name: 'web-1' }).id;
    db = sim.createServer({ name: 'DB|primary', imageId: IMAGE_B }).id;
    other = sim.createServer({ name: 'elsewhere', tenantId: sim.otherTenantId }).id;
    clock.advance(1000);
  });

  it('name: a Python regular expression searched in the name, case-insensitively; "|" is a literal, a bad one a 400', async () => {
    expect(await ids('?name=^web')).toEqual([web]);
    expect(await ids('?name=WEB')).toEqual([web]);
    expect(await ids('?name=b%7Cp')).toEqual([db]);
    expect(await ids('?name=web%7Cdb')).toEqual([]);
    expect(await ids('?name=(?P<n>e)b')).toEqual([web]);
    expect(fault(await list('?name=('))).toEqual({ status: 400, message: "Invalid input for query parameters name. Value: (. '(' is not a 'regex'" });
    expect(fault(await list('?name='))).toEqual({ status: 400, message: "Invalid input for query parameters name. Value: . '' is not a 'regex'" });
    expect(fault(await list('?name=%5Cq'))).toEqual({ status: 400, message: "Invalid input for query parameters name. Value: \\q. '\\\\q' is not a 'regex'" });
  });

  it('image, flavor, ip: exact image; an unknown flavor or any ip matches nothing', async () => {
    expect(await ids(`?image=${IMAGE_B}`)).toEqual([db]);
    expect(await ids(`?image=${IMAGE_A}`)).toEqual([web]);
    expect(await ids('?flavor=1')).toHaveLength(2);
    expect(await ids('?flavor=42')).toEqual([]);
    expect(await ids('?ip=10.0.0.1')).toEqual([]);
  });

  it('status: vm_state (and task_state) behind it; ACTIVE includes a server mid-rebuild; unknown is empty, a 400 from 2.38', async () => {
    await call(sim, 'POST', `/compute/v2.1/${sim.tenantId}/servers/${db}/action`, {
      headers: { 'X-Auth-Token': sim.staticToken ?? '', 'Content-Type': 'application/json' },
      body: '{"pause": null}',
    });
    expect(await ids('?status=PAUSED')).toEqual([db]);
    expect(await ids('?status=paused&status=ACTIVE')).toHaveLength(2);
    expect((await postRebuild(sim, web)).status).toBe(202);
    expect(await ids('?status=ACTIVE')).toEqual([web]);
    expect(await ids('?status=REBUILD')).toEqual([web]);
    clock.advance(1500);
    expect(await ids('?status=REBUILD')).toEqual([]);
    expect(json(await list('?status=BOGUS&marker=nonsense'))).toEqual({ servers: [] });
    expect(fault(await list('?status=BOGUS', { mv: '2.38' }))).toEqual({ status: 400, message: 'Invalid status value' });
  });

  it('tags from 2.26 (all, any, not, not-any); ignored below', async () => {
    sim.setServerState(web, { tags: ['web', 'prod'] });
    sim.setServerState(db, { tags: ['db', 'prod'] });
    expect(await ids('?tags=prod', { mv: '2.26' })).toHaveLength(2);
    expect(await ids('?tags=web,prod', { mv: '2.26' })).toEqual([web]);
    expect(await ids('?tags-any=web,db', { mv: '2.26' })).toHaveLength(2);
    expect(await ids('?not-tags=web,prod', { mv: '2.26' })).toEqual([db]);
    expect(await ids('?not-tags-any=web', { mv: '2.26' })).toEqual([db]);
    expect(await ids('?tags=nothing')).toHaveLength(2);
    const view = (json(await list('?tags=web', { mv: '2.26' })) as unknown as ListBody).servers[0];
    expect(view?.tags).toEqual(['web', 'prod']);
  });

  it('locked from 2.73, strict boolean; ignored below', async () => {
    sim.setServerState(db, { locked: true });
    expect(await ids('?locked=true', { mv: '2.73' })).toEqual([db]);
    expect(await ids('?locked=0', { mv: '2.73' })).toEqual([web]);
    expect(await ids('?locked=true', { mv: '2.72' })).toHaveLength(2);
    expect(fault(await list('?locked=maybe', { mv: '2.73' }))).toEqual({
      status: 400,
      message: "Unrecognized value 'maybe', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'",
    });
  });

  it('unknown filters: ignored and left out of the next link; a 400 from 2.75; a member\'s admin-only filters dropped', async () => {
    const page = json(await list('?frobnicate=1&limit=1')) as unknown as ListBody;
    expect(page.servers_links?.[0]?.href).toBe(`${sim.projectComputeUrl}/servers/detail?limit=1&marker=${page.servers[0]?.id}`);
    expect(fault(await list('?frobnicate=1', { mv: '2.75' }))).toEqual({ status: 400, message: "'frobnicate' does not match any of the regexes: '^_'" });
    // host is an admin's filter: a member's is dropped, an admin's applies.
    expect(await ids('?host=nowhere')).toHaveLength(2);
    expect(await ids('?host=nowhere', { token: admin })).toEqual([]);
    expect(fault(await list('?metadata=x', { token: admin }))).toEqual({ status: 400, message: 'Invalid filter field: metadata.' });
    expect(await ids('?metadata=x')).toHaveLength(2);
  });

  it('all_tenants: an admin lists every project; a member is refused by policy', async () => {
    expect(await ids('?all_tenants=1', { token: admin })).toHaveLength(3);
    expect(await ids('?all_tenants', { token: admin })).toContain(other);
    expect(await ids('?all_tenants=0', { token: admin })).toHaveLength(2);
    expect(await ids(`?all_tenants=1&tenant_id=${sim.otherTenantId}`, { token: admin })).toEqual([other]);
    expect(fault(await list('?all_tenants=1'))).toEqual({ status: 403, message: "Policy doesn't allow os_compute_api:servers:detail:get_all_tenants to be performed." });
    expect(fault(await list('?all_tenants=1', { detail: false }))).toEqual({ status: 403, message: "Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be performed." });
    expect(fault(await list('?all_tenants=maybe', { token: admin })).status).toBe(400);
  });

  it('GET /servers gives ids, names and links only, with the same filters and paging', async () => {
    const page = json(await list('?name=web&limit=1', { detail: false })) as unknown as ListBody;
    expect(page.servers.map((s) => Object.keys(s))).toEqual([['id', 'name', 'links']]);
    expect(page.servers_links?.[0]?.href).toBe(`${sim.projectComputeUrl}/servers?limit=1&name=web&marker=${web}`);
  });
});

describe('cost', () => {
  it('lists 3,000 servers page by page without slowing down', async () => {
    for (let i = 0; i < 3000; i++) {
      sim.createServer({ name: `s-${i}` });
      if (i % 10 === 0) clock.advance(1000);
    }
    const walk = async (): Promise<number> => {
      let count = 0;
      let next: string | undefined = `/compute/v2.1/${sim.tenantId}/servers/detail`;
      while (next) {
        const body = json(await call(sim, 'GET', next, { headers: { 'X-Auth-Token': sim.staticToken ?? '' } })) as unknown as ListBody;
        count += body.servers.length;
        next = body.servers_links?.[0]?.href.slice(sim.url.length);
      }
      return count;
    };
    const started = performance.now();
    for (let i = 0; i < 5; i++) expect(await walk()).toBe(3000);
    // Five full walks of 3,000 detailed servers; generous, it is far below this.
    expect(performance.now() - started).toBeLessThan(10_000);
    clock.advance(1000);
    const since = iso(sim.now());
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) expect(await ids(`?changes-since=${since}`)).toEqual([]);
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});
