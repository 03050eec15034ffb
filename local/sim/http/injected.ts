/** The answers of injected faults (see faults.ts for where each shape comes from). */
import type { FaultSpec } from '../faults.js';
import { NovaFault, UNEXPECTED_TASK_STATE_MESSAGE } from '../nova/errors.js';
import { negotiateMicroversion } from '../nova/microversion.js';
import { novaFault } from '../nova/respond.js';
import { authRejected } from './auth-reject.js';
import type { RequestContext, SimResponse } from './types.js';
import { pyDumps } from '../python.js';

const PROXY_503_PAGE =
  '<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n';

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
    case 'reset':
    case 'resetAfterProcessing':
    case 'delay':
      return null;
  }
}
