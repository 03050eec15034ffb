/**
 * A local stand-in for API Gateway's HTTP API: turns HTTP requests into payload-2.0 events with
 * an IAM principal, as the cloud's IAM authorizer would, and the handler's result back into HTTP.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiEvent, ApiResult } from '../functions/api-app.js';

/** The principal every local request is made as, unless `X-Local-Principal` names another. */
export const LOCAL_PRINCIPAL = 'arn:aws:iam::000000000000:user/local-operator';
/** API Gateway's own payload limit is 10 MB; the handler applies the service's smaller one. */
const GATEWAY_MAX_BYTES = 10 * 1024 * 1024;
const TEXT_TYPES = /^(application\/(json|xml|[\w.+-]+\+json|[\w.+-]+\+xml)|text\/[\w.+-]+)$/i;

async function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > GATEWAY_MAX_BYTES) return 'too-large';
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The event API Gateway would hand the function for this request. */
export function toEvent(req: IncomingMessage, body: Buffer): ApiEvent {
  const url = new URL(req.url ?? '/', 'http://local');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  const principal = headers['x-local-principal'] ?? LOCAL_PRINCIPAL;
  const type = headers['content-type']?.split(';')[0]?.trim() ?? '';
  const text = body.length === 0 || type === '' || TEXT_TYPES.test(type);
  const now = new Date();
  headers['x-forwarded-proto'] = 'http';
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: {
        iam: {
          accessKey: 'LOCAL',
          accountId: '000000000000',
          callerId: 'LOCAL',
          cognitoIdentity: null as never,
          principalOrgId: null as never,
          userArn: principal,
          userId: 'LOCAL',
        },
      },
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: 'local',
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length ? { body: text ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !text,
  };
}

/** Serves `handler` on 127.0.0.1:`port` (0 picks one). */
export async function startGateway(
  handler: (event: ApiEvent) => Promise<ApiResult>,
  port: number,
): Promise<{ url: string; port: number; server: Server; stop(): Promise<void> }> {
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    if (body === 'too-large') {
      res.writeHead(413, { 'Content-Type': 'application/json', Connection: 'close' });
      res.end(JSON.stringify({ overLimit: { code: 413, message: 'Request Entity Too Large' } }));
      req.destroy();
      return;
    }
    let result: ApiResult;
    try {
      result = await handler(toEvent(req, body));
    } catch {
      // What API Gateway answers when the function itself fails.
      result = { statusCode: 500, body: JSON.stringify({ message: 'Internal Server Error' }) };
    }
    res.writeHead(result.statusCode ?? 200, (result.headers ?? {}) as Record<string, string>);
    res.end(result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : (result.body ?? ''));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
