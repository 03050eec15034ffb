/**
 * OpenStack credentials from AWS Secrets Manager, read through Powertools Parameters: the only file
 * that reaches Secrets Manager. The secret is a JSON object whose keys are the settings'
 * environment names, so the cloud and a laptop (plain environment variables) configure the Compute
 * client the same way.
 */
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';

/**
 * The keys a secret may hold: credentials, which kind of them (`OS_AUTH_TYPE`, when the secret holds
 * both kinds) and the private CA the cloud's certificates chain to (`OS_CACERT_PEM`, the PEM text: a
 * function has no file of yours); endpoints and regions are stack parameters.
 */
export const SECRET_KEYS = [
  'OS_USERNAME',
  'OS_PASSWORD',
  'OS_USER_DOMAIN_NAME',
  'OS_APPLICATION_CREDENTIAL_ID',
  'OS_APPLICATION_CREDENTIAL_SECRET',
  'OS_AUTH_TYPE',
  'OS_CACERT_PEM',
  'COMPUTE_TOKEN',
] as const;

export class SecretFormatError extends Error {
  override readonly name = 'SecretFormatError';
}

/**
 * How long a function keeps the secret before it reads it again: a rotated password or application
 * credential is in use within five minutes, without a cold start, for one Secrets Manager call per
 * warm function per five minutes. The old credential's tokens go on working until Keystone revokes
 * them; a 401 in between is retried by the client with a fresh token.
 */
export const SECRET_MAX_AGE_SECONDS = 300;

/** Something that answers a secret's string by name, within a cache age: Powertools' SecretsProvider. */
export interface SecretReader {
  get(name: string, options: { maxAge: number }): Promise<unknown>;
}

/** Reads the secret (through Powertools' cache, SECRET_MAX_AGE_SECONDS); returns its settings. Never logs or echoes a value. */
export async function loadSecretSettings(secretId: string, reader: SecretReader = defaultReader()): Promise<Record<string, string>> {
  const value = await reader.get(secretId, { maxAge: SECRET_MAX_AGE_SECONDS });
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : '');
  } catch {
    throw new SecretFormatError(`Secret ${secretId} is not a JSON object of ${SECRET_KEYS.join(', ')}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SecretFormatError(`Secret ${secretId} is not a JSON object of ${SECRET_KEYS.join(', ')}`);
  }
  const settings: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (!(SECRET_KEYS as readonly string[]).includes(k)) throw new SecretFormatError(`Secret ${secretId} has an unknown key ${k}; allowed: ${SECRET_KEYS.join(', ')}`);
    if (typeof v !== 'string') throw new SecretFormatError(`Secret ${secretId}: ${k} must be a string`);
    if (v !== '') settings[k] = v;
  }
  return settings;
}

let provider: SecretsProvider | undefined;
/** One provider per process, so its cache serves every invocation. */
function defaultReader(): SecretsProvider {
  provider ??= new SecretsProvider();
  return provider;
}

/**
 * Parts built from the secret's settings, built again when the settings change (a rotation):
 * `current()` reads the secret through the cache and answers the parts built from what it holds.
 */
export function rebuiltOnRotation<T>(load: () => Promise<Record<string, string>>, build: (settings: Record<string, string>) => T): { current(): Promise<T> } {
  let built: { key: string; parts: T } | undefined;
  return {
    async current() {
      const settings = await load();
      // The settings themselves, in memory only, as the parts built from them hold them anyway.
      const key = JSON.stringify(Object.entries(settings).sort(([a], [b]) => (a < b ? -1 : 1)));
      if (!built || built.key !== key) built = { key, parts: build(settings) };
      return built.parts;
    },
  };
}
