/** Glance v2 under /image: GET /v2/images and /v2/images/{id}, behind the same token check as Nova. */
import type { SimCore } from '../core.js';
import { authRejected } from '../http/auth-reject.js';
import { header, type RequestContext, type SimResponse } from '../http/types.js';
import { webobPage } from '../http/webob.js';
import { pyDumps, type JsonObject } from '../python.js';

function json(ctx: RequestContext, body: JsonObject): SimResponse {
  const text = pyDumps(body);
  return {
    status: 200,
    headers: [
      ['Content-Length', String(Buffer.byteLength(text))],
      ['Content-Type', 'application/json'],
      ['X-Openstack-Request-Id', ctx.requestId],
    ],
    body: text,
  };
}

function notFound(ctx: RequestContext, explanation: string): SimResponse {
  const page = webobPage('404 Not Found', 'Not Found', explanation, header(ctx, 'Accept'));
  return {
    status: 404,
    headers: [
      ['Content-Length', String(Buffer.byteLength(page.body))],
      ['Content-Type', page.contentType],
      ['X-Openstack-Request-Id', ctx.requestId],
    ],
    body: page.body,
  };
}

/** Handles a path under /image (`path` is what follows "/image"). */
export function handleImage(ctx: RequestContext, core: SimCore, path: string): SimResponse {
  const auth = core.tokens.validateForService(header(ctx, 'X-Auth-Token'), ctx.now);
  if (!auth) return authRejected(ctx, `${core.baseUrl}/identity`, 'image');
  const p = path.replace(/\/+$/, '');
  if (ctx.method === 'GET' && p === '/v2/images') {
    return json(ctx, {
      images: core.images.list().map((i) => core.images.view(i)),
      schema: '/v2/schemas/images',
      first: '/v2/images',
    });
  }
  const match = /^\/v2\/images\/([^/]+)$/.exec(p);
  if (ctx.method === 'GET' && match) {
    const id = decodeURIComponent(match[1] ?? '');
    const image = core.images.get(id);
    if (!image) return notFound(ctx, `No image found with ID ${id}`);
    return json(ctx, core.images.view(image));
  }
  return notFound(ctx, 'The resource could not be found.');
}
