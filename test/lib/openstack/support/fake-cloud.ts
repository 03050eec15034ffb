/**
 * A node:http server on 127.0.0.1 that plays Keystone and Nova for the Compute client tests: it
 * replays answers recorded from a real cloud (`../fixtures/*.json`) and records every request.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Reply {
  status: number;
  statusText?: string;
  headers?: Array<[string, string]>;
  body?: string;
}

/** What a route does: answer, never answer, or drop the connection after reading the request. */
export type Behaviour = Reply | 'hang' | 'destroy-socket' | 'reset-socket';
export type Handler = (request: RecordedRequest, index: number) => Behaviour | Promise<Behaviour>;

export interface FakeCloud {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** TCP connections accepted since start (keep-alive reuse shows as fewer connections than requests). */
  readonly connectionCount: number;
  /** Routes registered later win; `index` counts the requests this route has seen. */
  on(method: string, path: string | RegExp, handler: Handler | Behaviour): void;
  /** Requests whose path matches. */
  requestsTo(method: string, path: string | RegExp): RecordedRequest[];
  reset(): void;
  close(): Promise<void>;
}

interface Route {
  method: string;
  path: string | RegExp;
  handler: Handler;
  seen: number;
}

const matches = (path: string | RegExp, actual: string): boolean =>
  typeof path === 'string' ? actual === path : path.test(actual);

/** Starts the fake cloud on an ephemeral loopback port. */
export async function startFakeCloud(): Promise<FakeCloud> {
  const routes: Route[] = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  let connectionCount = 0;

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(request);
      const route = [...routes].reverse().find((r) => r.method === request.method && matches(r.path, request.path));
      const behave = async (): Promise<Behaviour> =>
        route === undefined
          ? { status: 501, body: `no fake route for ${request.method} ${request.path}` }
          : route.handler(request, route.seen++);
      void behave().then((behaviour) => {
        if (behaviour === 'hang') {
          hanging.add(res);
          return;
        }
        if (behaviour === 'destroy-socket') {
          req.socket.destroy();
          return;
        }
        if (behaviour === 'reset-socket') {
          req.socket.resetAndDestroy();
          return;
        }
        res.statusCode = behaviour.status;
        if (behaviour.statusText !== undefined) res.statusMessage = behaviour.statusText;
        const grouped = new Map<string, string[]>();
        for (const [name, value] of behaviour.headers ?? []) {
          grouped.set(name, [...(grouped.get(name) ?? []), value]);
        }
        for (const [name, values] of grouped) res.setHeader(name, values.length === 1 ? values[0]! : values);
        res.end(behaviour.body ?? '');
      });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    connectionCount++;
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get connectionCount() {
      return connectionCount;
    },
    on(method, path, handler) {
      routes.push({ method, path, handler: typeof handler === 'function' ? handler : () => handler, seen: 0 });
    },
    requestsTo(method, path) {
      return requests.filter((r) => r.method === method && matches(path, r.path));
    },
    reset() {
      routes.length = 0;
      requests.length = 0;
      for (const res of hanging) res.destroy();
      hanging.clear();
    },
    async close() {
      for (const res of hanging) res.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

interface FixtureFile {
  source: string;
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  body: string;
}

/**
 * A recorded answer from `../fixtures/<name>.json`. With `cloudUrl`, the recorded Keystone (:5000)
 * and Nova (:8774) URLs in the body (the service catalog) are rewritten to the fake cloud.
 */
export function fixture(name: string, cloudUrl?: string): Reply {
  const file = JSON.parse(readFileSync(new URL(`../fixtures/${name}.json`, import.meta.url), 'utf8')) as FixtureFile;
  const body =
    cloudUrl === undefined ? file.body : file.body.replaceAll('http://127.0.0.1:8774', cloudUrl).replaceAll('http://127.0.0.1:5000', cloudUrl);
  return { status: file.status, statusText: file.statusText, headers: file.headers, body };
}

/** A Keystone token answer (k01/k02) whose catalog is rewritten by `edit` (after the URL rewrite). */
export function tokenReply(name: string, cloudUrl: string, edit?: (token: Record<string, unknown>) => void, subjectToken?: string): Reply {
  const reply = fixture(name, cloudUrl);
  const parsed = JSON.parse(reply.body ?? '{}') as { token: Record<string, unknown> };
  edit?.(parsed.token);
  const headers = (reply.headers ?? []).map(([header, value]): [string, string] =>
    header.toLowerCase() === 'x-subject-token' && subjectToken !== undefined ? [header, subjectToken] : [header, value],
  );
  return { ...reply, headers, body: JSON.stringify(parsed) };
}

/** Header value as a string (first one if repeated). */
export function header(request: RecordedRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
