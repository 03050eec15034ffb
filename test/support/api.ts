/** Builds API Gateway v2 events for handler tests, as the local gateway does for real requests. */
import type { ApiEvent } from '../../functions/api-app.js';
import { type ApiConfig, apiConfigFromEnv } from '../../lib/settings.js';

export const PRINCIPAL = 'arn:aws:iam::123456789012:user/operator';

export function apiEvent(
  method: string,
  path: string,
  options: { body?: string | Buffer; headers?: Record<string, string>; query?: Record<string, string>; principal?: string } = {},
): ApiEvent {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.headers ?? {})) headers[k.toLowerCase()] = v;
  const binary = Buffer.isBuffer(options.body);
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: new URLSearchParams(options.query ?? {}).toString(),
    headers,
    ...(options.query ? { queryStringParameters: options.query } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'test',
      authorizer: {
        iam: {
          accessKey: 'AKIA',
          accountId: '123456789012',
          callerId: 'AIDA',
          cognitoIdentity: null as never,
          principalOrgId: null as never,
          userArn: options.principal ?? PRINCIPAL,
          userId: 'AIDA',
        },
      },
      domainName: 'api.example.test',
      domainPrefix: 'api',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: 'test',
      routeKey: '$default',
      stage: '$default',
      time: '',
      timeEpoch: 0,
    },
    ...(options.body !== undefined
      ? { body: binary ? (options.body as Buffer).toString('base64') : (options.body as string) }
      : {}),
    isBase64Encoded: binary,
  };
}

/** The API's settings for handler tests: `PRINCIPAL` granted every project, plus `env`. */
export function testApiConfig(env: Record<string, string> = {}): ApiConfig {
  return apiConfigFromEnv({ TABLE_NAME: 't', QUEUE_URL: 'q', PROJECT_GRANTS: JSON.stringify({ [PRINCIPAL]: '*' }), ...env });
}
