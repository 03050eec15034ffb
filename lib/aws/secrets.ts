/**
 * OpenStack credentials from AWS Secrets Manager: the only file that imports its SDK. The secret
 * is a JSON object whose keys are the settings' environment names, so the cloud and a laptop
 * (plain environment variables) configure the Compute client the same way.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

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

/** Reads the secret once; returns its settings. Never logs or echoes a value. */
export async function loadSecretSettings(secretId: string, client = new SecretsManagerClient({})): Promise<Record<string, string>> {
  const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  let parsed: unknown;
  try {
    parsed = JSON.parse(out.SecretString ?? '');
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
