/**
 * The port between the worker and an OpenStack Compute API. Adapters (the undici client in
 * `lib/openstack/nova.ts`) implement it; the worker and its tests only see these types.
 */

/** Which project, at which microversion, a call is made for. */
export interface ComputeTarget {
  tenantId: string;
  /** "2.N", sent as `X-OpenStack-Nova-API-Version` and `OpenStack-API-Version: compute 2.N`. */
  microversion: string;
}

/** What every answer from the Compute API carries, success or fault. */
export interface ComputeAnswer {
  status: number;
  /** `X-Compute-Request-Id` (or `X-Openstack-Request-Id`) of the response, when present. */
  computeRequestId?: string;
}

/** A 2xx answer with its parsed JSON body. */
export interface ComputeOk<T> extends ComputeAnswer {
  ok: true;
  body: T;
}

/**
 * A non-2xx answer. The fault is read by status code first and the body's single top-level key
 * second, whatever its name (`conflictingRequest`, `buildInProgress`, `serverCapacityUnavailable`,
 * Keystone's `error`, ...). A body that is not JSON (an HTML 503 from a proxy) gives no faultName
 * and a message taken from the status line.
 */
export interface ComputeFault extends ComputeAnswer {
  ok: false;
  faultName?: string;
  message: string;
  /** From `Retry-After` (seconds or HTTP date) or the body's `retryAfter`, in milliseconds. */
  retryAfterMs?: number;
  /** Keystone answered this fault before a token could be had: the Compute request was never sent. */
  unsent?: boolean;
}

export type ComputeResult<T> = ComputeOk<T> | ComputeFault;

/** The fields of Nova's server view the worker reads. */
export interface ServerView {
  id: string;
  status: string;
  /** The project the server belongs to. */
  tenant_id?: string;
  'OS-EXT-STS:task_state'?: string | null;
  'OS-EXT-STS:vm_state'?: string;
  image?: { id?: string } | string;
  updated?: string;
  locked?: boolean;
  /** From microversion 2.47 the flavor is embedded (11d): its disk (GB) and RAM (MB). Before, only its id and links. */
  flavor?: { id?: string; disk?: number; ram?: number };
  fault?: { code?: number; message?: string; details?: string };
}

/** What `GET /servers/detail` is asked for. */
export interface ServerListQuery {
  /**
   * `changes-since`, on the cloud's clock: every server of the project updated at or after it,
   * servers deleted since then included with status DELETED (recordings 11a, 11b, 11h).
   */
  changesSince?: string;
  /** Nova's list filters, passed as given (`name` regex, `image`, `status`, ...; 13*). */
  filters?: Record<string, string>;
  /** The most pages one list may cost; the answer says whether the list was complete. */
  maxPages: number;
}

/** A list of servers, every page followed (Nova caps a page at its max_limit, 1,000 by default: 12a, 12b). */
export interface ServerList {
  servers: ServerView[];
  /** Calls made. */
  pages: number;
  /** False when `maxPages` ran out before the last page. */
  complete: boolean;
}

/** Glance's `GET /v2/images/{id}` (14a): what a plan checks of a target image. */
export interface ImageView {
  id: string;
  status: string;
  min_disk?: number;
  min_ram?: number;
}

/** One entry of `GET /servers/{id}/os-instance-actions`. */
export interface InstanceAction {
  action: string;
  request_id: string;
  start_time: string;
  message?: string | null;
}

/**
 * The request never got an HTTP answer (connect refused, reset, timeout). `maybeSent` is true
 * when the request may have reached Nova (the connection was up when it failed), so the worker
 * must ask Nova what happened before sending again.
 */
export class ComputeTransportError extends Error {
  override readonly name = 'ComputeTransportError';
  constructor(
    message: string,
    readonly maybeSent: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Credentials were refused (Keystone said 401 even after a fresh authentication). */
export class ComputeAuthError extends Error {
  override readonly name = 'ComputeAuthError';
  constructor(
    message: string,
    readonly status: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The calls the worker makes. Every method re-authenticates once on a 401 before answering. */
export interface ComputeApi {
  /** POST /servers/{id}/action {"rebuild": body}, with `X-Openstack-Request-Id: requestId`. */
  rebuild(
    target: ComputeTarget,
    serverId: string,
    body: Record<string, unknown>,
    requestId: string,
  ): Promise<ComputeResult<{ server?: ServerView }>>;
  /** GET /servers/{id}. */
  getServer(target: ComputeTarget, serverId: string): Promise<ComputeResult<{ server: ServerView }>>;
  /** GET /servers/detail, following `servers_links` page by page; the first page's fault if one fails. */
  listServers(target: ComputeTarget, query: ServerListQuery): Promise<ComputeResult<ServerList>>;
  /**
   * Glance's GET /v2/images/{id}, on the image endpoint of the compute endpoint's catalog; a 404
   * when Glance has no such image (14b). Throws ComputeConfigError when the catalog has no image service.
   */
  getImage(target: ComputeTarget, imageId: string): Promise<ComputeResult<{ image: ImageView }>>;
  /** GET /servers/{id}/os-instance-actions, newest first. */
  listInstanceActions(
    target: ComputeTarget,
    serverId: string,
  ): Promise<ComputeResult<{ instanceActions: InstanceAction[] }>>;
}
