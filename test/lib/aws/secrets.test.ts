/**
 * OpenStack credentials from Secrets Manager (lib/aws/secrets.ts), read through the real
 * Powertools SecretsProvider and its cache, over a real SecretsManagerClient whose middleware
 * answers GetSecretValue in place of AWS (no network): this tests parsing, the cache's age and the
 * rebuild on rotation, not AWS.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SECRET_MAX_AGE_SECONDS, loadSecretSettings, rebuiltOnRotation } from '../../../lib/aws/secrets.js';

/** A provider over a client that answers with `secret.value`, counting the calls that reached "AWS". */
function providerWith(secret: { value: string; calls: number }): SecretsProvider {
  const client = new SecretsManagerClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  client.middlewareStack.add(
    () => async () => {
      secret.calls++;
      return { output: { SecretString: secret.value, $metadata: {} }, response: {} };
    },
    { step: 'initialize', name: 'answerInPlaceOfAws' },
  );
  return new SecretsProvider({ awsSdkV3Client: client });
}

afterEach(() => {
  vi.useRealTimers();
});

describe('OpenStack credentials from Secrets Manager', () => {
  it('reads the credential settings of a JSON secret', async () => {
    const secret = { value: JSON.stringify({ OS_USERNAME: 'ops', OS_PASSWORD: 'hunter2', OS_USER_DOMAIN_NAME: '' }), calls: 0 };
    expect(await loadSecretSettings('arn:s', providerWith(secret))).toEqual({ OS_USERNAME: 'ops', OS_PASSWORD: 'hunter2' });
    expect(secret.calls).toBe(1);
  });

  it('refuses other keys and non-JSON without quoting any value', async () => {
    await expect(loadSecretSettings('arn:s', providerWith({ value: '{"OS_AUTH_URL": "x"}', calls: 0 }))).rejects.toThrow(/unknown key OS_AUTH_URL/);
    const err = await loadSecretSettings('arn:s', providerWith({ value: 'hunter2', calls: 0 })).catch((e: Error) => e);
    expect(String(err)).toMatch(/not a JSON object/);
    expect(String(err)).not.toContain('hunter2');
    const typed = await loadSecretSettings('arn:s', providerWith({ value: '{"OS_PASSWORD": 42}', calls: 0 })).catch((e: Error) => e);
    expect(String(typed)).toMatch(/OS_PASSWORD must be a string/);
  });

  it('keeps the secret for SECRET_MAX_AGE_SECONDS, and builds the parts again once a rotated secret is read', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-01T02:00:00Z'));
    const secret = { value: JSON.stringify({ OS_USERNAME: 'ops', OS_PASSWORD: 'old' }), calls: 0 };
    const provider = providerWith(secret);
    const built: string[] = [];
    const parts = rebuiltOnRotation(
      () => loadSecretSettings('arn:s', provider),
      (settings) => {
        built.push(settings.OS_PASSWORD as string);
        return { password: settings.OS_PASSWORD };
      },
    );
    const first = await parts.current();
    secret.value = JSON.stringify({ OS_USERNAME: 'ops', OS_PASSWORD: 'rotated' });
    vi.setSystemTime(new Date(Date.now() + (SECRET_MAX_AGE_SECONDS - 10) * 1000));
    // Within the cache's age: the same parts, no call to AWS.
    expect(await parts.current()).toBe(first);
    expect(secret.calls).toBe(1);
    vi.setSystemTime(new Date(Date.now() + 20_000));
    expect(await parts.current()).toEqual({ password: 'rotated' });
    expect(secret.calls).toBe(2);
    // Read again, unchanged: not built again.
    vi.setSystemTime(new Date(Date.now() + (SECRET_MAX_AGE_SECONDS + 1) * 1000));
    await parts.current();
    expect(built).toEqual(['old', 'rotated']);
  });
});
