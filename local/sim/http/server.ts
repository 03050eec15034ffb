/**
 * The one HTTP listener: reads the request, picks the service by path prefix (/identity and /v3 →
 * Keystone, /compute → Nova, /image → Glance, /_sim → admin), applies an armed fault, logs the
 * request line, and writes the answer with its headers in order — `latencyMs` late for its service
 * when the options ask for realistic latencies (the state changed when the request arrived).
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Socket } from 'node:net';
import { handleAdmin } from '../admin/routes.js';
import type { SimControl } from '../control.js';
import type { SimCore } from '../core.js';
import { handleImage } from '../glance/routes.js';
import { isValidRequestId, newRequestId } from '../ids.js';
import { handleKeystone } from '../keystone/routes.js';
import { peekAction } from '../nova/body.js';
import { NovaFault } from '../nova/errors.js';
import { parseComputePath } from '../nova/paths.js';
import { routeNotFound } from '../nova/respond.js';
import { handleCompute } from '../nova/routes.js';
import type { RequestKind, RequestLogEntry } from '../request-log.js';
import { injectedResponse } from './injected.js';
import type { Scripted } from './scripts.js';
import { header, type RequestContext, type SimResponse } from './types.js';
import { webobPage } from './webob.js';

/** oslo.middleware sizelimit's default max_request_body_size. */
const MAX_BODY_BYTES = 114_688;

type Service = 'keystone' | 'compute' | 'image' | 'admin' | 'unknown';

interface Classified {
  service: Service;
  /** The path below the service prefix. */
  servicePath: string;
  kind: RequestKind;
  serverId: string | null;
}

function computeKind(ctx: RequestContext, servicePath: string): { kind: RequestKind; serverId: string | null } {
  const parsed = parseComputePath(ctx.method, servicePath);
  if (parsed.kind !== 'api' || !parsed.endpoint) return { kind: 'other', serverId: null };
  const e = parsed.endpoint;
  const serverId = 'serverId' in e ? e.serverId : null;
  switch (e.name) {
    case 'show':
      return { kind: 'get', serverId };
    case 'list':
    case 'detail':
      return { kind: 'list', serverId };
    case 'actions':
    case 'action-show':
      return { kind: 'actions', serverId };
    case 'create':
      return { kind: 'create', serverId };
    case 'delete':
      return { kind: 'delete', serverId };
    case 'action': {
      const peeked = peekAction(ctx.body);
      return { kind: !(peeked instanceof NovaFault) && peeked.action === 'rebuild' ? 'rebuild' : 'action', serverId };
    }
  }
}

function classify(ctx: RequestContext): Classified {
  const p = ctx.path;
  const under = (prefix: string): boolean => p === prefix || p.startsWith(`${prefix}/`);
  if (under('/_sim')) return { service: 'admin', servicePath: p, kind: 'other', serverId: null };
  if (under('/identity') || under('/v3')) {
    const servicePath = under('/identity') ? p.slice('/identity'.length) : p;
    const isAuth = ctx.method === 'POST' && servicePath.replace(/\/+$/, '') === '/v3/auth/tokens';
    return { service: 'keystone', servicePath, kind: isAuth ? 'auth' : 'other', serverId: null };
  }
  if (under('/compute')) {
    const servicePath = p.slice('/compute'.length);
    return { service: 'compute', servicePath, ...computeKind(ctx, servicePath) };
  }
  if (under('/image')) return { service: 'image', servicePath: p.slice('/image'.length), kind: 'images', serverId: null };
  return { service: 'unknown', servicePath: p, kind: 'other', serverId: null };
}

function readBody(req: IncomingMessage): Promise<{ body: Buffer; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve({ body: Buffer.concat(chunks), tooLarge: size > MAX_BODY_BYTES }));
    req.on('error', reject);
  });
}

/** The status line and headers, in order; the body is the caller's to write. */
function writeHead(res: ServerResponse, status: number, statusText: string | undefined, headers: Array<[string, string]>): void {
  res.writeHead(status, statusText ?? STATUS_CODES[status] ?? '', headers.flat());
}

function write(res: ServerResponse, response: SimResponse): void {
  writeHead(res, response.status, response.statusText, response.headers);
  res.end(response.body);
}

/** A TCP reset where the platform allows it (the client sees ECONNRESET), else a plain destroy. */
function resetConnection(socket: Socket): void {
  // A TLS socket has no TCP handle of its own to reset (ERR_INVALID_HANDLE_TYPE): it is closed instead.
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

function hasRequestId(response: SimResponse): boolean {
  return response.headers.some(([name]) => name.toLowerCase() === 'x-openstack-request-id');
}

/** Does what a client's test scripted (http/scripts.ts); a hung or stalled answer ends when the client or `stop` closes it. */
function playScript(scripted: Exclude<Scripted, 'simulate'>, req: IncomingMessage, res: ServerResponse, entry: RequestLogEntry): void {
  if (scripted === 'hang') return;
  if (scripted === 'destroy' || scripted === 'reset') {
    entry.status = 'reset';
    if (scripted === 'reset') resetConnection(req.socket);
    else req.socket.destroy();
    return;
  }
  entry.status = scripted.status;
  const body = Buffer.from(scripted.body ?? '', 'utf8');
  const headers = scripted.headers ?? [];
  const sized = headers.some(([name]) => name.toLowerCase() === 'content-length');
  writeHead(res, scripted.status, scripted.statusText, sized ? headers : [...headers, ['Content-Length', String(body.length)]]);
  if (scripted.stallAfterBytes === undefined) res.end(body);
  else res.write(body.subarray(0, scripted.stallAfterBytes));
}

export interface SimServer {
  server: Server;
  /** Cancels pending delayed answers and closes every connection. */
  close(): Promise<void>;
}

/** Creates (does not start) the simulator's HTTP server. */
export function createSimServer(core: SimCore, control: SimControl, info: () => unknown): SimServer {
  const delays = new Set<AbortController>();

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const abort = new AbortController();
      delays.add(abort);
      const timer = setTimeout(() => {
        delays.delete(abort);
        resolve();
      }, ms);
      abort.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new Error('simulator stopped'));
      });
    });

  /** How late this answer goes out: the service's latency ± jitter (uniform), never below 0. */
  const latency = (service: Service): number => {
    const l = core.options.latencyMs;
    const base = service === 'compute' ? l.compute : service === 'keystone' ? l.identity : service === 'image' ? l.image : 0;
    if (base <= 0) return 0;
    return Math.max(0, base + (Math.random() * 2 - 1) * l.jitter);
  };

  const handleService = (ctx: RequestContext, c: Classified): SimResponse => {
    switch (c.service) {
      case 'keystone':
        return handleKeystone(ctx, core, c.servicePath);
      case 'compute':
        return handleCompute(ctx, core, c.servicePath);
      case 'image':
        return handleImage(ctx, core, c.servicePath);
      default:
        return routeNotFound(ctx, false);
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const { body, tooLarge } = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    const clientId = header({ headers: req.headers }, 'X-Openstack-Request-Id');
    const globalRequestId = clientId !== undefined && isValidRequestId(clientId) ? clientId : null;
    const requestId =
      core.options.requestIdMode === 'echo-client' && globalRequestId !== null ? globalRequestId : newRequestId();
    let ctx: RequestContext = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body,
      requestId,
      globalRequestId,
      now: core.clock.now(),
      hostUrl: `${core.options.tls ? 'https' : 'http'}://${req.headers.host ?? `127.0.0.1`}`,
    };
    const c = classify(ctx);
    if (c.service === 'admin') {
      write(res, handleAdmin(ctx, control, info));
      return;
    }
    const scripted = await core.scripts.answer({ method: ctx.method, path: `${url.pathname}${url.search}`, headers: req.headers, body: body.toString('utf8') });
    const entry: RequestLogEntry = core.log.start({
      at: ctx.now,
      method: ctx.method,
      path: `${url.pathname}${url.search}`,
      service: c.service,
      kind: c.kind,
      serverId: c.serverId,
      requestId: null,
      globalRequestId,
    });
    const finish = async (response: SimResponse): Promise<void> => {
      entry.status = response.status;
      entry.requestId = hasRequestId(response) ? ctx.requestId : null;
      const late = latency(c.service);
      if (late > 0) await sleep(late);
      write(res, response);
    };
    if (scripted !== undefined && scripted !== 'simulate') {
      entry.fault = 'scripted';
      playScript(scripted, req, res, entry);
      return;
    }
    if (tooLarge) {
      const page = webobPage('413 Request Entity Too Large', 'Request Entity Too Large', 'Request is too large.', header(ctx, 'Accept'));
      await finish({
        status: 413,
        headers: [
          ['Content-Type', page.contentType],
          ['Content-Length', String(Buffer.byteLength(page.body))],
          ['X-Openstack-Request-Id', ctx.requestId],
        ],
        body: page.body,
      });
      return;
    }

    const fault = core.faults.take(c.kind, c.serverId);
    entry.fault = fault?.type ?? null;
    const keystoneUri = `${core.baseUrl}/identity`;
    if (fault?.type === 'reset') {
      entry.status = 'reset';
      resetConnection(req.socket);
      return;
    }
    if (fault?.type === 'resetAfterProcessing') {
      handleService(ctx, c);
      entry.status = 'reset';
      entry.requestId = ctx.requestId;
      resetConnection(req.socket);
      return;
    }
    if (fault?.type === 'actThenFail') {
      // Nova acts; the answer that says so is lost behind a 5xx.
      handleService(ctx, c);
      await finish(injectedResponse(fault, ctx, c.service, keystoneUri) as SimResponse);
      return;
    }
    if (fault?.type === 'actLate') {
      // The balancer gives up at once; Nova still holds the request and acts on it later.
      void finish(injectedResponse(fault, ctx, c.service, keystoneUri) as SimResponse).catch(() => undefined);
      sleep(fault.ms)
        .then(() => handleService({ ...ctx, now: core.clock.now() }, c))
        .catch(() => undefined);
      return;
    }
    if (fault?.type === 'delay') {
      if (fault.processFirst === false) {
        await sleep(fault.ms);
        ctx = { ...ctx, now: core.clock.now() };
        await finish(handleService(ctx, c));
      } else {
        const response = handleService(ctx, c);
        await sleep(fault.ms);
        await finish(response);
      }
      return;
    }
    if (fault) {
      const response = injectedResponse(fault, ctx, c.service, keystoneUri);
      if (response) {
        await finish(response);
        return;
      }
    }
    await finish(handleService(ctx, c));
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent || res.destroyed) return;
      // A bug in the simulator: answer like Nova's unexpected-error fault, without internals.
      const text = JSON.stringify({ computeFault: { code: 500, message: 'Unexpected API Error (simulator).' } });
      res.writeHead(500, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      if (!(error instanceof Error && error.message === 'simulator stopped')) console.error('compute simulator:', error);
    });
  };
  const tls = core.options.tls;
  const server: Server = tls ? createTlsServer({ cert: tls.cert, key: tls.key }, listener) : createServer(listener);
  server.on('connection', () => core.connections.count++);

  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const d of delays) d.abort();
        delays.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
