import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ComputeConfigError } from '../../../lib/openstack/config.js';
import { computeConfigFromEnv } from '../../../lib/settings.js';

const PASSWORD = 'acc-user-secret';
const APP_SECRET = 'a00_fNGTwWGq9Dc-ymI1B2l9Ch7FsFiRgJFVeRMpOZ9JzO0mlgYW8LtbhAuQNjPhcXdx5ePwEAi6gvBGObBaqw';
const FIXED_TOKEN = 'gAAAAABrCO7zfixedtokenvalue';

const passwordEnv = {
  OS_AUTH_URL: 'http://keystone.example:5000',
  OS_USERNAME: 'acc-user',
  OS_PASSWORD: PASSWORD,
};
const appCredEnv = {
  OS_AUTH_URL: 'https://keystone.example/identity/v3/',
  OS_APPLICATION_CREDENTIAL_ID: '722c3e73077a4e6bb0f138600d8fde9a',
  OS_APPLICATION_CREDENTIAL_SECRET: APP_SECRET,
};

/** Runs the parser and returns the error it throws. */
function configError(env: NodeJS.ProcessEnv): ComputeConfigError {
  try {
    computeConfigFromEnv(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ComputeConfigError);
    return error as ComputeConfigError;
  }
  throw new Error('expected a ComputeConfigError');
}

describe('computeConfigFromEnv', () => {
  it('reads password authentication with the Default user domain, the public interface and /v3 appended', () => {
    const config = computeConfigFromEnv(passwordEnv);
    expect(config).toMatchObject({
      kind: 'password',
      authUrl: 'http://keystone.example:5000/v3',
      username: 'acc-user',
      userDomainName: 'Default',
      interface: 'public',
    });
    expect(config.kind === 'password' && config.password.reveal()).toBe(PASSWORD);
    expect('region' in config).toBe(false);
  });

  it('takes the user domain, project domain, region and interface when given', () => {
    const config = computeConfigFromEnv({
      ...passwordEnv,
      OS_USER_DOMAIN_NAME: 'corp',
      OS_PROJECT_DOMAIN_NAME: 'corp-projects',
      OS_REGION_NAME: 'RegionTwo',
      OS_INTERFACE: 'internalURL',
    });
    expect(config).toMatchObject({
      userDomainName: 'corp',
      projectDomainName: 'corp-projects',
      region: 'RegionTwo',
      interface: 'internal',
    });
  });

  it('reads an application credential and keeps an existing /v3 suffix', () => {
    const config = computeConfigFromEnv(appCredEnv);
    expect(config).toMatchObject({
      kind: 'applicationCredential',
      authUrl: 'https://keystone.example/identity/v3',
      applicationCredentialId: '722c3e73077a4e6bb0f138600d8fde9a',
    });
    expect(config.kind === 'applicationCredential' && config.applicationCredentialSecret.reveal()).toBe(APP_SECRET);
  });

  it('reads a fixed endpoint and token', () => {
    const config = computeConfigFromEnv({ COMPUTE_URL: 'http://nova:8774/v2.1/{tenant_id}', COMPUTE_TOKEN: FIXED_TOKEN });
    expect(config).toMatchObject({ kind: 'fixed', computeUrl: 'http://nova:8774/v2.1/{tenant_id}' });
    expect(config.kind === 'fixed' && config.token.reveal()).toBe(FIXED_TOKEN);
  });

  it('treats empty variables as unset', () => {
    expect(computeConfigFromEnv({ ...passwordEnv, COMPUTE_URL: '', COMPUTE_TOKEN: '  ', OS_REGION_NAME: '' })).toMatchObject({
      kind: 'password',
    });
  });

  it('refuses COMPUTE_URL without COMPUTE_TOKEN, naming both', () => {
    const error = configError({ COMPUTE_URL: 'http://nova:8774/v2.1' });
    expect(error.message).toContain('COMPUTE_URL');
    expect(error.message).toContain('COMPUTE_TOKEN');
    expect(error.variables).toEqual(['COMPUTE_URL', 'COMPUTE_TOKEN']);
  });

  it('refuses COMPUTE_TOKEN without COMPUTE_URL without echoing the token', () => {
    const error = configError({ COMPUTE_TOKEN: FIXED_TOKEN });
    expect(error.message).toContain('COMPUTE_URL');
    expect(error.message).not.toContain(FIXED_TOKEN);
  });

  it('refuses a fixed endpoint combined with Keystone settings, naming them', () => {
    const error = configError({ COMPUTE_URL: 'http://nova:8774/v2.1', COMPUTE_TOKEN: FIXED_TOKEN, ...passwordEnv });
    expect(error.message).toMatch(/COMPUTE_URL.*OS_AUTH_URL, OS_USERNAME, OS_PASSWORD/);
    expect(error.message).not.toContain(PASSWORD);
    expect(error.message).not.toContain(FIXED_TOKEN);
  });

  it('refuses both a password and an application credential, naming both', () => {
    const error = configError({ ...passwordEnv, ...appCredEnv });
    expect(error.message).toContain('OS_USERNAME, OS_PASSWORD and OS_APPLICATION_CREDENTIAL_ID, OS_APPLICATION_CREDENTIAL_SECRET');
    expect(error.message).not.toContain(PASSWORD);
    expect(error.message).not.toContain(APP_SECRET);
  });

  it('lets OS_AUTH_TYPE choose when an openrc sets both kinds of credential, as the openstack CLI does', () => {
    expect(computeConfigFromEnv({ ...passwordEnv, ...appCredEnv, OS_AUTH_TYPE: 'v3applicationcredential' }).kind).toBe('applicationCredential');
    expect(computeConfigFromEnv({ ...appCredEnv, ...passwordEnv, OS_AUTH_TYPE: 'password' })).toMatchObject({ kind: 'password', username: 'acc-user' });
    expect(computeConfigFromEnv({ ...passwordEnv, ...appCredEnv, OS_AUTH_TYPE: 'v3password' }).kind).toBe('password');
    // Chosen, the kind must be complete: the other kind's variables do not stand in for it.
    expect(configError({ ...passwordEnv, OS_AUTH_TYPE: 'v3applicationcredential' }).message).toContain('OS_APPLICATION_CREDENTIAL_ID is not set');
    expect(configError({ ...appCredEnv, OS_AUTH_TYPE: 'password' }).message).toContain('needs OS_USERNAME and OS_PASSWORD');
    expect(configError({ ...passwordEnv, OS_AUTH_TYPE: 'token' }).message).toBe('OS_AUTH_TYPE must be one of password, v3password, v3applicationcredential, applicationcredential');
    // Without it, both kinds are still a contradiction, and the message says how to choose.
    expect(configError({ ...passwordEnv, ...appCredEnv }).message).toContain('with OS_AUTH_TYPE');
  });

  it('reads a private CA from the file OS_CACERT names, or its PEM text from OS_CACERT_PEM', () => {
    const file = fileURLToPath(new URL('./fixtures/tls/test-only-cert.pem', import.meta.url));
    const fromFile = computeConfigFromEnv({ ...passwordEnv, OS_CACERT: file });
    expect(fromFile.caCert).toContain('-----BEGIN CERTIFICATE-----');
    expect(computeConfigFromEnv({ COMPUTE_URL: 'https://nova.example/v2.1', COMPUTE_TOKEN: FIXED_TOKEN, OS_CACERT_PEM: fromFile.caCert }).caCert?.trim()).toBe(fromFile.caCert?.trim());
    expect(configError({ ...passwordEnv, OS_CACERT: '/nonexistent/ca.pem' }).message).toBe('OS_CACERT names a file that cannot be read (ENOENT): /nonexistent/ca.pem');
    expect(configError({ ...passwordEnv, OS_CACERT_PEM: 'not a certificate' }).variables).toEqual(['OS_CACERT_PEM']);
    expect(configError({ ...passwordEnv, OS_CACERT: file, OS_CACERT_PEM: fromFile.caCert }).variables).toEqual(['OS_CACERT', 'OS_CACERT_PEM']);
  });

  it('refuses credentials without OS_AUTH_URL', () => {
    const error = configError({ OS_USERNAME: 'acc-user', OS_PASSWORD: PASSWORD });
    expect(error.message).toBe('OS_USERNAME, OS_PASSWORD are set but OS_AUTH_URL is not');
  });

  it('refuses an application credential id without its secret', () => {
    const error = configError({ OS_AUTH_URL: 'http://k:5000', OS_APPLICATION_CREDENTIAL_ID: 'abc' });
    expect(error.message).toContain('OS_APPLICATION_CREDENTIAL_SECRET is not set');
  });

  it('refuses OS_AUTH_URL with a user but no password', () => {
    const error = configError({ OS_AUTH_URL: 'http://k:5000', OS_USERNAME: 'acc-user' });
    expect(error.message).toContain('OS_PASSWORD is not');
  });

  it('refuses an empty environment, listing what could be set', () => {
    const error = configError({});
    expect(error.message).toContain('COMPUTE_URL and COMPUTE_TOKEN, or OS_AUTH_URL');
  });

  it('refuses a Keystone v2.0 URL, a non-http URL and user:password@ in a URL without echoing it', () => {
    expect(configError({ ...passwordEnv, OS_AUTH_URL: 'http://k:5000/v2.0/' }).message).toContain('Keystone v2');
    expect(configError({ ...passwordEnv, OS_AUTH_URL: 'ftp://k' }).message).toContain('http://');
    const withUserInfo = configError({ COMPUTE_URL: `http://admin:${PASSWORD}@nova/v2.1`, COMPUTE_TOKEN: FIXED_TOKEN });
    expect(withUserInfo.message).toContain('must not carry user:password@');
    expect(withUserInfo.message).not.toContain(PASSWORD);
  });

  it('refuses an unknown OS_INTERFACE', () => {
    expect(configError({ ...passwordEnv, OS_INTERFACE: 'private' }).message).toBe(
      'OS_INTERFACE must be one of public, internal, admin',
    );
  });

  it('never shows a secret in JSON, String() or util.inspect of the config', () => {
    for (const env of [passwordEnv, appCredEnv, { COMPUTE_URL: 'http://nova/v2.1', COMPUTE_TOKEN: FIXED_TOKEN }]) {
      const config = computeConfigFromEnv(env);
      const renderings = [JSON.stringify(config), String(config), inspect(config, { depth: 5, showHidden: true }), `${Object.values(config).join(' ')}`];
      for (const text of renderings) {
        expect(text).not.toContain(PASSWORD);
        expect(text).not.toContain(APP_SECRET);
        expect(text).not.toContain(FIXED_TOKEN);
      }
      expect(JSON.stringify(config)).toContain('[redacted]');
    }
  });
});
