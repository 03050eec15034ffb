/**
 * `OS_CLOUD` with `clouds.yaml`, as the openstack CLI reads them, for `npm start`: the named cloud's
 * settings become the OS_* variables the Compute client reads (lib/openstack/config.ts), so a laptop
 * set up for the CLI needs nothing else. Files are looked for where openstacksdk looks
 * (`OS_CLIENT_CONFIG_FILE`, then ./, ~/.config/openstack/, /etc/openstack/), and a `secure.yaml`
 * beside the first found is laid over it. Variables already set in the environment win. Messages name
 * files, clouds and keys, never values.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';

type Env = Record<string, string | undefined>;

export class CloudsYamlError extends Error {
  override readonly name = 'CloudsYamlError';
}

/** clouds.yaml's keys (under the cloud, or its `auth`) and the variables they become. */
const AUTH_KEYS: Record<string, string> = {
  auth_url: 'OS_AUTH_URL',
  username: 'OS_USERNAME',
  password: 'OS_PASSWORD',
  user_domain_name: 'OS_USER_DOMAIN_NAME',
  project_domain_name: 'OS_PROJECT_DOMAIN_NAME',
  application_credential_id: 'OS_APPLICATION_CREDENTIAL_ID',
  application_credential_secret: 'OS_APPLICATION_CREDENTIAL_SECRET',
};
const CLOUD_KEYS: Record<string, string> = {
  auth_type: 'OS_AUTH_TYPE',
  region_name: 'OS_REGION_NAME',
  interface: 'OS_INTERFACE',
  cacert: 'OS_CACERT',
};

/** Where clouds.yaml is looked for, in order. */
export function cloudsYamlPaths(env: Env, cwd = process.cwd(), home = homedir()): string[] {
  return [
    ...(env.OS_CLIENT_CONFIG_FILE ? [env.OS_CLIENT_CONFIG_FILE] : []),
    join(cwd, 'clouds.yaml'),
    join(home, '.config', 'openstack', 'clouds.yaml'),
    '/etc/openstack/clouds.yaml',
  ];
}

function readYaml(path: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CloudsYamlError(`${path} is not readable YAML (${(err as Error).name})`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new CloudsYamlError(`${path} is not a YAML mapping`);
  return doc as Record<string, unknown>;
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** b laid over a, mappings merged key by key (secure.yaml over clouds.yaml). */
function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isMap(v) && isMap(out[k]) ? merge(out[k] as Record<string, unknown>, v) : v;
  return out;
}

/**
 * The OS_* variables of the cloud `OS_CLOUD` names; {} when it is unset. Throws CloudsYamlError when
 * no file is found, the cloud is not in it, or it asks for something the client does not do.
 */
export function cloudsYamlEnv(env: Env, paths = cloudsYamlPaths(env)): Record<string, string> {
  const name = env.OS_CLOUD?.trim();
  if (!name) return {};
  const path = paths.find((p) => existsSync(p));
  if (!path) throw new CloudsYamlError(`OS_CLOUD is ${name} but there is no clouds.yaml (looked in ${paths.join(', ')})`);
  const secure = join(dirname(path), 'secure.yaml');
  const doc = existsSync(secure) ? merge(readYaml(path), readYaml(secure)) : readYaml(path);
  const clouds = isMap(doc.clouds) ? doc.clouds : {};
  const cloud = clouds[name];
  if (!isMap(cloud)) {
    throw new CloudsYamlError(`OS_CLOUD is ${name}, which ${path} does not have (it has ${Object.keys(clouds).join(', ') || 'no clouds'})`);
  }
  if (cloud.verify === false || cloud.insecure === true) {
    throw new CloudsYamlError(`cloud ${name} in ${path} turns TLS verification off, which this service does not do: give its CA with cacert instead`);
  }
  const out: Record<string, string> = {};
  const take = (source: Record<string, unknown>, keys: Record<string, string>) => {
    for (const [key, variable] of Object.entries(keys)) {
      const value = source[key];
      if (value === undefined || value === null) continue;
      if (typeof value !== 'string' && typeof value !== 'number') throw new CloudsYamlError(`cloud ${name} in ${path}: ${key} must be a string`);
      if (env[variable] === undefined || env[variable] === '') out[variable] = String(value);
    }
  };
  take(isMap(cloud.auth) ? cloud.auth : {}, AUTH_KEYS);
  take(cloud, CLOUD_KEYS);
  return out;
}
