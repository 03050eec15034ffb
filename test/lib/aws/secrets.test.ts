import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { loadSecretSettings } from '../../../lib/aws/secrets.js';

/** A stand-in client answering GetSecretValue with a fixed string: this tests parsing, not AWS. */
const clientWith = (SecretString: string) => ({ send: async () => ({ SecretString }) }) as unknown as SecretsManagerClient;

describe('OpenStack credentials from Secrets Manager', () => {
  it('reads the credential settings of a JSON secret', async () => {
    const secret = JSON.stringify({ OS_USERNAME: 'ops', OS_PASSWORD: 'hunter2', OS_USER_DOMAIN_NAME: '' });
    expect(await loadSecretSettings('arn:s', clientWith(secret))).toEqual({ OS_USERNAME: 'ops', OS_PASSWORD: 'hunter2' });
  });

  it('refuses other keys and non-JSON without quoting any value', async () => {
    await expect(loadSecretSettings('arn:s', clientWith('{"OS_AUTH_URL": "x"}'))).rejects.toThrow(/unknown key OS_AUTH_URL/);
    const err = await loadSecretSettings('arn:s', clientWith('hunter2')).catch((e: Error) => e);
    expect(String(err)).not.toContain('hunter2');
    const typed = await loadSecretSettings('arn:s', clientWith('{"OS_PASSWORD": 42}')).catch((e: Error) => e);
    expect(String(typed)).toMatch(/OS_PASSWORD must be a string/);
  });
});
