/** Nova's rebuild schema per microversion and the microversion negotiation, over HTTP. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, startComputeSimulator, type ComputeSimulator } from '../../local/sim/index.js';
import { call, firstHeader, json, postRebuild, rebuildBody } from './helpers.js';

let sim: ComputeSimulator;

beforeAll(async () => {
  // Rebuilds take no time so every case starts from an idle server.
  sim = await startComputeSimulator({
    port: 0,
    clock: new ManualClock(),
    rebuildTiming: { rebuildingMs: 0, blockDeviceMappingMs: 0, spawningMs: 0 },
    quotas: { metadataItems: 3 },
  });
});
afterAll(async () => {
  await sim.stop();
});

async function rebuildAt(version: string, extra: Record<string, unknown>): Promise<[number, string | undefined]> {
  const answer = await postRebuild(sim, sim.serverIds[0] ?? '', {
    headers: { 'X-OpenStack-Nova-API-Version': version },
    body: rebuildBody(extra),
  });
  const body = json(answer);
  const fault = Object.values(body)[0] as { message?: string };
  return [answer.status, answer.status >= 400 ? fault.message : undefined];
}

const unexpected = (field: string, value: string) =>
  `Invalid input for field/attribute rebuild. Value: {'imageRef': 'a2459075-d96c-40d5-893e-577ff92e721c', ${value}}. Additional properties are not allowed ('${field}' was unexpected)`;

describe('the rebuild body per microversion', () => {
  it.each([
    ['2.18', { description: 'x' }, 400, unexpected('description', "'description': 'x'")],
    ['2.19', { description: 'x' }, 202, undefined],
    ['2.19', { description: null }, 202, undefined],
    ['2.53', { key_name: 'sim-key' }, 400, unexpected('key_name', "'key_name': 'sim-key'")],
    ['2.54', { key_name: 'sim-key' }, 202, undefined],
    ['2.54', { key_name: null }, 202, undefined],
    ['2.54', { key_name: 'nope' }, 400, 'Invalid key_name provided.'],
    ['2.54', { key_name: 5 }, 400, 'Invalid input for field/attribute key_name. Value: 5. 5 is not valid under any of the given schemas'],
    ['2.57', { user_data: 'abc' }, 400, "Invalid input for field/attribute user_data. Value: abc. 'abc' is not valid under any of the given schemas"],
    // binascii skips what is not in the alphabet: nothing left is valid base64 to Nova.
    ['2.57', { user_data: '!!!' }, 202, undefined],
    ['2.57', { user_data: null }, 202, undefined],
    ['2.62', { trusted_image_certificates: ['a'] }, 400, unexpected('trusted_image_certificates', "'trusted_image_certificates': ['a']")],
    ['2.63', { trusted_image_certificates: [] }, 400, 'Invalid input for field/attribute trusted_image_certificates. Value: []. [] is too short'],
    ['2.63', { trusted_image_certificates: ['a', 'a'] }, 400, "Invalid input for field/attribute trusted_image_certificates. Value: ['a', 'a']. ['a', 'a'] has non-unique elements"],
    ['2.63', { trusted_image_certificates: [''] }, 400, "Invalid input for field/attribute 0. Value: . '' is too short"],
    ['2.63', { trusted_image_certificates: ['cert-1'] }, 202, undefined],
    ['2.89', { hostname: 'web1' }, 400, unexpected('hostname', "'hostname': 'web1'")],
    ['2.90', { hostname: 'web1' }, 202, undefined],
    ['2.90', { hostname: 'a' }, 400, "Invalid input for field/attribute hostname. Value: a. 'a' is too short"],
    ['2.90', { hostname: '-web' }, 400, "Invalid input for field/attribute hostname. Value: -web. '-web' does not match '^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$'"],
  ])('at %s, %j → %i', async (version, extra, status, message) => {
    expect(await rebuildAt(version, extra)).toEqual([status, message]);
  });
});

describe('rebuild field formats', () => {
  it.each([
    [{ name: ' padded' }, 400, "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace."],
    [{ preserve_ephemeral: 'maybe' }, 400, "Invalid input for field/attribute preserve_ephemeral. Value: maybe. 'maybe' is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']"],
    [{ 'OS-DCF:diskConfig': 'auto' }, 400, "Invalid input for field/attribute OS-DCF:diskConfig. Value: auto. 'auto' is not one of ['AUTO', 'MANUAL']"],
    [{ personality: [{ path: '/a', contents: 'aGk=', mode: 1 }] }, 400, "Invalid input for field/attribute 0. Value: {'path': '/a', 'contents': 'aGk=', 'mode': 1}. Additional properties are not allowed ('mode' was unexpected)"],
    [{ metadata: { a: '1', b: '2', c: '3', d: '4' } }, 403, 'Maximum number of metadata items exceeds 3'],
    [{ metadata: { k: 5 } }, 400, "Invalid input for field/attribute k. Value: 5. 5 is not of type 'string'"],
    [{ accessIPv6: 'fe80::1%eth0' }, 400, "Invalid input for field/attribute accessIPv6. Value: fe80::1%eth0. 'fe80::1%eth0' is not a 'ipv6'"],
    [{ accessIPv4: '01.2.3.4' }, 400, "Invalid input for field/attribute accessIPv4. Value: 01.2.3.4. '01.2.3.4' is not a 'ipv4'"],
  ] as [Record<string, unknown>, number, string][])('refuses %j with %i and Nova\'s message', async (extra, status, message) => {
    expect(await rebuildAt('2.1', extra)).toEqual([status, message]);
  });

  it.each([
    { imageRef: 'A2459075-D96C-40D5-893E-577FF92E721C' },
    { imageRef: 'a2459075d96c40d5893e577ff92e721c' },
    { preserve_ephemeral: 'yes' },
    { name: 'ends with newline\n' },
    { personality: [{ path: '/etc/banner.txt', contents: 'aGVs bG8g\nYmFu bmVy Cg==' }] },
  ])('accepts %j as Nova\'s lenient checks do', async (extra) => {
    expect(await rebuildAt('2.1', extra)).toEqual([202, undefined]);
  });
});

describe('microversion negotiation', () => {
  it('prefers OpenStack-API-Version over the legacy header', async () => {
    const answer = await postRebuild(sim, sim.serverIds[1] ?? '', {
      headers: { 'OpenStack-API-Version': 'compute 2.57', 'X-OpenStack-Nova-API-Version': '2.1' },
    });
    expect(firstHeader(answer, 'OpenStack-API-Version')).toBe('compute 2.57');
    expect(firstHeader(answer, 'X-OpenStack-Nova-API-Version')).toBe('2.57');
  });

  it('reads latest as 2.93', async () => {
    const answer = await postRebuild(sim, sim.serverIds[1] ?? '', { headers: { 'X-OpenStack-Nova-API-Version': 'latest' } });
    expect(firstHeader(answer, 'X-OpenStack-Nova-API-Version')).toBe('2.93');
  });

  it.each(['2.0', '3.0', '2.94'])('refuses %s with a 406 computeFault', async (version) => {
    const answer = await postRebuild(sim, sim.serverIds[1] ?? '', { headers: { 'X-OpenStack-Nova-API-Version': version } });
    expect(answer.status).toBe(406);
    expect(json(answer)).toEqual({
      computeFault: { code: 406, message: `Version ${version} is not supported by the API. Minimum is 2.1 and maximum is 2.93.` },
    });
  });
});

describe('malformed requests', () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    call(sim, 'POST', `/compute/v2.1/${sim.tenantId}/servers/${sim.serverIds[2]}/action`, {
      headers: { 'X-Auth-Token': 'sim-token', ...headers },
      body,
    });

  it.each(['[]', '{}', '{"rebuild": {}, "lock": null}', '{"rebuild": ', '\xff'])('calls %j a malformed request body', async (body) => {
    expect(json(await post(body))).toEqual({ badRequest: { code: 400, message: 'Malformed request body' } });
  });

  it('answers webob\'s JSON 404 for a missing route when JSON is asked for', async () => {
    const answer = await call(sim, 'GET', `/compute/v2.1/${sim.tenantId}/servers/${sim.serverIds[2]}/action`, {
      headers: { 'X-Auth-Token': 'sim-token', Accept: 'application/json' },
    });
    expect(answer.status).toBe(404);
    expect(json(answer)).toEqual({
      message: 'The resource could not be found.<br /><br />\n\n\n',
      code: '404 Not Found',
      title: 'Not Found',
    });
  });

  it('refuses a body over oslo\'s 114688-byte limit with 413', async () => {
    const answer = await post(rebuildBody({ name: 'x'.repeat(120_000) }));
    expect(answer.status).toBe(413);
  });
});
