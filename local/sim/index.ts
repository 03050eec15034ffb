/**
 * A Compute API (Nova 26.2.2 / Zed) + Keystone v3 + Glance images simulator on 127.0.0.1, faithful
 * to the recordings in test/fixtures/nova-reference/. Start it with `startComputeSimulator()`; the
 * returned object carries the URLs, the credentials and the control API tests drive.
 */
import type { AddressInfo } from 'node:net';
import { SimControl } from './control.js';
import type { SimCore } from './core.js';
import { FaultInjector } from './faults.js';
import { ImageCatalog } from './glance/images.js';
import { newRequestId } from './ids.js';
import { createSimServer } from './http/server.js';
import { Scripts } from './http/scripts.js';
import { Identity, userIdFor, type User } from './keystone/identity.js';
import { TokenStore } from './keystone/tokens.js';
import { RebuildTimer } from './nova/rebuild-timing.js';
import { ServerStore } from './nova/store.js';
import { DEFAULT_CREDENTIALS, resolveOptions, type SimulatorOptions } from './options.js';
import { RequestLog } from './request-log.js';

export { ManualClock, systemClock, type Clock } from './clock.js';
export type { CreateServerInput, IssueTokenInput, ServerSnapshot, ServerStatePatch } from './control.js';
export type { ArmedFault, FaultRule, FaultSpec } from './faults.js';
export type { RequestKind, RequestLogEntry } from './request-log.js';
export type { Script, Scripted, ScriptedReply, TappedRequest } from './http/scripts.js';
export { DEFAULT_IMAGES, DEFAULT_TENANT_ID, optionsFromEnv } from './options.js';
export type { LatencyMs, RebuildSpread, SimulatorOptions } from './options.js';

export interface SimulatorCredentials {
  /** Member of `tenantId`. */
  user: { name: string; password: string; domain: 'Default' };
  /** Admin (and member) of `tenantId`: may rebuild a locked server (02g). */
  admin: { name: string; password: string; domain: 'Default' };
  /** Member of `otherTenantId` only. */
  other: { name: string; password: string; domain: 'Default' };
  applicationCredential: { id: string; name: string; secret: string };
}

export interface ComputeSimulator extends SimControl {
  /** `http://127.0.0.1:<port>` (`https://` with the `tls` option) */
  url: string;
  /** Keystone v3 root: `<url>/identity/v3` (tokens at `/auth/tokens`). */
  keystoneUrl: string;
  /** Nova's versioned root without a project: `<url>/compute/v2.1`. */
  computeUrl: string;
  /** Nova root for the seeded project, as the catalog gives it: `<url>/compute/v2.1/<tenantId>`. */
  projectComputeUrl: string;
  /** Glance root: `<url>/image` (images at `/v2/images`). */
  imageUrl: string;
  port: number;
  tenantId: string;
  otherTenantId: string;
  /** The seeded servers, all ACTIVE at start. */
  serverIds: string[];
  /** Nova accepts it for `tenantId` as the member user; null when disabled. */
  staticToken: string | null;
  credentials: SimulatorCredentials;
  /** Stops listening, drops connections and pending delayed answers. */
  stop(): Promise<void>;
}

function credentialsOf(users: User[], core: SimCore): SimulatorCredentials {
  const find = (name: string, fallbackPassword: string) => ({
    name,
    password: users.find((u) => u.name === name)?.password ?? fallbackPassword,
    domain: 'Default' as const,
  });
  const cred = core.options.applicationCredentials[0];
  return {
    user: find(DEFAULT_CREDENTIALS.user.name, DEFAULT_CREDENTIALS.user.password),
    admin: find(DEFAULT_CREDENTIALS.admin.name, DEFAULT_CREDENTIALS.admin.password),
    other: find(DEFAULT_CREDENTIALS.other.name, DEFAULT_CREDENTIALS.other.password),
    applicationCredential: cred
      ? { id: cred.id, name: cred.name, secret: cred.secret }
      : { ...DEFAULT_CREDENTIALS.applicationCredential },
  };
}

/** Starts the simulator on 127.0.0.1 (options documented in options.ts; env is read only by main.ts). */
export async function startComputeSimulator(options: SimulatorOptions = {}): Promise<ComputeSimulator> {
  const resolved = resolveOptions(options);
  const identity = new Identity(resolved);
  const memberOfTenant = identity.users.find((u) => u.projectRoles.has(resolved.tenantId));
  const staticToken =
    resolved.staticToken === null
      ? null
      : {
          id: resolved.staticToken,
          context: {
            userId: memberOfTenant?.id ?? userIdFor(DEFAULT_CREDENTIALS.user.name),
            projectId: resolved.tenantId,
            roles: ['member', 'reader'],
            isAdmin: false,
          },
        };
  const core: SimCore = {
    options: resolved,
    clock: resolved.clock,
    identity,
    tokens: new TokenStore(resolved.tokenLifetimeMs, resolved.tokenCacheMs, staticToken),
    store: new ServerStore(),
    rebuildTimer: new RebuildTimer(resolved),
    images: new ImageCatalog(resolved.images, resolved.tenantId),
    faults: new FaultInjector(),
    log: new RequestLog(),
    scripts: new Scripts(),
    connections: { count: 0 },
    baseUrl: '',
  };
  const owner = memberOfTenant?.id ?? userIdFor(DEFAULT_CREDENTIALS.user.name);
  const firstImage = resolved.images[0]?.id ?? '';
  resolved.serverIds.forEach((id, i) =>
    core.store.add({
      id,
      tenantId: resolved.tenantId,
      userId: owner,
      name: `sim-server-${i + 1}`,
      imageId: firstImage,
      flavorId: '1',
      now: core.clock.now(),
      requestId: newRequestId(),
      buildMs: null,
    }),
  );

  const control = new SimControl(core);
  let describe: () => unknown = () => ({});
  const sim = createSimServer(core, control, () => describe());
  await new Promise<void>((resolve, reject) => {
    sim.server.once('error', reject);
    sim.server.listen(resolved.port, '127.0.0.1', () => resolve());
  });
  const port = (sim.server.address() as AddressInfo).port;
  core.baseUrl = `${resolved.tls ? 'https' : 'http'}://127.0.0.1:${port}`;

  const simulator: ComputeSimulator = Object.assign(control, {
    url: core.baseUrl,
    keystoneUrl: `${core.baseUrl}/identity/v3`,
    computeUrl: `${core.baseUrl}/compute/v2.1`,
    projectComputeUrl: `${core.baseUrl}/compute/v2.1/${resolved.tenantId}`,
    imageUrl: `${core.baseUrl}/image`,
    port,
    tenantId: resolved.tenantId,
    otherTenantId: resolved.otherTenantId,
    serverIds: [...resolved.serverIds],
    staticToken: resolved.staticToken,
    credentials: credentialsOf(identity.users, core),
    stop: () => sim.close(),
  });
  describe = () => ({
    url: simulator.url,
    keystoneUrl: simulator.keystoneUrl,
    computeUrl: simulator.computeUrl,
    projectComputeUrl: simulator.projectComputeUrl,
    imageUrl: simulator.imageUrl,
    tenantId: simulator.tenantId,
    otherTenantId: simulator.otherTenantId,
    serverIds: simulator.serverIds,
    staticToken: simulator.staticToken,
    credentials: simulator.credentials,
    images: resolved.images,
  });
  return simulator;
}
