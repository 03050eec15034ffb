/**
 * How the Compute API client finds Nova and proves who it is: the shapes lib/settings.ts reads
 * from the environment (computeConfigFromEnv). Imports nothing from undici so composition roots
 * and tests can parse config without a client.
 */
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
export interface KeystoneSettings extends TlsSettings {
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
