/**
 * How the Compute API client finds Nova and proves who it is, read once from the environment.
 * Imports nothing from undici so composition roots and tests can parse config without a client.
 */
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';

/** A credential that renders as `[redacted]` in strings, JSON and `console.log`. */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The credential itself; call only where it is put on the wire. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '[redacted]';
  }

  toJSON(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return '[redacted]';
  }
}

/** Which catalog entries Keystone offers; `public` unless `OS_INTERFACE` says otherwise. */
export type EndpointInterface = 'public' | 'internal' | 'admin';

/** What every way of reaching the cloud may add. */
interface TlsSettings {
  /**
   * PEM certificates the cloud's TLS certificates must chain to, instead of the public roots (a
   * private CA): from the file `OS_CACERT` names, as the openstack CLI reads it, or the PEM itself in
   * `OS_CACERT_PEM` (the cloud's secret, where a Lambda function has no file of yours).
   */
  readonly caCert?: string;
}

/** Fixed endpoint and token: no Keystone round trip, no re-authentication possible. */
export interface FixedEndpointConfig extends TlsSettings {
  readonly kind: 'fixed';
  /** May contain `{tenant_id}` or `%(tenant_id)s`, replaced by the job's tenant. */
  readonly computeUrl: string;
  readonly token: Secret;
}

/** Where Keystone is and which catalog endpoint of the compute service to use. */
interface KeystoneSettings extends TlsSettings {
  /** Keystone v3 root, always ending in `/v3` (no trailing slash). */
  readonly authUrl: string;
  readonly interface: EndpointInterface;
  /** Unset: the catalog must offer compute in exactly one region. */
  readonly region?: string;
}

/** Password authentication, one project-scoped token per tenant. */
export interface PasswordAuthConfig extends KeystoneSettings {
  readonly kind: 'password';
  readonly username: string;
  readonly password: Secret;
  readonly userDomainName: string;
  /**
   * Kept for diagnostics only: the token is scoped by project id, which Keystone resolves without
   * (and ignoring) a domain, so sending it would suggest a check that never happens.
   */
  readonly projectDomainName?: string;
}

/** Application credential: one token, scoped by Keystone to the credential's own project. */
export interface ApplicationCredentialConfig extends KeystoneSettings {
  readonly kind: 'applicationCredential';
  readonly applicationCredentialId: string;
  readonly applicationCredentialSecret: Secret;
}

export type ComputeConfig = FixedEndpointConfig | PasswordAuthConfig | ApplicationCredentialConfig;

/**
 * The Compute API client cannot work with what it was given: settings missing or contradictory,
 * or Keystone's catalog has no usable compute endpoint. Messages name variables, never values of
 * secrets.
 */
export class ComputeConfigError extends Error {
  override readonly name = 'ComputeConfigError';
  constructor(
    message: string,
    /** The environment variables (or catalog facts) the message is about. */
    readonly variables: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const INTERFACES: readonly EndpointInterface[] = ['public', 'internal', 'admin'];

/** Variables that only make sense with Keystone; any of them next to COMPUTE_URL is a contradiction. */
const KEYSTONE_VARIABLES = [
  'OS_AUTH_URL',
  'OS_USERNAME',
  'OS_PASSWORD',
  'OS_USER_DOMAIN_NAME',
  'OS_PROJECT_DOMAIN_NAME',
  'OS_APPLICATION_CREDENTIAL_ID',
  'OS_APPLICATION_CREDENTIAL_SECRET',
  'OS_REGION_NAME',
  'OS_INTERFACE',
  'OS_AUTH_TYPE',
] as const;

/**
 * `OS_AUTH_TYPE` as the openstack CLI (keystoneauth) names its plugins, and which credentials each
 * takes. openrc files often carry both kinds of credential and let this variable choose.
 */
const AUTH_TYPES: Record<string, 'password' | 'applicationCredential'> = {
  password: 'password',
  v3password: 'password',
  v3applicationcredential: 'applicationCredential',
  applicationcredential: 'applicationCredential',
};

/** The PEM of `OS_CACERT` (a file) or `OS_CACERT_PEM` (the text), checked to hold a certificate. */
function caCertFrom(read: (name: string) => string | undefined): string | undefined {
  const path = read('OS_CACERT');
  const pem = read('OS_CACERT_PEM');
  if (path !== undefined && pem !== undefined) {
    throw new ComputeConfigError('OS_CACERT and OS_CACERT_PEM are both set: give the file or the PEM text, not both', ['OS_CACERT', 'OS_CACERT_PEM']);
  }
  let text = pem;
  const variable = path !== undefined ? 'OS_CACERT' : 'OS_CACERT_PEM';
  if (path !== undefined) {
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ComputeConfigError(`OS_CACERT names a file that cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}): ${path}`, ['OS_CACERT']);
    }
  }
  if (text === undefined) return undefined;
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ComputeConfigError(`${variable} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`, [variable]);
  }
  return text;
}

/**
 * Reads the Compute API settings from the environment and throws `ComputeConfigError` naming the
 * variables when they are missing or contradict each other.
 */
export function computeConfigFromEnv(env: NodeJS.ProcessEnv): ComputeConfig {
  // An empty variable (CDK or a shell `export X=`) means "not set": treating "" as a value would
  // turn a missing password into an empty one and a 401 at run time instead of a clear error here.
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const isSet = (name: string): boolean => read(name) !== undefined;

  const computeUrl = read('COMPUTE_URL');
  const computeToken = read('COMPUTE_TOKEN');

  if (computeUrl !== undefined || computeToken !== undefined) {
    if (computeUrl === undefined || computeToken === undefined) {
      const missing = computeUrl === undefined ? 'COMPUTE_URL' : 'COMPUTE_TOKEN';
      const present = computeUrl === undefined ? 'COMPUTE_TOKEN' : 'COMPUTE_URL';
      throw new ComputeConfigError(
        `${present} is set but ${missing} is not: a fixed Compute endpoint needs both`,
        [present, missing],
      );
    }
    const keystoneSet = KEYSTONE_VARIABLES.filter(isSet);
    if (keystoneSet.length > 0) {
      throw new ComputeConfigError(
        `COMPUTE_URL/COMPUTE_TOKEN and ${keystoneSet.join(', ')} are both set: choose a fixed ` +
          'endpoint or Keystone authentication, not both',
        ['COMPUTE_URL', 'COMPUTE_TOKEN', ...keystoneSet],
      );
    }
    checkHttpUrl(computeUrl.replaceAll('%(tenant_id)s', 'x').replaceAll('{tenant_id}', 'x'), 'COMPUTE_URL');
    const caCert = caCertFrom(read);
    return Object.freeze({ kind: 'fixed', computeUrl, token: new Secret(computeToken), ...(caCert !== undefined ? { caCert } : {}) });
  }

  const authUrlRaw = read('OS_AUTH_URL');
  const username = read('OS_USERNAME');
  const password = read('OS_PASSWORD');
  const appCredId = read('OS_APPLICATION_CREDENTIAL_ID');
  const appCredSecret = read('OS_APPLICATION_CREDENTIAL_SECRET');
  const authTypeRaw = read('OS_AUTH_TYPE');
  const authType = authTypeRaw === undefined ? undefined : AUTH_TYPES[authTypeRaw.toLowerCase()];
  if (authTypeRaw !== undefined && authType === undefined) {
    throw new ComputeConfigError(`OS_AUTH_TYPE must be one of ${Object.keys(AUTH_TYPES).join(', ')}`, ['OS_AUTH_TYPE']);
  }
  // With OS_AUTH_TYPE, the other kind's variables are ignored, as the openstack CLI ignores them.
  const passwordVars = authType === 'applicationCredential' ? [] : ['OS_USERNAME', 'OS_PASSWORD'].filter(isSet);
  const appCredVars = authType === 'password' ? [] : ['OS_APPLICATION_CREDENTIAL_ID', 'OS_APPLICATION_CREDENTIAL_SECRET'].filter(isSet);

  if (authUrlRaw === undefined) {
    const given = [...passwordVars, ...appCredVars];
    throw new ComputeConfigError(
      given.length > 0
        ? `${given.join(', ')} ${given.length > 1 ? 'are' : 'is'} set but OS_AUTH_URL is not`
        : 'No Compute API settings: set COMPUTE_URL and COMPUTE_TOKEN, or OS_AUTH_URL with ' +
            'OS_USERNAME/OS_PASSWORD or OS_APPLICATION_CREDENTIAL_ID/OS_APPLICATION_CREDENTIAL_SECRET',
      given.length > 0
        ? ['OS_AUTH_URL', ...given]
        : ['COMPUTE_URL', 'COMPUTE_TOKEN', 'OS_AUTH_URL', 'OS_USERNAME', 'OS_PASSWORD',
           'OS_APPLICATION_CREDENTIAL_ID', 'OS_APPLICATION_CREDENTIAL_SECRET'],
    );
  }
  if (passwordVars.length > 0 && appCredVars.length > 0) {
    throw new ComputeConfigError(
      `${passwordVars.join(', ')} and ${appCredVars.join(', ')} are both set: choose password ` +
        'or application-credential authentication with OS_AUTH_TYPE (password or v3applicationcredential), as the openstack CLI does',
      [...passwordVars, ...appCredVars, 'OS_AUTH_TYPE'],
    );
  }

  const caCert = caCertFrom(read);
  const settings: KeystoneSettings = {
    ...(caCert !== undefined ? { caCert } : {}),
    authUrl: keystoneV3Url(authUrlRaw),
    interface: parseInterface(read('OS_INTERFACE')),
    ...(isSet('OS_REGION_NAME') ? { region: read('OS_REGION_NAME') } : {}),
  };

  if (appCredVars.length > 0 || authType === 'applicationCredential') {
    if (appCredId === undefined || appCredSecret === undefined) {
      const missing = appCredId === undefined ? 'OS_APPLICATION_CREDENTIAL_ID' : 'OS_APPLICATION_CREDENTIAL_SECRET';
      throw new ComputeConfigError(`${missing} is not set: an application credential needs its id and secret`, [
        'OS_APPLICATION_CREDENTIAL_ID',
        'OS_APPLICATION_CREDENTIAL_SECRET',
      ]);
    }
    // OS_USER_DOMAIN_NAME / OS_PROJECT_DOMAIN_NAME are ignored here, as openstackclient does: the
    // credential id is globally unique and its project is fixed, and openrc files often set them.
    return Object.freeze({
      kind: 'applicationCredential',
      ...settings,
      applicationCredentialId: appCredId,
      applicationCredentialSecret: new Secret(appCredSecret),
    });
  }

  if (username === undefined || password === undefined) {
    const missing = [username === undefined ? 'OS_USERNAME' : undefined, password === undefined ? 'OS_PASSWORD' : undefined]
      .filter((name): name is string => name !== undefined);
    throw new ComputeConfigError(
      `OS_AUTH_URL is set but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not: password ` +
        'authentication needs OS_USERNAME and OS_PASSWORD (or use OS_APPLICATION_CREDENTIAL_ID/_SECRET)',
      ['OS_AUTH_URL', ...missing],
    );
  }
  const projectDomainName = read('OS_PROJECT_DOMAIN_NAME');
  return Object.freeze({
    kind: 'password',
    ...settings,
    username,
    password: new Secret(password),
    userDomainName: read('OS_USER_DOMAIN_NAME') ?? 'Default',
    ...(projectDomainName !== undefined ? { projectDomainName } : {}),
  });
}

function checkHttpUrl(value: string, variable: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ComputeConfigError(`${variable} is not a URL`, [variable]);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ComputeConfigError(`${variable} must be an http:// or https:// URL`, [variable]);
  }
  if (url.username !== '' || url.password !== '') {
    // Credentials in a URL end up in logs and error messages; they belong in their own variables.
    throw new ComputeConfigError(`${variable} must not carry user:password@`, [variable]);
  }
  return url;
}

/** `http://keystone:5000`, `.../v3`, `.../identity/v3/` all become `<root>/v3`; v2.0 is refused. */
function keystoneV3Url(raw: string): string {
  const url = checkHttpUrl(raw, 'OS_AUTH_URL');
  const path = url.pathname.replace(/\/+$/, '');
  if (/\/v2(\.\d+)?$/.test(path)) {
    throw new ComputeConfigError('OS_AUTH_URL points at Keystone v2, which this client does not speak; use the v3 URL', [
      'OS_AUTH_URL',
    ]);
  }
  url.pathname = /\/v3$/.test(path) ? path : `${path}/v3`;
  url.search = '';
  url.hash = '';
  return url.toString().replace(/\/+$/, '');
}

function parseInterface(raw: string | undefined): EndpointInterface {
  if (raw === undefined) return 'public';
  // Older openrc files say `publicURL`; keystoneauth accepts both spellings.
  const value = raw.toLowerCase().replace(/url$/, '');
  const found = INTERFACES.find((candidate) => candidate === value);
  if (found === undefined) {
    throw new ComputeConfigError(`OS_INTERFACE must be one of ${INTERFACES.join(', ')}`, ['OS_INTERFACE']);
  }
  return found;
}
