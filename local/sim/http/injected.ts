/** The answers of injected faults (see faults.ts for where each shape comes from). */
import type { FaultSpec } from '../faults.js';
import { NovaFault, UNEXPECTED_TASK_STATE_MESSAGE } from '../nova/errors.js';
import { negotiateMicroversion } from '../nova/microversion.js';
import { novaFault } from '../nova/respond.js';
import { authRejected } from './auth-reject.js';
import type { RequestContext, SimResponse } from './types.js';
import { isJsonObject, pyDumps, pyRepr, pyReprString, type JsonValue } from '../python.js';

const PROXY_503_PAGE =
  '<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n';
/** haproxy's own pages for a backend that broke off (502) or did not answer in time (504). */
const PROXY_PAGES: Record<502 | 504, string> = {
  502: '<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n',
  504: "<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n",
};

function proxyPage(status: 502 | 504): SimResponse {
  const body = PROXY_PAGES[status];
  return { status, headers: [['Content-Type', 'text/html'], ['Content-Length', String(Buffer.byteLength(body))], ['Cache-Control', 'no-cache']], body };
}

/**
 * Nova's 400 quoting what it was sent, as recorded: 04b quotes the whole rebuild body as a Python
 * dict; 03i quotes a personality file's contents (or user_data) raw and as a repr.
 */
function quotingBadRequest(recording: '04b' | '03i', ctx: RequestContext): NovaFault {
  let body: JsonValue | undefined;
  try {
    body = JSON.parse(ctx.body.toString('utf8')) as JsonValue;
  } catch {
    body = undefined;
  }
  const rebuild = isJsonObject(body) && isJsonObject(body.rebuild) ? body.rebuild : {};
  if (recording === '04b') {
    const extra = Object.keys(rebuild).filter((k) => k !== 'imageRef').pop() ?? 'imageRef';
    return new NovaFault(400, `Invalid input for field/attribute rebuild. Value: ${pyRepr(rebuild)}. Additional properties are not allowed (${pyReprString(extra)} was unexpected)`);
  }
  const files = Array.isArray(rebuild.personality) ? rebuild.personality : [];
  const first = files[0];
  const [field, value] = isJsonObject(first) && typeof first.contents === 'string' ? ['contents', first.contents] : ['user_data', typeof rebuild.user_data === 'string' ? rebuild.user_data : ''];
  return new NovaFault(400, `Invalid input for field/attribute ${field}. Value: ${value}. ${pyReprString(value)} is not a 'base64'`);
}

/** Keystone's own 401 (k02d), for a fault injected on the token endpoint. */
function keystoneUnauthorized(ctx: RequestContext, keystoneUri: string): SimResponse {
  const body = '{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}\n';
  return {
    status: 401,
    statusText: 'UNAUTHORIZED',
    headers: [
      ['Content-Type', 'application/json'],
      ['Content-Length', String(Buffer.byteLength(body))],
      ['WWW-Authenticate', `Keystone uri="${keystoneUri}/v3"`],
      ['Vary', 'X-Auth-Token'],
      ['x-openstack-request-id', ctx.requestId],
      ['Connection', 'close'],
    ],
    body,
  };
}

/** The response for a fault that answers instead of the simulator; null for reset/delay kinds. */
export function injectedResponse(
  fault: FaultSpec,
  ctx: RequestContext,
  service: 'keystone' | 'compute' | 'image' | 'unknown',
  keystoneUri: string,
): SimResponse | null {
  const negotiated = negotiateMicroversion(ctx);
  const mv = service === 'compute' && negotiated.ok ? negotiated.version : null;
  const nova = (f: NovaFault): SimResponse => novaFault(ctx, mv, f);
  switch (fault.type) {
    case 'serviceUnavailable':
      return nova(
        new NovaFault(
          503,
          'The server is currently unavailable. Please try again at a later time.',
          undefined,
          fault.retryAfter === undefined ? undefined : String(fault.retryAfter),
        ),
      );
    case 'htmlServiceUnavailable':
      return {
        status: 503,
        headers: [
          ['Content-Type', 'text/html'],
          ['Content-Length', String(Buffer.byteLength(PROXY_503_PAGE))],
          ['Cache-Control', 'no-cache'],
        ],
        body: PROXY_503_PAGE,
      };
    case 'overLimit': {
      // A rate-limiting proxy: no OpenStack request id, Nova's overLimit body shape.
      const body = pyDumps({
        overLimit: { code: fault.status, message: 'This request was rate-limited.', retryAfter: String(fault.retryAfter) },
      });
      return {
        status: fault.status,
        headers: [
          ['Content-Type', 'application/json; charset=UTF-8'],
          ['Content-Length', String(Buffer.byteLength(body))],
          ['Retry-After', String(fault.retryAfter)],
        ],
        body,
      };
    }
    case 'computeFault':
      return nova(new NovaFault(500, fault.message ?? UNEXPECTED_TASK_STATE_MESSAGE, 'computeFault'));
    case 'buildInProgress':
      return nova(new NovaFault(409, 'Server is currently being rebuilt. Please try again later.', 'buildInProgress'));
    case 'serverCapacityUnavailable':
      return nova(
        new NovaFault(
          503,
          'Server capacity is unavailable. Please try again later.',
          'serverCapacityUnavailable',
          fault.retryAfter === undefined ? undefined : String(fault.retryAfter),
        ),
      );
    case 'unauthorized':
      if (service === 'keystone') return keystoneUnauthorized(ctx, keystoneUri);
      return authRejected(ctx, keystoneUri, service === 'image' ? 'image' : 'compute');
    case 'actThenFail':
      // Nova's own 500 carries its request id (the one its records show); a balancer's page none.
      return fault.status === 500 ? nova(new NovaFault(500, 'Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n<class \'oslo_messaging.exceptions.MessagingTimeout\'>', 'computeFault')) : proxyPage(fault.status);
    case 'actLate':
      return proxyPage(504);
    case 'quoteRequest':
      return nova(quotingBadRequest(fault.recording, ctx));
    case 'reset':
    case 'resetAfterProcessing':
    case 'delay':
      return null;
  }
}
