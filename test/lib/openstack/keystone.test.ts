import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ComputeAuthError, ComputeTransportError } from '../../../lib/openstack/compute.js';
import { ComputeConfigError } from '../../../lib/openstack/config.js';
import { computeConfigFromEnv } from '../../../lib/settings.js';
import { createComputeApi } from '../../../lib/openstack/nova.js';
import { closeComputeHttpAgents, type ComputeHttpOptions } from '../../../lib/openstack/transport.js';
import { fixture, header, startClientTestCloud, tokenReply, type ClientTestCloud } from './support/cloud.js';

// Values from the recordings k01/k02 (project "acc", its server, the credentials used there).
const TENANT = 'bec105707dde41e7a3de32a75351ba1b';
const OTHER_TENANT = '26750a5aa44743f2af0da2959069b0d3';
const SERVER = 'aa92f6bc-5414-4410-beaf-af5a4e65adef';
const PASSWORD = 'acc-user-secret';
const APP_CRED_ID = '722c3e73077a4e6bb0f138600d8fde9a';
const APP_SECRET = 'a00_fNGTwWGq9Dc-ymI1B2l9Ch7FsFiRgJFVeRMpOZ9JzO0mlgYW8LtbhAuQNjPhcXdx5ePwEAi6gvBGObBaqw';
// k01's token was issued at 02:46:11Z and expires an hour later.
const ISSUED_AT = Date.parse('2026-11-27T02:46:11Z');
const EXPIRES_AT = Date.parse('2026-11-27T03:46:11Z');
const TARGET = { tenantId: TENANT, microversion: '2.93' };
const TOKENS = '/v3/auth/tokens';
const SERVER_PATH = `/v2.1/servers/${SERVER}`;

let cloud: ClientTestCloud;
let clock: number;
const options: ComputeHttpOptions = { now: () => clock };

const passwordApi = (extraEnv: NodeJS.ProcessEnv = {}, extraOptions: ComputeHttpOptions = {}) =>
  createComputeApi(
    computeConfigFromEnv({ OS_AUTH_URL: cloud.sim.url, OS_USERNAME: 'acc-user', OS_PASSWORD: PASSWORD, ...extraEnv }),
    { ...options, ...extraOptions },
  );
const appCredApi = () =>
  createComputeApi(
    computeConfigFromEnv({ OS_AUTH_URL: `${cloud.sim.url}/v3`, OS_APPLICATION_CREDENTIAL_ID: APP_CRED_ID, OS_APPLICATION_CREDENTIAL_SECRET: APP_SECRET }),
    options,
  );

/** Keystone hands out token-1, token-2, ... so tests can tell fresh tokens apart. */
function keystoneIssuesNumberedTokens(name = 'keystone-password-token-201'): void {
  cloud.sim.script('POST', TOKENS, (_request, index) => tokenReply(name, cloud.sim.url, undefined, `token-${index + 1}`));
}

/** Nova answers k03b to any token in `accepted` and k04 (Keystone's 401 body) to the others. */
function novaAccepts(...accepted: string[]): void {
  cloud.sim.script('GET', SERVER_PATH, (request) =>
    accepted.includes(header(request, 'x-auth-token') ?? '') ? fixture('nova-get-server-200') : fixture('nova-bogus-token-401'),
  );
}

beforeAll(async () => {
  cloud = await startClientTestCloud();
});
afterAll(async () => {
  await closeComputeHttpAgents();
  await cloud.sim.stop();
});
beforeEach(() => {
  cloud.reset();
  clock = ISSUED_AT;
});

describe('Keystone password authentication', () => {
  it('asks for a token scoped to the job tenant with the user, domain and password', async () => {
    keystoneIssuesNumberedTokens();
    novaAccepts('token-1');

    const result = await passwordApi().getServer(TARGET, SERVER);

    expect(result).toMatchObject({ ok: true, status: 200, body: { server: { id: SERVER, status: 'ACTIVE' } } });
    const [auth] = cloud.sentTo('POST', TOKENS);
    expect(JSON.parse(auth!.body)).toEqual({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'acc-user', domain: { name: 'Default' }, password: PASSWORD } },
        },
        scope: { project: { id: TENANT } },
      },
    });
    expect(header(auth!, 'content-type')).toBe('application/json');
    expect(header(cloud.sentTo('GET', SERVER_PATH)[0]!, 'x-auth-token')).toBe('token-1');
  });

  it('reuses the cached token for the same tenant and authenticates separately per tenant', async () => {
    keystoneIssuesNumberedTokens();
    novaAccepts('token-1', 'token-2');
    const api = passwordApi();

    await api.getServer(TARGET, SERVER);
    await api.getServer(TARGET, SERVER);
    await api.getServer({ ...TARGET, tenantId: OTHER_TENANT }, SERVER);

    const auths = cloud.sentTo('POST', TOKENS).map((request) => JSON.parse(request.body).auth.scope.project.id);
    expect(auths).toEqual([TENANT, OTHER_TENANT]);
    expect(cloud.sentTo('GET', SERVER_PATH).map((request) => header(request, 'x-auth-token'))).toEqual([
      'token-1',
      'token-1',
      'token-2',
    ]);
  });

  it('keeps the token until one minute before expires_at, then authenticates again', async () => {
    keystoneIssuesNumberedTokens();
    novaAccepts('token-1', 'token-2');
    const api = passwordApi();

    await api.getServer(TARGET, SERVER);
    clock = EXPIRES_AT - 60_000 - 1;
    await api.getServer(TARGET, SERVER);
    clock = EXPIRES_AT - 60_000;
    await api.getServer(TARGET, SERVER);

    expect(cloud.sentTo('POST', TOKENS)).toHaveLength(2);
    expect(cloud.sentTo('GET', SERVER_PATH).map((request) => header(request, 'x-auth-token'))).toEqual([
      'token-1',
      'token-1',
      'token-2',
    ]);
  });

  it('measures the token lifetime on its own clock, so a clock ahead of Keystone does not shorten it', async () => {
    keystoneIssuesNumberedTokens();
    novaAccepts('token-1', 'token-2');
    const api = passwordApi();
    clock = ISSUED_AT + 10 * 60_000; // our clock runs ten minutes ahead of Keystone's

    await api.getServer(TARGET, SERVER);
    clock = ISSUED_AT + 10 * 60_000 + 3_600_000 - 60_000 - 1;
    await api.getServer(TARGET, SERVER);

    expect(cloud.sentTo('POST', TOKENS)).toHaveLength(1);
  });

  it('still reuses short-lived tokens by capping the margin at half their lifetime', async () => {
    // k20: a cloud issuing 120 s tokens.
    cloud.sim.script('POST', TOKENS, (_request, index) =>
      tokenReply('keystone-password-token-201', cloud.sim.url, (token) => {
        token.expires_at = '2026-11-27T02:48:11.000000Z';
      }, `token-${index + 1}`),
    );
    novaAccepts('token-1', 'token-2');
    const api = passwordApi();

    await api.getServer(TARGET, SERVER);
    clock = ISSUED_AT + 59_999;
    await api.getServer(TARGET, SERVER);
    clock = ISSUED_AT + 60_000;
    await api.getServer(TARGET, SERVER);

    expect(cloud.sentTo('POST', TOKENS)).toHaveLength(2);
  });

  it('shares one in-flight authentication between concurrent callers', async () => {
    keystoneIssuesNumberedTokens();
    novaAccepts('token-1');
    const api = passwordApi();

    const results = await Promise.all([api.getServer(TARGET, SERVER), api.getServer(TARGET, SERVER), api.getServer(TARGET, SERVER)]);

    expect(results.every((result) => result.ok)).toBe(true);
    expect(cloud.sentTo('POST', TOKENS)).toHaveLength(1);
  });

  it('drops a token Nova refuses, authenticates once more and retries the call once', async () => {
    keystoneIssuesNumberedTokens();
    novaAccepts('token-2'); // token-1 is "revoked" (k05c) or expired early (k23)
    const api = passwordApi();

    const result = await api.getServer(TARGET, SERVER);

    expect(result).toMatchObject({ ok: true, status: 200 });
    expect(cloud.sentTo('POST', TOKENS)).toHaveLength(2);
    const tries = cloud.sentTo('GET', SERVER_PATH);
    expect(tries.map((request) => header(request, 'x-auth-token'))).toEqual(['token-1', 'token-2']);
    expect(header(tries[0]!, 'x-openstack-request-id')).not.toBe(header(tries[1]!, 'x-openstack-request-id'));

    await api.getServer(TARGET, SERVER);
    expect(cloud.sentTo('POST', TOKENS)).toHaveLength(2);
  });

  it('retries a rebuild refused with 401 once with the same request id and a fresh token', async () => {
    keystoneIssuesNumberedTokens();
    cloud.sim.script('POST', `${SERVER_PATH}/action`, (request) =>
      header(request, 'x-auth-token') === 'token-2' ? fixture('nova-rebuild-202') : fixture('nova-bogus-token-401'),
    );
    const requestId = 'req-0b5e7a4e-2f0c-4a53-9d3e-7d1f3f7b8c21';

    const result = await passwordApi().rebuild(TARGET, SERVER, { imageRef: 'a2459075-d96c-40d5-893e-577ff92e721c' }, requestId);

    expect(result).toMatchObject({ ok: true, status: 202, body: { server: { status: 'REBUILD' } } });
    const tries = cloud.sentTo('POST', `${SERVER_PATH}/action`);
    expect(tries.map((request) => header(request, 'x-openstack-request-id'))).toEqual([requestId, requestId]);
  });

  it('throws ComputeAuthError when Nova refuses the freshly issued token too', async () => {
    keystoneIssuesNumberedTokens();
    novaAccepts();

    const error = await passwordApi().getServer(TARGET, SERVER).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ComputeAuthError);
    expect(error).toMatchObject({ status: 401 });
    expect((error as Error).message).toContain('req-bd8c983d-951a-43cf-9275-79a6233c4a58');
    expect(cloud.sentTo('POST', TOKENS)).toHaveLength(2);
    expect(cloud.sentTo('GET', SERVER_PATH)).toHaveLength(2);
  });

  it('throws ComputeAuthError without the password when Keystone refuses it (k02d)', async () => {
    cloud.sim.script('POST', TOKENS, fixture('keystone-wrong-password-401'));

    const error = await passwordApi().getServer(TARGET, SERVER).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ComputeAuthError);
    expect(error).toMatchObject({ status: 401 });
    expect((error as Error).message).toBe(
      `Keystone refused the password of user "acc-user" (domain "Default") for project ${TENANT} (401): ` +
        'The request you have made requires authentication.',
    );
    expect(JSON.stringify(error)).not.toContain(PASSWORD);
    expect(String((error as Error).stack)).not.toContain(PASSWORD);
    expect(cloud.sentTo('GET', SERVER_PATH)).toHaveLength(0);
  });

  it('redacts the secret should Keystone ever echo it in an error', async () => {
    cloud.sim.script('POST', TOKENS, {
      status: 401,
      headers: [['Content-Type', 'application/json']],
      body: JSON.stringify({ error: { code: 401, message: `bad password ${PASSWORD}`, title: 'Unauthorized' } }),
    });

    const error = (await passwordApi().getServer(TARGET, SERVER).catch((caught: unknown) => caught)) as Error;

    expect(error.message).not.toContain(PASSWORD);
    expect(error.message).toContain('bad password [redacted]');
  });

  it('answers a Keystone 503 as a fault of the call, with Retry-After, without calling Nova', async () => {
    cloud.sim.script('POST', TOKENS, {
      status: 503,
      headers: [['Content-Type', 'text/html'], ['Retry-After', '7']],
      body: '<html><body><h1>503 Service Unavailable</h1>No server is available.</body></html>',
    });

    const result = await passwordApi().getServer(TARGET, SERVER);

    expect(result).toEqual({
      ok: false,
      status: 503,
      message: 'Keystone could not issue a token: 503 Service Unavailable: 503 Service Unavailable No server is available.',
      retryAfterMs: 7_000,
      computeRequestId: undefined,
      unsent: true,
    });
    expect(cloud.sentTo('GET', SERVER_PATH)).toHaveLength(0);
  });

  it('reports an unreachable Keystone as a transport error that certainly did not send the Compute call', async () => {
    const api = createComputeApi(
      computeConfigFromEnv({ OS_AUTH_URL: 'http://127.0.0.1:1', OS_USERNAME: 'acc-user', OS_PASSWORD: PASSWORD }),
      options,
    );

    const error = await api.rebuild(TARGET, SERVER, {}, 'req-0b5e7a4e-2f0c-4a53-9d3e-7d1f3f7b8c21').catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ComputeTransportError);
    expect(error).toMatchObject({ maybeSent: false });
    expect((error as Error).message).toContain('ECONNREFUSED');
    expect((error as Error).message).not.toContain(PASSWORD);
  });
});

describe('Keystone application-credential authentication', () => {
  it('asks for a token without any scope (Keystone refuses a scoped one, k02b)', async () => {
    cloud.sim.script('POST', TOKENS, (request) =>
      'scope' in JSON.parse(request.body).auth
        ? fixture('keystone-application-credential-with-scope-401')
        : tokenReply('keystone-application-credential-token-201', cloud.sim.url, undefined, 'app-token-1'),
    );
    novaAccepts('app-token-1');

    const result = await appCredApi().getServer(TARGET, SERVER);

    expect(result).toMatchObject({ ok: true, status: 200 });
    const [auth] = cloud.sentTo('POST', TOKENS);
    expect(JSON.parse(auth!.body)).toEqual({
      auth: {
        identity: { methods: ['application_credential'], application_credential: { id: APP_CRED_ID, secret: APP_SECRET } },
      },
    });
  });

  it('uses one cached token for every call', async () => {
    keystoneIssuesNumberedTokens('keystone-application-credential-token-201');
    novaAccepts('token-1');
    const api = appCredApi();

    await api.getServer(TARGET, SERVER);
    await api.getServer(TARGET, SERVER);

    expect(cloud.sentTo('POST', TOKENS)).toHaveLength(1);
  });

  it('throws ComputeAuthError, naming the credential but not its secret, when Keystone refuses it', async () => {
    cloud.sim.script('POST', TOKENS, fixture('keystone-application-credential-with-scope-401'));

    const error = (await appCredApi().getServer(TARGET, SERVER).catch((caught: unknown) => caught)) as ComputeAuthError;

    expect(error).toBeInstanceOf(ComputeAuthError);
    expect(error.message).toContain(`application credential ${APP_CRED_ID} (401)`);
    expect(error.message).not.toContain(APP_SECRET);
  });

  it('refuses a job for another project than the credential is scoped to, before calling Nova', async () => {
    keystoneIssuesNumberedTokens('keystone-application-credential-token-201');
    novaAccepts('token-1');

    const error = await appCredApi()
      .getServer({ ...TARGET, tenantId: OTHER_TENANT }, SERVER)
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ComputeAuthError);
    expect(error).toMatchObject({ status: 403 });
    expect(cloud.sentTo('GET', SERVER_PATH)).toHaveLength(0);
  });
});

describe('endpoint selection from the catalog', () => {
  /** A catalog whose compute service offers one endpoint per interface and region, each on its own path. */
  function keystoneWithCatalog(computeUrlSuffix = ''): void {
    cloud.sim.script('POST', TOKENS, (_request, index) =>
      tokenReply('keystone-password-token-201', cloud.sim.url, (token) => {
        const compute = (token.catalog as Array<Record<string, unknown>>).find((service) => service.type === 'compute')!;
        compute.endpoints = ['RegionOne', 'RegionTwo'].flatMap((region) =>
          ['public', 'internal', 'admin'].map((iface) => ({
            id: `${region}-${iface}`,
            interface: iface,
            region_id: region,
            region,
            url: `${cloud.sim.url}/${region}-${iface}/v2.1${computeUrlSuffix}`,
          })),
        );
      }, `token-${index + 1}`),
    );
    cloud.sim.script('GET', /\/servers\//, fixture('nova-get-server-200'));
  }

  it('uses the endpoint of the configured interface and region', async () => {
    keystoneWithCatalog();

    await passwordApi({ OS_INTERFACE: 'internal', OS_REGION_NAME: 'RegionTwo' }).getServer(TARGET, SERVER);

    expect(cloud.sentTo('GET', /\/servers\//).map((request) => request.path)).toEqual([`/RegionTwo-internal/v2.1/servers/${SERVER}`]);
  });

  it('defaults to the public interface', async () => {
    keystoneWithCatalog();

    await passwordApi({ OS_REGION_NAME: 'RegionOne' }).getServer(TARGET, SERVER);

    expect(cloud.sentTo('GET', /\/servers\//)[0]!.path).toBe(`/RegionOne-public/v2.1/servers/${SERVER}`);
  });

  it('substitutes the tenant into %(tenant_id)s of a catalog URL', async () => {
    keystoneWithCatalog('/%(tenant_id)s');

    await passwordApi({ OS_REGION_NAME: 'RegionOne' }).getServer(TARGET, SERVER);

    expect(cloud.sentTo('GET', /\/servers\//)[0]!.path).toBe(`/RegionOne-public/v2.1/${TENANT}/servers/${SERVER}`);
  });

  it('refuses to guess between regions when OS_REGION_NAME is unset', async () => {
    keystoneWithCatalog();

    const error = await passwordApi().getServer(TARGET, SERVER).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ComputeConfigError);
    expect((error as Error).message).toContain('several regions (RegionOne, RegionTwo); set OS_REGION_NAME');
  });

  it('names the offered endpoints when the configured region has none', async () => {
    keystoneIssuesNumberedTokens();

    const error = await passwordApi({ OS_REGION_NAME: 'RegionNine' }).getServer(TARGET, SERVER).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ComputeConfigError);
    expect((error as Error).message).toBe(
      'The Keystone catalog has no compute endpoint for interface "public" in region "RegionNine"; ' +
        'it offers public@RegionOne, internal@RegionOne',
    );
  });
});
