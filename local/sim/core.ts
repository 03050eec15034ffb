/** Everything the route handlers share: options, clock, identities, tokens, servers, images, faults, log. */
import type { OffsetClock } from './clock.js';
import type { FaultInjector } from './faults.js';
import type { ImageCatalog } from './glance/images.js';
import type { Identity } from './keystone/identity.js';
import type { TokenStore } from './keystone/tokens.js';
import type { RebuildTimer } from './nova/rebuild-timing.js';
import type { ServerStore } from './nova/store.js';
import type { ResolvedOptions } from './options.js';
import type { RequestLog } from './request-log.js';
import type { Scripts } from './http/scripts.js';

export interface SimCore {
  options: ResolvedOptions;
  clock: OffsetClock;
  identity: Identity;
  tokens: TokenStore;
  store: ServerStore;
  /** Each accepted rebuild's phase durations (fixed, or spread for benchmarks). */
  rebuildTimer: RebuildTimer;
  images: ImageCatalog;
  faults: FaultInjector;
  log: RequestLog;
  /** A client's tests' scripted answers and taps (http/scripts.ts). */
  scripts: Scripts;
  /** TCP (or TLS) connections accepted since start: keep-alive shows as fewer connections than requests. */
  connections: { count: number };
  /** `http://127.0.0.1:<port>` (`https://` with `tls`), known once the server listens. */
  baseUrl: string;
}
