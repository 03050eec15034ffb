/**
 * Every number the simulator uses, in one options object with documented defaults. Values that are
 * Nova's or Keystone's own come from the recordings in test/fixtures/nova-reference/ (cited).
 */
import { OffsetClock, systemClock, type Clock } from './clock.js';
import { stableHexId, stableUuid } from './ids.js';
import { isUuidLike } from './formats.js';

/** How long each rebuild task_state lasts (01e: rebuilding ≈ 230 ms, block devices ≈ 40 ms, spawning ≈ 90 ms). */
export interface RebuildTiming {
  rebuildingMs: number;
  blockDeviceMappingMs: number;
  spawningMs: number;
}

/**
 * A spread of rebuild durations for benchmarks: each rebuild's three phases are scaled by one factor,
 * uniform in [minFactor, maxFactor], or `tailFactor` for a seeded `tailFraction` of rebuilds (the
 * slow tail a real cloud has). Same seed, same order of rebuilds → same durations.
 */
export interface RebuildSpread {
  minFactor: number;
  maxFactor: number;
  /** 0..1: the share of rebuilds that take tailFactor instead. */
  tailFraction: number;
  tailFactor: number;
  /** Default 20261201. */
  seed?: number;
}

/**
 * How late each answer is sent, per service, in ms (± jitter, uniform): a realistic cloud for
 * benchmarks. State changes happen when the request arrives, as the `delay` fault's processFirst.
 */
export interface LatencyMs {
  compute?: number;
  identity?: number;
  image?: number;
  jitter?: number;
}

/** Nova's default quotas (06e), enforced on rebuild as 403 `forbidden` (03o, 06b–06g). */
export interface QuotaLimits {
  metadataItems: number;
  injectedFiles: number;
  injectedFileContentBytes: number;
  injectedFilePathBytes: number;
}

/** A Keystone user with the roles it holds on each project. */
export interface UserSpec {
  name: string;
  password: string;
  /** project id → role names; a project absent here is "a project without role" (k02e). */
  projectRoles: Record<string, string[]>;
}

/** A Keystone application credential, bound to one user and project (k02). */
export interface AppCredentialSpec {
  id: string;
  name: string;
  secret: string;
  userName: string;
  projectId: string;
  roles: string[];
}

/** A Glance image; only `active` ones can be rebuilt onto. */
export interface ImageSpec {
  id: string;
  name: string;
  status: 'active' | 'queued' | 'deactivated';
}

/** Where the simulator answers requests' X-Openstack-Request-Id. */
export type RequestIdMode = 'nova' | 'echo-client';

export interface SimulatorOptions {
  /** TCP port on 127.0.0.1. Default 8775; 0 picks a free port (tests). */
  port?: number;
  /** The project the seeded servers belong to. Default "6f70656e737461636b20342065766572" (the recordings'). */
  tenantId?: string;
  /** A second project with its own user, for "another project's server" cases (k06). Default "26750a5aa44743f2af0da2959069b0d3". */
  otherTenantId?: string;
  /** How many ACTIVE servers to seed in `tenantId`. Default 5. */
  serverCount?: number;
  /** Ids for the seeded servers; default: the ids from the recordings, then stable generated ones. */
  serverIds?: string[];
  /** A token Nova accepts for `tenantId` as the member user, without Keystone. Default "sim-token"; null disables it. */
  staticToken?: string | null;
  /** Time source; default the wall clock. The simulator adds an offset `advanceClock` moves. */
  clock?: Clock;
  /**
   * How far the simulated cloud's clock is from `clock`, in ms (negative: behind): every time it
   * shows (instance actions, `updated`, Date) is off by this much, as a cloud whose NTP broke. Default 0.
   */
  clockSkewMs?: number;
  /** Rebuild phase durations. Default 250 / 50 / 100 ms; `spread` (default none) varies them per rebuild. */
  rebuildTiming?: Partial<RebuildTiming> & { spread?: RebuildSpread };
  /** Answer latency per service (compute, identity, image) ± jitter, in ms. Default 0: answers at once. */
  latencyMs?: LatencyMs;
  /** How long a created server stays in BUILD. Default 500 ms. */
  buildMs?: number;
  /** Keystone token lifetime. Default 3 600 000 ms (keystone's default, k01). */
  tokenLifetimeMs?: number;
  /**
   * How long Nova keeps accepting a token it has already validated once after Keystone revoked it
   * (keystonemiddleware's token cache, k05c-200). Default 0: revocation is seen at once (k05c-401).
   */
  tokenCacheMs?: number;
  /** Quota limits checked on rebuild. Defaults 128 / 5 / 10240 / 255 (06e). */
  quotas?: Partial<QuotaLimits>;
  /** More concurrent rebuilds than this → 503 serverCapacityUnavailable. Default null (no limit). */
  maxConcurrentRebuilds?: number | null;
  /**
   * "nova" (default): every response carries a fresh req-<uuid>, as oslo.middleware does; a client's
   * valid X-Openstack-Request-Id is only kept as the global request id (never shown by Nova's API).
   * "echo-client": answer (and record in os-instance-actions) the client's id when it is a valid
   * req-<uuid> — what some clients assume, not what Nova does.
   */
  requestIdMode?: RequestIdMode;
  /** Keystone users. Default: sim-user (member), sim-admin (admin) in tenantId; sim-other (member) in otherTenantId. */
  users?: UserSpec[];
  /** Application credentials. Default: sim-appcred for sim-user in tenantId. */
  applicationCredentials?: AppCredentialSpec[];
  /** Glance images. Default three active images including the recordings' two. */
  images?: ImageSpec[];
  /** Key pair names a rebuild may name (2.54+). Default ["sim-key"]. */
  keypairs?: string[];
  /** Serve the /_sim admin API. Default true. */
  adminApi?: boolean;
  /** Serve HTTPS with this certificate and key (PEM), as a cloud behind a private CA. Default none: HTTP. */
  tls?: { cert: string; key: string };
}

export interface ResolvedOptions {
  port: number;
  tenantId: string;
  otherTenantId: string;
  serverCount: number;
  serverIds: string[];
  staticToken: string | null;
  clock: OffsetClock;
  rebuildTiming: RebuildTiming;
  rebuildSpread: RebuildSpread | null;
  latencyMs: Required<LatencyMs>;
  buildMs: number;
  tokenLifetimeMs: number;
  tokenCacheMs: number;
  quotas: QuotaLimits;
  maxConcurrentRebuilds: number | null;
  requestIdMode: RequestIdMode;
  users: UserSpec[];
  applicationCredentials: AppCredentialSpec[];
  images: ImageSpec[];
  keypairs: string[];
  adminApi: boolean;
  tls: { cert: string; key: string } | null;
}

export const DEFAULT_TENANT_ID = '6f70656e737461636b20342065766572';
export const DEFAULT_OTHER_TENANT_ID = '26750a5aa44743f2af0da2959069b0d3';
export const DEFAULT_PORT = 8775;
export const DEFAULT_STATIC_TOKEN = 'sim-token';

/** The server ids of the recordings, so a replayed URL names a server that exists. */
const RECORDED_SERVER_IDS = [
  'b9d262ee-902b-4020-8eab-7d99cf420fa3',
  '742e75f4-d65b-4a9d-a252-6777030f36cd',
  '10ecf45a-3b4f-4113-8b89-b546fd416e76',
  '37d84d07-21f5-496b-b730-79f87b4f0363',
  'aa92f6bc-5414-4410-beaf-af5a4e65adef',
];

/** The recordings' two images (01–07) and one more. */
export const DEFAULT_IMAGES: ImageSpec[] = [
  { id: 'a2459075-d96c-40d5-893e-577ff92e721c', name: 'cirros-0.6.2-x86_64-disk', status: 'active' },
  { id: '70a599e0-31e7-49b7-b260-868f441e862b', name: 'cirros-0.6.2-x86_64-disk-alt', status: 'active' },
  { id: 'c4f2b8f1-3a5e-4d1b-9a57-2f0e6d8b9c31', name: 'debian-12-genericcloud-amd64', status: 'active' },
];

export const DEFAULT_CREDENTIALS = {
  user: { name: 'sim-user', password: 'sim-password' },
  admin: { name: 'sim-admin', password: 'sim-admin-password' },
  other: { name: 'sim-other', password: 'sim-other-password' },
  applicationCredential: { id: stableHexId('sim-appcred'), name: 'sim-appcred', secret: 'sim-appcred-secret' },
} as const;

// Nova only routes a project id made of hex digits and dashes (ProjectMapper's default regex).
const PROJECT_ID = /^[0-9a-f-]+$/;

function fail(message: string): never {
  throw new Error(`compute simulator options: ${message}`);
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) fail(`${name} must be a number >= 0, got ${value}`);
  return value;
}

/** Fills in defaults and rejects contradictory or impossible options, naming them. */
export function resolveOptions(options: SimulatorOptions = {}): ResolvedOptions {
  const tenantId = options.tenantId ?? DEFAULT_TENANT_ID;
  const otherTenantId = options.otherTenantId ?? DEFAULT_OTHER_TENANT_ID;
  for (const [name, id] of [['tenantId', tenantId], ['otherTenantId', otherTenantId]] as const) {
    if (!PROJECT_ID.test(id)) fail(`${name} "${id}" must be hex digits and dashes, the only project ids Nova routes`);
  }
  if (tenantId === otherTenantId) fail(`tenantId and otherTenantId are both "${tenantId}"; they must differ`);

  const port = options.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`port must be an integer 0..65535, got ${port}`);

  if (options.serverIds && options.serverCount !== undefined && options.serverIds.length !== options.serverCount) {
    fail(`serverIds has ${options.serverIds.length} ids but serverCount is ${options.serverCount}`);
  }
  const serverCount = options.serverIds?.length ?? options.serverCount ?? 5;
  if (!Number.isInteger(serverCount) || serverCount < 0) fail(`serverCount must be an integer >= 0, got ${serverCount}`);
  const serverIds =
    options.serverIds ??
    Array.from({ length: serverCount }, (_, i) => RECORDED_SERVER_IDS[i] ?? stableUuid(`${tenantId}/server/${i}`));
  if (serverIds.some((id) => !isUuidLike(id))) fail('serverIds must all be UUIDs');
  if (new Set(serverIds).size !== serverIds.length) fail('serverIds must be unique');

  const staticToken = options.staticToken === undefined ? DEFAULT_STATIC_TOKEN : options.staticToken;
  if (staticToken === '') fail('staticToken is empty; pass null to disable it');

  const rebuildTiming: RebuildTiming = {
    rebuildingMs: nonNegative('rebuildTiming.rebuildingMs', options.rebuildTiming?.rebuildingMs ?? 250),
    blockDeviceMappingMs: nonNegative('rebuildTiming.blockDeviceMappingMs', options.rebuildTiming?.blockDeviceMappingMs ?? 50),
    spawningMs: nonNegative('rebuildTiming.spawningMs', options.rebuildTiming?.spawningMs ?? 100),
  };
  const spread = options.rebuildTiming?.spread;
  let rebuildSpread: RebuildSpread | null = null;
  if (spread !== undefined) {
    const min = nonNegative('rebuildTiming.spread.minFactor', spread.minFactor);
    const max = nonNegative('rebuildTiming.spread.maxFactor', spread.maxFactor);
    if (min > max) fail(`rebuildTiming.spread.minFactor (${min}) is above maxFactor (${max})`);
    const tailFraction = nonNegative('rebuildTiming.spread.tailFraction', spread.tailFraction);
    if (tailFraction > 1) fail(`rebuildTiming.spread.tailFraction must be within 0..1, got ${tailFraction}`);
    const tailFactor = nonNegative('rebuildTiming.spread.tailFactor', spread.tailFactor);
    if (spread.seed !== undefined && !Number.isInteger(spread.seed)) fail(`rebuildTiming.spread.seed must be an integer, got ${spread.seed}`);
    rebuildSpread = { minFactor: min, maxFactor: max, tailFraction, tailFactor, ...(spread.seed !== undefined ? { seed: spread.seed } : {}) };
  }
  const latencyMs: Required<LatencyMs> = {
    compute: nonNegative('latencyMs.compute', options.latencyMs?.compute ?? 0),
    identity: nonNegative('latencyMs.identity', options.latencyMs?.identity ?? 0),
    image: nonNegative('latencyMs.image', options.latencyMs?.image ?? 0),
    jitter: nonNegative('latencyMs.jitter', options.latencyMs?.jitter ?? 0),
  };
  const quotas: QuotaLimits = {
    metadataItems: nonNegative('quotas.metadataItems', options.quotas?.metadataItems ?? 128),
    injectedFiles: nonNegative('quotas.injectedFiles', options.quotas?.injectedFiles ?? 5),
    injectedFileContentBytes: nonNegative('quotas.injectedFileContentBytes', options.quotas?.injectedFileContentBytes ?? 10240),
    injectedFilePathBytes: nonNegative('quotas.injectedFilePathBytes', options.quotas?.injectedFilePathBytes ?? 255),
  };
  const maxConcurrentRebuilds = options.maxConcurrentRebuilds ?? null;
  if (maxConcurrentRebuilds !== null) nonNegative('maxConcurrentRebuilds', maxConcurrentRebuilds);

  const users = options.users ?? [
    { ...DEFAULT_CREDENTIALS.user, projectRoles: { [tenantId]: ['member', 'reader'] } },
    { ...DEFAULT_CREDENTIALS.admin, projectRoles: { [tenantId]: ['admin', 'member', 'reader'] } },
    { ...DEFAULT_CREDENTIALS.other, projectRoles: { [otherTenantId]: ['member', 'reader'] } },
  ];
  const applicationCredentials = options.applicationCredentials ?? [
    {
      ...DEFAULT_CREDENTIALS.applicationCredential,
      userName: DEFAULT_CREDENTIALS.user.name,
      projectId: tenantId,
      roles: ['member', 'reader'],
    },
  ];
  for (const cred of applicationCredentials) {
    if (!users.some((u) => u.name === cred.userName)) fail(`application credential ${cred.id} names unknown user ${cred.userName}`);
  }

  return {
    port,
    tenantId,
    otherTenantId,
    serverCount,
    serverIds,
    staticToken,
    clock: new OffsetClock(options.clock ?? systemClock, options.clockSkewMs ?? 0),
    rebuildTiming,
    rebuildSpread,
    latencyMs,
    buildMs: nonNegative('buildMs', options.buildMs ?? 500),
    tokenLifetimeMs: nonNegative('tokenLifetimeMs', options.tokenLifetimeMs ?? 3_600_000),
    tokenCacheMs: nonNegative('tokenCacheMs', options.tokenCacheMs ?? 0),
    quotas,
    maxConcurrentRebuilds,
    requestIdMode: options.requestIdMode ?? 'nova',
    users,
    applicationCredentials,
    images: options.images ?? DEFAULT_IMAGES,
    keypairs: options.keypairs ?? ['sim-key'],
    adminApi: options.adminApi ?? true,
    tls: options.tls ?? null,
  };
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) fail(`${name}="${raw}" is not a non-negative integer`);
  return Number(raw);
}

/** The options the CLI takes from COMPUTE_SIM_PORT, COMPUTE_SIM_SERVERS, COMPUTE_SIM_TENANT and COMPUTE_SIM_TOKEN. */
export function optionsFromEnv(env: NodeJS.ProcessEnv): SimulatorOptions {
  const options: SimulatorOptions = {};
  const port = intFromEnv(env, 'COMPUTE_SIM_PORT');
  if (port !== undefined) options.port = port;
  const servers = intFromEnv(env, 'COMPUTE_SIM_SERVERS');
  if (servers !== undefined) options.serverCount = servers;
  if (env.COMPUTE_SIM_TENANT !== undefined) options.tenantId = env.COMPUTE_SIM_TENANT;
  if (env.COMPUTE_SIM_TOKEN !== undefined) options.staticToken = env.COMPUTE_SIM_TOKEN;
  return options;
}
