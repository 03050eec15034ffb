/**
 * keystonemiddleware's 401 in front of Nova and Glance: Keystone's body (not Nova's fault format),
 * python-spaced JSON, and `WWW-Authenticate: Keystone uri=...` (k04, k04b–k04e, k23, k24).
 */
import { pyDumps } from '../python.js';
import type { RequestContext, SimResponse } from './types.js';

export function authRejected(ctx: RequestContext, keystoneUri: string, service: 'compute' | 'image'): SimResponse {
  const body = pyDumps({
    error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' },
  });
  const headers: [string, string][] = [
    ['Content-Type', 'application/json'],
    ['Content-Length', String(Buffer.byteLength(body))],
    ['Www-Authenticate', `Keystone uri="${keystoneUri}"`],
    ['X-Openstack-Request-Id', ctx.requestId],
  ];
  if (service === 'compute') headers.push(['X-Compute-Request-Id', ctx.requestId]);
  return { status: 401, headers, body };
}
