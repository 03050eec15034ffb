/**
 * The deployment's parameters: read from CDK context (`cdk.json` or `-c key=value`), checked at
 * synth time, and turned into the functions' environment. Every default is in `DEFAULTS` below;
 * docs/deploy.md lists the same table for operators.
 *
 * Values the functions read (job limits, the microversion cap, the OpenStack settings) are checked
 * by the functions' own parsers (`lib/settings.ts`, `lib/openstack/config.ts`), so a value the
 * functions would refuse at cold start is refused here first, with the same message.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ComputeConfig } from '../lib/openstack/config.js';
import { Grants } from '../lib/jobs/grants.js';
import { apiConfigFromEnv, computeConfigFromEnv } from '../lib/settings.js';
import { MAX_MICROVERSION, formatMicroversion } from '../lib/request/microversion.js';

/** A parameter is missing, malformed or contradicts another; the message names them. */
export class StackConfigError extends Error {
  override readonly name = 'StackConfigError';
}

export type EndpointInterface = 'public' | 'internal' | 'admin';

/** Where the worker finds Nova: through Keystone's catalog, or at a fixed URL with a token. */
export type OpenStackTarget =
  | {
      kind: 'keystone';
      /** Keystone v3 URL (`OS_AUTH_URL`). */
      authUrl: string;
      /** `OS_REGION_NAME`; unset: the catalog must offer compute in exactly one region. */
      regionName?: string;
      /** `OS_INTERFACE`. */
      interface: EndpointInterface;
      /** `OS_USER_DOMAIN_NAME` (password authentication; the secret may override it). */
      userDomainName: string;
    }
  | {
      kind: 'fixed';
      /** `COMPUTE_URL`, may contain `{tenant_id}`; the token comes from the secret. */
      computeUrl: string;
    };

/** Everything the stack is built from, typed and checked. */
export interface StackSettings {
  openstack: OpenStackTarget;
  /** Complete ARN of an existing secret with the OpenStack credentials; unset: the stack creates one. */
  secretArn?: string;
  /** `NOVA_MAX_MICROVERSION`: the newest microversion the cloud supports. */
  novaMaxMicroversion: string;
  jobLimits: {
    /** `MAX_SERVERS_PER_JOB`. */
    maxServersPerJob: number;
    /** `DEFAULT_MAX_ATTEMPTS`. */
    defaultMaxAttempts: number;
    /** `DEFAULT_DEADLINE_SECONDS`. */
    defaultDeadlineSeconds: number;
    /** `DEFAULT_MAX_FAILURE_PERCENTAGE`. */
    defaultMaxFailurePercentage: number;
    /** `DEFAULT_MAX_IN_FLIGHT`: a job's servers rebuilding at once, unless the job says. */
    defaultMaxInFlight: number;
  };
  /** Most worker instances the SQS event source runs at once: the knob that protects the cloud. */
  maxConcurrency: number;
  /** Where alarms go: a new topic with this e-mail subscribed, or an existing topic; neither: alarms only. */
  alarms: { email?: string; topicArn?: string };
  /** API Gateway stage throttling (requests per second, burst). */
  apiThrottle: { rateLimit: number; burstLimit: number };
  /** How long function and access logs are kept. */
  logRetention: RetentionDays;
  /**
   * `PROJECT_GRANTS`: which IAM principal may act on which OpenStack project, as JSON (principal
   * ARN → list of project ids, or "*"). Empty: nobody may yet — closed by default.
   */
  grants: string;
  /** Where job status events go and how long ended jobs' reports are kept. */
  notifications: { eventBusName: string; reportRetentionDays: number };
  /**
   * The subnets and security groups the functions that call the cloud (worker, sweeper) run in:
   * for a Keystone and Nova on a private network, or to leave through the account's NAT gateway
   * from a fixed address the cloud can allow-list. Unset: Lambda's own network.
   */
  vpc?: { subnetIds: string[]; securityGroupIds: string[] };
}

/** The API function's own limits when nothing is set (lib/settings.ts is their one source). */
const FUNCTION_LIMITS = apiConfigFromEnv({ TABLE_NAME: '-', QUEUE_URL: '-' }).limits;

/** Defaults of every parameter. */
export const DEFAULTS = {
  /** Keystone's public endpoints, as `openstack` CLI users have them. */
  osInterface: 'public' as EndpointInterface,
  /** Keystone's default domain. */
  osUserDomainName: 'Default',
  /** The newest microversion whose rebuild schema the service knows (lib/request/microversion.ts). */
  novaMaxMicroversion: formatMicroversion(MAX_MICROVERSION),
  /** The job limits default as the API function does (2,000 servers, 30 attempts, 7,200 s, 100 %). */
  maxServersPerJob: FUNCTION_LIMITS.maxServersPerJob,
  defaultMaxAttempts: FUNCTION_LIMITS.defaults.maxAttempts,
  defaultDeadlineSeconds: FUNCTION_LIMITS.defaults.deadlineSeconds,
  defaultMaxFailurePercentage: FUNCTION_LIMITS.defaults.maxFailurePercentage,
  defaultMaxInFlight: FUNCTION_LIMITS.defaults.maxInFlight,
  /**
   * Ten workers, each with a batch of up to ten messages, put at most 100 rebuild calls in flight
   * against the cloud: a load a single Nova API handles. Raise it for a large cloud, lower it for
   * a small one; SQS event sources accept 2 to 1000.
   */
  maxConcurrency: 10,
  /** The API is called by operators and scripts, not by the public: 50/s with bursts of 100 is ample. */
  apiRateLimit: 50,
  apiBurstLimit: 100,
  /** A month of logs covers a job's retries (deadline ≤ 24 h) and the investigation after. */
  logRetentionDays: 30,
  /** The account's default bus: rules there see the events with no bus to create or share. */
  eventBusName: 'default',
  /** A quarter of reports: long enough to compare a night's run with the last few, short enough not to pile up. */
  reportRetentionDays: 90,
} as const;

/** Context keys this app reads; a camelCase key not in this list is taken for a typo and refused. */
export const CONTEXT_KEYS = [
  'keystoneUrl',
  'computeUrl',
  'osRegionName',
  'osInterface',
  'osUserDomainName',
  'secretArn',
  'novaMaxMicroversion',
  'maxServersPerJob',
  'defaultMaxAttempts',
  'defaultDeadlineSeconds',
  'defaultMaxFailurePercentage',
  'defaultMaxInFlight',
  'maxConcurrency',
  'alarmEmail',
  'alarmTopicArn',
  'apiRateLimit',
  'apiBurstLimit',
  'logRetentionDays',
  'grants',
  'eventBusName',
  'reportRetentionDays',
  'vpcSubnetIds',
  'vpcSecurityGroupIds',
] as const;
export type ContextKey = (typeof CONTEXT_KEYS)[number];

/** Plain keys the CDK itself may put in context; everything else of ours is camelCase without `:`/`@`/`/`. */
const CDK_OWN_KEYS = new Set(['acknowledged-issue-numbers']);

type Context = Record<string, unknown>;

function text(ctx: Context, key: ContextKey): string | undefined {
  const v = ctx[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' && typeof v !== 'number') throw new StackConfigError(`${key} must be a string; it is ${JSON.stringify(v)}`);
  const s = String(v).trim();
  return s === '' ? undefined : s;
}

/** An integer parameter; without bounds, the function's own parser checks them (see below). */
function integer(ctx: Context, key: ContextKey, fallback: number, bounds?: { min: number; max: number }): number {
  const raw = text(ctx, key);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new StackConfigError(`${key} must be an integer; it is "${raw}"`);
  if (bounds && (n < bounds.min || n > bounds.max)) {
    throw new StackConfigError(`${key} must be an integer from ${bounds.min} to ${bounds.max}; it is "${raw}"`);
  }
  return n;
}

const RETENTION_DAYS = new Set<number>(
  Object.values(RetentionDays).filter((v): v is number => typeof v === 'number' && v !== RetentionDays.INFINITE),
);

/** Complete secret ARN: the console's, ending in the six characters Secrets Manager appends. */
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+-[A-Za-z0-9]{6}$/;
const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
const SECURITY_GROUP_ID = /^sg-[0-9a-f]{8,17}$/;
/** EventBridge's rule for a bus name (a custom bus, or `default`). */
const EVENT_BUS_NAME = /^[/.\-_A-Za-z0-9]{1,256}$/;

/** Reads and checks the parameters; throws `StackConfigError` naming what is wrong. */
export function settingsFromContext(ctx: Context): StackSettings {
  const unknown = Object.keys(ctx).filter(
    (k) => /^[a-z][A-Za-z0-9]*$/.test(k) && !(CONTEXT_KEYS as readonly string[]).includes(k) && !CDK_OWN_KEYS.has(k),
  );
  if (unknown.length > 0) {
    throw new StackConfigError(`Unknown context ${unknown.length > 1 ? 'keys' : 'key'} ${unknown.join(', ')}; this app reads ${CONTEXT_KEYS.join(', ')}`);
  }

  const keystoneUrl = text(ctx, 'keystoneUrl');
  const computeUrl = text(ctx, 'computeUrl');
  if (keystoneUrl !== undefined && computeUrl !== undefined) {
    throw new StackConfigError('keystoneUrl and computeUrl are both set: give keystoneUrl (Keystone v3, the usual case) or computeUrl (a fixed Compute endpoint with a token), not both. To replace the keystoneUrl in cdk.json, pass -c keystoneUrl= (empty) with -c computeUrl=...');
  }
  if (keystoneUrl === undefined && computeUrl === undefined) {
    throw new StackConfigError('Neither keystoneUrl nor computeUrl is set: pass -c keystoneUrl=https://keystone.example.com:5000/v3 (or -c computeUrl=...)');
  }
  const keystoneOnly: ContextKey[] = ['osRegionName', 'osInterface', 'osUserDomainName'];
  let openstack: OpenStackTarget;
  if (computeUrl !== undefined) {
    const extra = keystoneOnly.filter((k) => text(ctx, k) !== undefined);
    if (extra.length > 0) throw new StackConfigError(`computeUrl is set with ${extra.join(', ')}, which only Keystone uses: drop them or use keystoneUrl`);
    checkOpenStack({ COMPUTE_URL: computeUrl, COMPUTE_TOKEN: 'probe' });
    openstack = { kind: 'fixed', computeUrl };
  } else {
    const regionName = text(ctx, 'osRegionName');
    const interfaceName = text(ctx, 'osInterface');
    const parsed = checkOpenStack({
      OS_AUTH_URL: keystoneUrl,
      OS_REGION_NAME: regionName,
      OS_INTERFACE: interfaceName,
      OS_USERNAME: 'probe',
      OS_PASSWORD: 'probe',
    });
    if (parsed.kind === 'fixed') throw new Error('unreachable: Keystone settings parsed as a fixed endpoint');
    openstack = {
      kind: 'keystone',
      // As the worker will read them: the v3 root, the interface's canonical spelling.
      authUrl: parsed.authUrl,
      interface: parsed.interface,
      userDomainName: text(ctx, 'osUserDomainName') ?? DEFAULTS.osUserDomainName,
      ...(regionName !== undefined ? { regionName } : {}),
    };
  }

  const secretArn = text(ctx, 'secretArn');
  if (secretArn !== undefined && !SECRET_ARN.test(secretArn)) {
    throw new StackConfigError(`secretArn must be a secret's complete ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX, as the console shows it); it is "${secretArn}"`);
  }

  const alarmEmail = text(ctx, 'alarmEmail');
  const alarmTopicArn = text(ctx, 'alarmTopicArn');
  if (alarmEmail !== undefined && alarmTopicArn !== undefined) {
    throw new StackConfigError('alarmEmail and alarmTopicArn are both set: give alarmEmail (a new topic is created and the address subscribed) or alarmTopicArn (an existing topic), not both');
  }
  if (alarmEmail !== undefined && !EMAIL.test(alarmEmail)) throw new StackConfigError(`alarmEmail is not an e-mail address: "${alarmEmail}"`);
  if (alarmTopicArn !== undefined && !TOPIC_ARN.test(alarmTopicArn)) throw new StackConfigError(`alarmTopicArn is not an SNS topic ARN: "${alarmTopicArn}"`);

  const settings: StackSettings = {
    openstack,
    ...(secretArn !== undefined ? { secretArn } : {}),
    novaMaxMicroversion: text(ctx, 'novaMaxMicroversion') ?? DEFAULTS.novaMaxMicroversion,
    jobLimits: {
      // Bounds are the API function's (lib/settings.ts), checked below by its own parser.
      maxServersPerJob: integer(ctx, 'maxServersPerJob', DEFAULTS.maxServersPerJob),
      defaultMaxAttempts: integer(ctx, 'defaultMaxAttempts', DEFAULTS.defaultMaxAttempts),
      defaultDeadlineSeconds: integer(ctx, 'defaultDeadlineSeconds', DEFAULTS.defaultDeadlineSeconds),
      defaultMaxFailurePercentage: integer(ctx, 'defaultMaxFailurePercentage', DEFAULTS.defaultMaxFailurePercentage),
      defaultMaxInFlight: integer(ctx, 'defaultMaxInFlight', DEFAULTS.defaultMaxInFlight),
    },
    // Lambda's bounds for an SQS event source's maximum concurrency.
    maxConcurrency: integer(ctx, 'maxConcurrency', DEFAULTS.maxConcurrency, { min: 2, max: 1000 }),
    alarms: { ...(alarmEmail !== undefined ? { email: alarmEmail } : {}), ...(alarmTopicArn !== undefined ? { topicArn: alarmTopicArn } : {}) },
    // API Gateway's account-level defaults (10,000/s, burst 5,000) are the ceilings.
    apiThrottle: {
      rateLimit: integer(ctx, 'apiRateLimit', DEFAULTS.apiRateLimit, { min: 1, max: 10000 }),
      burstLimit: integer(ctx, 'apiBurstLimit', DEFAULTS.apiBurstLimit, { min: 1, max: 5000 }),
    },
    logRetention: retention(integer(ctx, 'logRetentionDays', DEFAULTS.logRetentionDays)),
    grants: grantsOf(ctx),
    notifications: {
      eventBusName: eventBusNameOf(ctx),
      // S3 lifecycle rules count whole days; ten years is as long as anyone keeps a night's report.
      reportRetentionDays: integer(ctx, 'reportRetentionDays', DEFAULTS.reportRetentionDays, { min: 1, max: 3650 }),
    },
    ...vpcOf(ctx),
  };
  try {
    apiConfigFromEnv({ ...apiEnvironment(settings), TABLE_NAME: '-', QUEUE_URL: '-' });
  } catch (err) {
    throw new StackConfigError(contextNameOf((err as Error).message));
  }
  return settings;
}

/** A list parameter: `a,b` on the command line, or a JSON array in cdk.json. */
function list(ctx: Context, key: ContextKey): string[] {
  const raw = ctx[key];
  if (raw === undefined || raw === null || raw === '') return [];
  const items = Array.isArray(raw) ? raw : String(raw).split(',');
  return items.map((v) => String(v).trim()).filter((v) => v !== '');
}

function vpcOf(ctx: Context): Pick<StackSettings, 'vpc'> {
  const subnetIds = list(ctx, 'vpcSubnetIds');
  const securityGroupIds = list(ctx, 'vpcSecurityGroupIds');
  if (subnetIds.length === 0 && securityGroupIds.length === 0) return {};
  if (subnetIds.length === 0 || securityGroupIds.length === 0) {
    throw new StackConfigError(`${subnetIds.length === 0 ? 'vpcSecurityGroupIds' : 'vpcSubnetIds'} is set without ${subnetIds.length === 0 ? 'vpcSubnetIds' : 'vpcSecurityGroupIds'}: the worker needs both to run in a VPC (private subnets with a route to Keystone, Nova and the AWS APIs; a security group allowing that egress)`);
  }
  const badSubnet = subnetIds.find((id) => !SUBNET_ID.test(id));
  if (badSubnet !== undefined) throw new StackConfigError(`vpcSubnetIds must be subnet ids (subnet-0123abcd...); "${badSubnet}" is not one`);
  const badGroup = securityGroupIds.find((id) => !SECURITY_GROUP_ID.test(id));
  if (badGroup !== undefined) throw new StackConfigError(`vpcSecurityGroupIds must be security group ids (sg-0123abcd...); "${badGroup}" is not one`);
  // Lambda's own limits on a function's VPC configuration.
  if (subnetIds.length > 16) throw new StackConfigError(`vpcSubnetIds names ${subnetIds.length} subnets; Lambda takes at most 16`);
  if (securityGroupIds.length > 5) throw new StackConfigError(`vpcSecurityGroupIds names ${securityGroupIds.length} security groups; Lambda takes at most 5`);
  return { vpc: { subnetIds: [...new Set(subnetIds)], securityGroupIds: [...new Set(securityGroupIds)] } };
}

function eventBusNameOf(ctx: Context): string {
  const name = text(ctx, 'eventBusName') ?? DEFAULTS.eventBusName;
  if (!EVENT_BUS_NAME.test(name)) throw new StackConfigError(`eventBusName must be an EventBridge bus name (letters, digits, . - _ /, up to 256); it is "${name}"`);
  return name;
}

/** The worker's own parser, given stand-in credentials (the real ones are in the secret). */
function checkOpenStack(env: Record<string, string | undefined>): ComputeConfig {
  try {
    return computeConfigFromEnv(env);
  } catch (err) {
    throw new StackConfigError(contextNameOf((err as Error).message));
  }
}

function retention(days: number): RetentionDays {
  if (!RETENTION_DAYS.has(days)) {
    throw new StackConfigError(`logRetentionDays must be one of CloudWatch Logs' periods (${[...RETENTION_DAYS].sort((a, b) => a - b).join(', ')}); it is ${days}`);
  }
  return days as RetentionDays;
}

/** The functions' variable names and the context keys that set them, for error messages. */
const VARIABLE_TO_KEY: Record<string, ContextKey> = {
  COMPUTE_URL: 'computeUrl',
  OS_AUTH_URL: 'keystoneUrl',
  OS_REGION_NAME: 'osRegionName',
  OS_INTERFACE: 'osInterface',
  OS_USER_DOMAIN_NAME: 'osUserDomainName',
  NOVA_MAX_MICROVERSION: 'novaMaxMicroversion',
  MAX_SERVERS_PER_JOB: 'maxServersPerJob',
  DEFAULT_MAX_ATTEMPTS: 'defaultMaxAttempts',
  DEFAULT_DEADLINE_SECONDS: 'defaultDeadlineSeconds',
  DEFAULT_MAX_FAILURE_PERCENTAGE: 'defaultMaxFailurePercentage',
  DEFAULT_MAX_IN_FLIGHT: 'defaultMaxInFlight',
};

/** Rewrites a function-side message ("OS_INTERFACE must be ...") in context terms ("osInterface (OS_INTERFACE) must be ..."). */
function contextNameOf(message: string): string {
  return message.replace(/\b(COMPUTE_URL|OS_AUTH_URL|OS_REGION_NAME|OS_INTERFACE|OS_USER_DOMAIN_NAME|NOVA_MAX_MICROVERSION|MAX_SERVERS_PER_JOB|DEFAULT_MAX_ATTEMPTS|DEFAULT_DEADLINE_SECONDS|DEFAULT_MAX_FAILURE_PERCENTAGE|DEFAULT_MAX_IN_FLIGHT)\b/g,
    (v) => `${VARIABLE_TO_KEY[v]} (${v})`);
}

/** The worker's OpenStack variables (credentials excluded: they are in the secret). */
export function openStackEnvironment(target: OpenStackTarget): Record<string, string> {
  if (target.kind === 'fixed') return { COMPUTE_URL: target.computeUrl };
  return {
    OS_AUTH_URL: target.authUrl,
    OS_INTERFACE: target.interface,
    OS_USER_DOMAIN_NAME: target.userDomainName,
    ...(target.regionName !== undefined ? { OS_REGION_NAME: target.regionName } : {}),
  };
}

/**
 * The grants, from `-c grants='{"arn:aws:iam::123456789012:role/Ops": ["<project id>"]}'` (a JSON
 * string, or an object in cdk.json), checked by the API function's own parser and written back
 * as canonical JSON.
 */
function grantsOf(ctx: Context): string {
  const raw = ctx.grants;
  if (raw === undefined || raw === null || raw === '') return '{}';
  const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
  try {
    Grants.parse(text, 'grants');
  } catch (err) {
    throw new StackConfigError((err as Error).message);
  }
  return JSON.stringify(JSON.parse(text));
}

/** The API function's environment: job limits and grants, always set so its configuration shows what is in force. */
export function apiEnvironment(settings: Pick<StackSettings, 'jobLimits' | 'novaMaxMicroversion' | 'grants'>): Record<string, string> {
  return { ...jobLimitEnvironment(settings), PROJECT_GRANTS: settings.grants };
}

/** The API function's job limits. */
export function jobLimitEnvironment(settings: Pick<StackSettings, 'jobLimits' | 'novaMaxMicroversion'>): Record<string, string> {
  const l = settings.jobLimits;
  return {
    NOVA_MAX_MICROVERSION: settings.novaMaxMicroversion,
    MAX_SERVERS_PER_JOB: String(l.maxServersPerJob),
    DEFAULT_MAX_ATTEMPTS: String(l.defaultMaxAttempts),
    DEFAULT_DEADLINE_SECONDS: String(l.defaultDeadlineSeconds),
    DEFAULT_MAX_FAILURE_PERCENTAGE: String(l.defaultMaxFailurePercentage),
    DEFAULT_MAX_IN_FLIGHT: String(l.defaultMaxInFlight),
  };
}
