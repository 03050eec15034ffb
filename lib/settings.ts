/**
 * The one reader of the environment: settings read once per process, by the functions, the local
 * stack and cdk/. A value that is set but wrong fails at start-up with a message naming the
 * variable; nothing falls back silently.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import {
  type ComputeConfig,
  ComputeConfigError,
  type EndpointInterface,
  type KeystoneSettings,
  Secret,
} from './openstack/config.js';
import { Grants } from './jobs/grants.js';
import type { SubmitLimits } from './request/job-request.js';
import { MAX_MICROVERSION, type Microversion, parseMicroversion } from './request/microversion.js';
import { NOVA_DEFAULT_QUOTAS } from './request/rebuild-schema.js';
import { DEFAULT_WORKER_SETTINGS, type WorkerSettings } from './worker/step.js';
import { DEFAULT_SWEEP, type SweepSettings } from './worker/sweeper.js';

type Env = Record<string, string | undefined>;

function required(env: Env, name: string): string {
  const v = env[name];
  if (v === undefined || v === '') throw new ConfigError(`${name} must be set`);
  return v;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}; it is "${raw}"`);
  }
  return n;
}

function maxMicroversion(env: Env): Microversion {
  const raw = env.NOVA_MAX_MICROVERSION;
  if (raw === undefined || raw === '') return MAX_MICROVERSION;
  try {
    return parseMicroversion(raw);
  } catch {
    throw new ConfigError(`NOVA_MAX_MICROVERSION must be 2.1 to 2.${MAX_MICROVERSION.minor}; it is "${raw}"`);
  }
}

/**
 * Deliveries of one message before it goes to the dead-letter queue. The worker waits by sending
 * new delayed messages, never by failing one, so a message comes back only when a worker crashed
 * on it or left it for later (a claim another live worker holds); five times means the message is
 * the problem. The queue (local and cloud) is set up with the same number.
 */
export const DEFAULT_MAX_RECEIVE_COUNT = 5;

/** Ended servers needed before a job's maxFailurePercentage is judged: read by every part that ends servers. */
function minFailureSample(env: Env): number {
  return integer(env, 'MIN_FAILURE_SAMPLE', DEFAULT_WORKER_SETTINGS.minFailureSample, 1, 10000);
}

/** What the API function needs. */
export interface ApiConfig {
  tableName: string;
  queueUrl: string;
  limits: SubmitLimits;
  /** Largest request body accepted, in bytes (413 above). */
  maxBodyBytes: number;
  /** Largest XML body accepted on the drop-in call, in bytes (413 above). */
  maxXmlBodyBytes: number;
  /** Days a job and its server records are kept after creation (DynamoDB TTL). */
  retentionDays: number;
  /** Which principal may act on which project. */
  grants: Grants;
  minFailureSample: number;
}

/** Reads the API function's settings; defaults are in README's configuration table. */
export function apiConfigFromEnv(env: Env): ApiConfig {
  return {
    tableName: required(env, DEPLOYMENT_ENV.table),
    queueUrl: required(env, DEPLOYMENT_ENV.queue),
    // API Gateway and Lambda take at most 6 MB of request payload; 5 MiB leaves room for the
    // event's envelope and base64 of binary bodies.
    maxBodyBytes: integer(env, 'MAX_BODY_BYTES', 5 * 1024 * 1024, 1024, 6 * 1024 * 1024),
    // The seed's XML rebuild is a few hundred bytes; 64 KB is room for 128 metadata items and a
    // few injected files, and keeps every check on an XML body (linear as they are) at milliseconds.
    maxXmlBodyBytes: integer(env, 'MAX_XML_BODY_BYTES', 64 * 1024, 1024, 6 * 1024 * 1024),
    grants: Grants.parse(env.PROJECT_GRANTS),
    minFailureSample: minFailureSample(env),
    retentionDays: integer(env, 'JOB_RETENTION_DAYS', 30, 1, 365),
    limits: {
      maxMicroversion: maxMicroversion(env),
      // 2,000 servers are 200 SendMessageBatch and 80 BatchWriteItem calls: a few seconds,
      // well inside API Gateway's 30 s integration timeout (see docs/benchmarks.md).
      maxServersPerJob: integer(env, 'MAX_SERVERS_PER_JOB', 2000, 1, 10000),
      quotas: {
        metadataItems: integer(env, 'QUOTA_METADATA_ITEMS', NOVA_DEFAULT_QUOTAS.metadataItems, 0, 100000),
        personalityFiles: integer(env, 'QUOTA_INJECTED_FILES', NOVA_DEFAULT_QUOTAS.personalityFiles, 0, 1000),
        personalityContentBytes: integer(env, 'QUOTA_INJECTED_FILE_CONTENT_BYTES', NOVA_DEFAULT_QUOTAS.personalityContentBytes, 0, 1048576),
        personalityPathBytes: integer(env, 'QUOTA_INJECTED_FILE_PATH_BYTES', NOVA_DEFAULT_QUOTAS.personalityPathBytes, 1, 4096),
      },
      defaults: {
        maxAttempts: integer(env, 'DEFAULT_MAX_ATTEMPTS', 30, 1, 100),
        deadlineSeconds: integer(env, 'DEFAULT_DEADLINE_SECONDS', 7200, 60, 86400),
        maxFailurePercentage: integer(env, 'DEFAULT_MAX_FAILURE_PERCENTAGE', 100, 0, 100),
        // Nova takes a few dozen concurrent rebuilds per cell comfortably; past the cloud's own
        // limit it answers 503, and every such answer is a wasted call. Set it to your cloud's.
        maxInFlight: integer(env, 'DEFAULT_MAX_IN_FLIGHT', 50, 1, 1000),
      },
    },
  };
}

/**
 * The variables the stack sets on its functions (cdk/ sets them by these names, the functions read
 * them here), and the two the local stack sets to reach the stand-ins.
 */
export const DEPLOYMENT_ENV = {
  table: 'TABLE_NAME',
  queue: 'QUEUE_URL',
  secret: 'OPENSTACK_SECRET_ARN',
  eventBus: 'EVENT_BUS_NAME',
  reportBucket: 'REPORT_BUCKET',
  dynamodbEndpoint: 'DYNAMODB_ENDPOINT',
  sqsEndpoint: 'SQS_ENDPOINT',
} as const;

/** Where a function's AWS resources are, as the stack (or the local stack) told it. */
export interface Deployment {
  tableName: string;
  /** Absent for the notifier, which sends nothing to the queue. */
  queueUrl?: string;
  /** The OpenStack secret; absent when the credentials are in the environment (locally). */
  secretArn?: string;
  eventBusName?: string;
  reportBucket?: string;
  /** Endpoint overrides for the AWS clients: the stand-ins locally; unset in the cloud, where the SDK finds AWS itself. */
  endpoints: { dynamodb?: string; sqs?: string };
}

/** Reads where the function's resources are; `needs` names what this function cannot run without. */
export function deploymentFromEnv(env: Env, needs: ('queueUrl' | 'eventBusName')[] = ['queueUrl']): Deployment {
  const n = DEPLOYMENT_ENV;
  const value = (name: string) => (env[name] === '' ? undefined : env[name]);
  const d: Deployment = {
    tableName: required(env, n.table),
    endpoints: {
      ...(value(n.dynamodbEndpoint) ? { dynamodb: value(n.dynamodbEndpoint) as string } : {}),
      ...(value(n.sqsEndpoint) ? { sqs: value(n.sqsEndpoint) as string } : {}),
    },
    ...(value(n.queue) ? { queueUrl: value(n.queue) as string } : {}),
    ...(value(n.secret) ? { secretArn: value(n.secret) as string } : {}),
    ...(value(n.eventBus) ? { eventBusName: value(n.eventBus) as string } : {}),
    ...(value(n.reportBucket) ? { reportBucket: value(n.reportBucket) as string } : {}),
  };
  if (needs.includes('queueUrl')) required(env, n.queue);
  if (needs.includes('eventBusName')) required(env, n.eventBus);
  return d;
}

/** What the worker function needs. */
export interface WorkerConfig {
  tableName: string;
  queueUrl: string;
  settings: WorkerSettings;
  /**
   * Deliveries of a message before the queue moves it to the dead-letter queue (the queue's
   * redrive policy says the same): on the last one, a step that fails ends its server instead.
   */
  maxReceiveCount: number;
  /** The sweeper's settings (it runs with the worker's parts). */
  sweep: SweepSettings;
}

/** Reads the worker's settings; defaults (DEFAULT_WORKER_SETTINGS) are explained where they are defined. */
export function workerConfigFromEnv(env: Env): WorkerConfig {
  const d = DEFAULT_WORKER_SETTINGS;
  const baseSeconds = integer(env, 'BACKOFF_BASE_SECONDS', d.retry.baseSeconds, 1, 900);
  const capSeconds = integer(env, 'BACKOFF_CAP_SECONDS', d.retry.capSeconds, 1, 3600);
  if (capSeconds < baseSeconds) {
    throw new ConfigError(`BACKOFF_CAP_SECONDS (${capSeconds}) must not be below BACKOFF_BASE_SECONDS (${baseSeconds})`);
  }
  return {
    tableName: required(env, DEPLOYMENT_ENV.table),
    queueUrl: required(env, DEPLOYMENT_ENV.queue),
    settings: {
      retry: { baseSeconds, capSeconds },
      watch: {
        ...d.watch,
        firstLookSeconds: integer(env, 'WATCH_FIRST_LOOK_SECONDS', d.watch.firstLookSeconds, 0, 900),
        maxPaceSeconds: integer(env, 'WATCH_MAX_PACE_SECONDS', d.watch.maxPaceSeconds, d.watch.minPaceSeconds, 900),
        safetyNetSeconds: integer(env, 'SAFETY_NET_SECONDS', d.watch.safetyNetSeconds, 1, 900),
        overdueMinSeconds: integer(env, 'OVERDUE_MIN_SECONDS', d.watch.overdueMinSeconds, 1, 86400),
        preflightWaitSeconds: integer(env, 'PREFLIGHT_WAIT_SECONDS', d.watch.preflightWaitSeconds, 1, 900),
      },
      claimLeaseSeconds: integer(env, 'CLAIM_LEASE_SECONDS', d.claimLeaseSeconds, 1, 900),
      // The contract is at least ±5 minutes; more is allowed, less is not.
      clockSkewSeconds: integer(env, 'CLOCK_SKEW_SECONDS', d.clockSkewSeconds, 300, 86400),
      settleSeconds: integer(env, 'SETTLE_SECONDS', d.settleSeconds, 1, 3600),
      verifyFirstSeconds: integer(env, 'VERIFY_FIRST_SECONDS', d.verifyFirstSeconds, 1, 900),
      minFailureSample: minFailureSample(env),
    },
    maxReceiveCount: integer(env, 'MAX_RECEIVE_COUNT', DEFAULT_MAX_RECEIVE_COUNT, 1, 1000),
    sweep: { ...DEFAULT_SWEEP, stallSeconds: integer(env, 'STALL_SECONDS', DEFAULT_SWEEP.stallSeconds, 1, 86400) },
  };
}

/** Powertools Logger's levels, as `LOG_LEVEL` may name them. */
const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** What `npm start` and its worker process read besides the functions' settings. */
export interface LocalSettings {
  apiPort: number;
  dynamoPort: number;
  sqsPort: number;
  /** Where the table, queue, events and reports are kept. */
  dataDir: string;
  /** WARN by default: a quiet terminal, whose lines are the job events a user watches for. */
  logLevel: LogLevel;
  /** The local poller's loops (Lambda's maximum concurrency); the stack's LOCAL_POLLER when unset. */
  pollerMaxConcurrency?: number;
}

/** Reads the local stack's settings: a port that is not a port, or an unknown log level, stops it naming the variable. */
export function localFromEnv(env: Env): LocalSettings {
  const level = (env.LOG_LEVEL ?? '').toUpperCase() || 'WARN';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; it is "${env.LOG_LEVEL}"`);
  }
  const concurrency = env.POLLER_MAX_CONCURRENCY ? integer(env, 'POLLER_MAX_CONCURRENCY', 5, 1, 100) : undefined;
  return {
    apiPort: integer(env, 'PORT', 3000, 0, 65535),
    dynamoPort: integer(env, 'DYNAMODB_PORT', 8000, 0, 65535),
    sqsPort: integer(env, 'SQS_PORT', 4566, 0, 65535),
    dataDir: env.LOCAL_DATA_DIR || '.local-data',
    logLevel: level as LogLevel,
    ...(concurrency !== undefined ? { pollerMaxConcurrency: concurrency } : {}),
  };
}

// The OpenStack client's variables, read as the openstack CLI (keystoneauth) reads them. They come
// from the environment locally and from the OpenStack secret in the cloud (functions/wiring.ts).

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
