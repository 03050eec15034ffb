/**
 * OS_CLOUD with clouds.yaml for `npm start`, read as the openstack CLI reads them: the named cloud's
 * settings become the Compute client's variables, secure.yaml laid over clouds.yaml, the environment
 * winning, and nothing the client would not do (TLS verification off) taken silently.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { computeConfigFromEnv } from '../../lib/settings.js';
import { CloudsYamlError, cloudsYamlEnv, cloudsYamlPaths } from '../../local/clouds-yaml.js';

const dir = mkdtempSync(join(tmpdir(), 'clouds-yaml-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'clouds.yaml');
writeFileSync(
  file,
  `clouds:
  prod:
    auth:
      auth_url: https://keystone.example:5000/v3
      username: ops
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionTwo
    interface: internal
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example:5000/v3
      application_credential_id: 722c3e73077a4e6bb0f138600d8fde9a
      application_credential_secret: appcred-secret-value
  lab:
    auth: {auth_url: https://lab.example:5000/v3, username: u, password: p}
    verify: false
`,
);
writeFileSync(join(dir, 'secure.yaml'), 'clouds:\n  prod:\n    auth:\n      password: secure-yaml-password\n');

describe('OS_CLOUD with clouds.yaml', () => {
  it('turns the named cloud into the variables the Compute client reads, with secure.yaml laid over it', () => {
    const env = cloudsYamlEnv({ OS_CLOUD: 'prod' }, [file]);
    expect(env).toEqual({
      OS_AUTH_URL: 'https://keystone.example:5000/v3',
      OS_USERNAME: 'ops',
      OS_PASSWORD: 'secure-yaml-password',
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_REGION_NAME: 'RegionTwo',
      OS_INTERFACE: 'internal',
    });
    expect(computeConfigFromEnv(env)).toMatchObject({ kind: 'password', username: 'ops', region: 'RegionTwo', interface: 'internal' });
    expect(computeConfigFromEnv(cloudsYamlEnv({ OS_CLOUD: 'appcred' }, [file])).kind).toBe('applicationCredential');
  });

  it('leaves alone what the environment already sets, and does nothing without OS_CLOUD', () => {
    expect(cloudsYamlEnv({ OS_CLOUD: 'prod', OS_REGION_NAME: 'RegionOne' }, [file]).OS_REGION_NAME).toBeUndefined();
    expect(cloudsYamlEnv({}, [file])).toEqual({});
  });

  it('names the clouds it has, not their secrets, when the cloud is missing; refuses TLS verification off', () => {
    expect(() => cloudsYamlEnv({ OS_CLOUD: 'nope' }, [file])).toThrow(`OS_CLOUD is nope, which ${file} does not have (it has prod, appcred, lab)`);
    expect(() => cloudsYamlEnv({ OS_CLOUD: 'lab' }, [file])).toThrow(CloudsYamlError);
    expect(() => cloudsYamlEnv({ OS_CLOUD: 'lab' }, [file])).toThrow(/turns TLS verification off/);
    let message = '';
    try {
      cloudsYamlEnv({ OS_CLOUD: 'nope' }, [file]);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).not.toContain('secure-yaml-password');
    expect(() => cloudsYamlEnv({ OS_CLOUD: 'prod' }, [join(dir, 'absent.yaml')])).toThrow(/there is no clouds.yaml/);
  });

  it('looks where openstacksdk looks: OS_CLIENT_CONFIG_FILE, then ./, ~/.config/openstack/, /etc/openstack/', () => {
    expect(cloudsYamlPaths({ OS_CLIENT_CONFIG_FILE: '/x/c.yaml' }, '/work', '/home/me')).toEqual([
      '/x/c.yaml',
      '/work/clouds.yaml',
      '/home/me/.config/openstack/clouds.yaml',
      '/etc/openstack/clouds.yaml',
    ]);
  });
});
