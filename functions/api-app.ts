/**
 * The HTTP API behind API Gateway (HTTP API, payload 2.0): routing, body and header reading, and
 * Nova fault bodies. One function serves every route so 404 and 405 answers are Nova-shaped too.
 * Built from its dependencies so the Lambda entry, the local gateway and the tests share it.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import httpRouterHandler from '@middy/http-router';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { ApiConfig } from '../lib/settings.js';
import {
  ApiError,
  BadRequestError,
  QueueUnavailableError,
  StoreUnavailableError,
  ForbiddenError,
  MethodNotAllowedError,
  NotFoundError,
  OverLimitError,
  UnsupportedMediaTypeError,
} from '../lib/errors.js';
import { parseJobAction, pauseJob, resumeJob, updateJob } from '../lib/jobs/actions.js';
import { cancelJob } from '../lib/jobs/cancel.js';
import { confirmJob, planView } from '../lib/jobs/plan.js';
import { redriveJob } from '../lib/jobs/redrive.js';
import { jobReport, reportFormat } from '../lib/jobs/report.js';
import { type Caller, PROJECT_ID } from '../lib/jobs/grants.js';
import { ServerLife } from '../lib/jobs/lifecycle.js';
import { parseBulkRequest, parseSingleRequest } from '../lib/request/job-request.js';
import { jobLocation, jobView, listJobServers, listProjectJobs, loadJob } from '../lib/jobs/views.js';
import { microversionFromHeaders } from '../lib/request/microversion.js';
import type { JobStore, MetricsSink, RebuildQueue } from '../lib/jobs/ports.js';
import { refuseProtoKeys } from '../lib/request/job-request.js';
import { parseRebuildXml } from '../lib/request/rebuild-xml.js';
import { MAX_IDEMPOTENCY_KEY_LENGTH, submitJob } from '../lib/jobs/submit.js';

export type ApiEvent = APIGatewayProxyEventV2WithIAMAuthorizer;
export type ApiResult = APIGatewayProxyStructuredResultV2;

export interface ApiDeps {
  store: JobStore;
  queue: RebuildQueue;
  config: ApiConfig;
  logger: Logger;
  metrics?: MetricsSink;
  now?: () => Date;
}

/** Nova's own words for a 500: nothing internal reaches the caller. */
const INTERNAL_MESSAGE = 'The server has either erred or is incapable of performing the requested operation.';

type Handler = (ctx: RequestContext) => Promise<ApiResult>;

interface RequestContext {
  event: ApiEvent;
  params: Record<string, string>;
  caller: Caller;
  baseUrl: string;
  now: Date;
}

/** One path's handlers by method. */
interface Route {
  path: string;
  methods: Partial<Record<'GET' | 'POST', Handler>>;
  /** Nova answers other methods on `/action` with a 404 (03w, 03x), so the drop-in does too; elsewhere a 405. */
  otherMethods?: 'notFound';
}

function route(path: string, methods: Route['methods'], otherMethods?: 'notFound'): Route {
  return { path, methods, ...(otherMethods ? { otherMethods } : {}) };
}

function header(event: ApiEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(event.headers ?? {})) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): ApiResult {
  return {
    statusCode,
    headers: { 'Content-Type': 'application/json; charset=UTF-8', ...headers },
    body: JSON.stringify(body),
  };
}

type MediaType = 'json' | 'xml';

/** Nova reads a missing Content-Type and text/plain as JSON (03p, 03r); anything else is 415. */
function mediaType(event: ApiEvent, allowXml: boolean): MediaType {
  const raw = header(event, 'content-type');
  const type = raw?.split(';')[0]?.trim().toLowerCase();
  if (type === undefined || type === '' || type === 'application/json' || type === 'text/plain') return 'json';
  if (allowXml && (type === 'application/xml' || type === 'text/xml')) return 'xml';
  throw new UnsupportedMediaTypeError(
    `Unsupported Content-Type${raw ? ` '${raw.slice(0, 64)}'` : ''}: send application/json${allowXml ? ' or application/xml' : ''}.`,
  );
}

/** The request body as text, within the size limit. */
function bodyText(event: ApiEvent, maxBytes: number, what = 'request body'): string {
  const raw = event.body ?? '';
  const buf = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (buf.byteLength > maxBytes) {
    throw new OverLimitError(`The ${what} is ${buf.byteLength} bytes; at most ${maxBytes} are accepted.`);
  }
  // A body that is not UTF-8 is malformed, not something to guess at.
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw new BadRequestError('Malformed request body: not UTF-8');
  }
}

function parseBody(event: ApiEvent, config: ApiConfig, type: MediaType): unknown {
  const text = type === 'xml' ? bodyText(event, config.maxXmlBodyBytes, 'XML body') : bodyText(event, config.maxBodyBytes);
  if (text.trim() === '') throw new BadRequestError('Malformed request body');
  if (type === 'xml') return refuseProtoKeys(parseRebuildXml(text));
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new BadRequestError('Malformed request body');
  }
  return refuseProtoKeys(parsed);
}

function idempotencyKey(event: ApiEvent): string | undefined {
  const key = header(event, 'idempotency-key');
  if (key === undefined) return undefined;
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(key)) {
    throw new BadRequestError(`Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters.`);
  }
  return key;
}

/** The caller, checked on every call: an authenticated principal that was granted the project in the path. */
function callerOf(event: ApiEvent, tenantId: string, config: ApiConfig): Caller {
  const principal = event.requestContext?.authorizer?.iam?.userArn;
  if (!principal) throw new ForbiddenError('The request carries no authenticated principal.');
  if (!PROJECT_ID.test(tenantId)) {
    throw new BadRequestError(`Invalid input for field/attribute tenant_id. Value: ${tenantId.slice(0, 64)}. Does not match '${PROJECT_ID.source}'`);
  }
  return config.grants.caller(principal, tenantId);
}

function baseUrlOf(event: ApiEvent): string {
  const proto = header(event, 'x-forwarded-proto') ?? 'https';
  return `${proto}://${event.requestContext.domainName}`;
}

/** Builds the API handler around its dependencies. */
export function createApi(deps: ApiDeps): (event: ApiEvent) => Promise<ApiResult> {
  const now = deps.now ?? (() => new Date());
  const { config } = deps;
  const life = new ServerLife({ store: deps.store, now, minFailureSample: config.minFailureSample, ...(deps.metrics ? { metrics: deps.metrics } : {}) });

  const accepted = async (ctx: RequestContext, kind: 'bulk' | 'single', request: ReturnType<typeof parseBulkRequest>) => {
    const key = idempotencyKey(ctx.event);
    let submitted;
    try {
      submitted = await submitJob(
        { store: deps.store, queue: deps.queue, life, now, retentionDays: config.retentionDays },
        { caller: ctx.caller, kind, request, ...(key !== undefined ? { idempotencyKey: key } : {}) },
      );
    } catch (err) {
      // A submission that stopped midway still created a job: point at it, as a 202 would.
      if (err instanceof ApiError && typeof err.extra.jobId === 'string') {
        err.headers.Location = jobLocation(ctx.baseUrl, { tenantId: ctx.caller.tenantId, jobId: err.extra.jobId });
      }
      throw err;
    }
    const { job, created } = submitted;
    deps.logger.info(created ? 'job submitted' : 'idempotent replay', { jobId: job.jobId, servers: job.total, kind });
    if (created) {
      deps.metrics?.record('JobsSubmitted', 1, 'Count');
      deps.metrics?.record('ServersSubmitted', job.total, 'Count');
    }
    return json(202, jobView(job, ctx.baseUrl, ctx.now), { Location: jobLocation(ctx.baseUrl, job) });
  };

  const routes: Route[] = [
    route('/v2/{tenant_id}/rebuild-jobs', {
      POST: async (ctx) => {
        const body = parseBody(ctx.event, config, mediaType(ctx.event, false));
        return accepted(ctx, 'bulk', parseBulkRequest(body, microversionFromHeaders(ctx.event.headers ?? {}, config.limits.maxMicroversion), config.limits));
      },
      GET: async (ctx) => json(200, await listProjectJobs(deps.store, ctx.caller, ctx.event.queryStringParameters ?? {}, ctx.baseUrl, ctx.now)),
    }),
    route('/v2/{tenant_id}/rebuild-jobs/{job_id}', {
      GET: async (ctx) => json(200, jobView(await loadJob(deps.store, ctx.caller, ctx.params.job_id as string), ctx.baseUrl, ctx.now)),
    }),
    route('/v2/{tenant_id}/rebuild-jobs/{job_id}/action', {
      POST: async (ctx) => {
        const action = parseJobAction(parseBody(ctx.event, config, mediaType(ctx.event, false)));
        const jobId = ctx.params.job_id as string;
        const job =
          action.kind === 'cancel'
            ? await cancelJob(deps.store, life, ctx.caller, jobId, now)
            : action.kind === 'pause'
              ? await pauseJob(deps.store, ctx.caller, jobId, now())
              : action.kind === 'resume'
                ? await resumeJob(deps.store, ctx.caller, jobId)
                : action.kind === 'update'
                  ? await updateJob(deps.store, ctx.caller, jobId, action.maxInFlight)
                  : action.kind === 'confirm'
                    ? await confirmJob({ store: deps.store, queue: deps.queue, life, now }, ctx.caller, jobId, action.secrets)
                    : await redriveJob({ store: deps.store, queue: deps.queue, life, now }, ctx.caller, jobId, action.request);
        deps.logger.info('job action', { jobId: job.jobId, action: action.kind, by: ctx.caller.principal });
        return json(202, jobView(job, ctx.baseUrl, now()), { Location: jobLocation(ctx.baseUrl, job) });
      },
    }),
    route('/v2/{tenant_id}/rebuild-jobs/{job_id}/report', {
      GET: async (ctx) => {
        const q = ctx.event.queryStringParameters ?? {};
        const report = await jobReport(deps.store, ctx.caller, ctx.params.job_id as string, reportFormat(header(ctx.event, 'accept'), q.format), q.marker, ctx.baseUrl);
        return {
          statusCode: 200,
          headers: { 'Content-Type': report.contentType, ...(report.next ? { Link: `<${report.next}>; rel="next"` } : {}) },
          body: report.body,
        };
      },
    }),
    route('/v2/{tenant_id}/rebuild-jobs/{job_id}/plan', {
      GET: async (ctx) => json(200, await planView(deps.store, ctx.caller, ctx.params.job_id as string, ctx.event.queryStringParameters ?? {}, ctx.baseUrl)),
    }),
    route('/v2/{tenant_id}/rebuild-jobs/{job_id}/servers', {
      GET: async (ctx) =>
        json(200, await listJobServers(deps.store, ctx.caller, ctx.params.job_id as string, ctx.event.queryStringParameters ?? {}, ctx.baseUrl)),
    }),
    route(
      '/v2/{tenant_id}/servers/{server_id}/action',
      {
        POST: async (ctx) => {
          const body = parseBody(ctx.event, config, mediaType(ctx.event, true));
          const mv = microversionFromHeaders(ctx.event.headers ?? {}, config.limits.maxMicroversion);
          return accepted(ctx, 'single', parseSingleRequest(body, ctx.params.server_id as string, mv, config.limits));
        },
      },
      'notFound',
    ),
  ];

  const dispatch = router(routes, config, now);
  return async (event) => {
    const started = now();
    const method = event.requestContext.http.method.toUpperCase();
    const path = event.rawPath ?? event.requestContext.http.path;
    const requestId = `req-${randomUUID()}`;
    let result: ApiResult;
    try {
      result = await dispatch(event);
    } catch (err) {
      if (err instanceof ApiError) {
        result = json(err.statusCode, err.toFault(), err.headers);
        deps.logger.info('request refused', { status: err.statusCode, fault: err.faultName });
        deps.metrics?.record('RequestsRefused', 1, 'Count', err.faultName);
      } else if (err instanceof StoreUnavailableError || err instanceof QueueUnavailableError) {
        // The table or queue cannot be reached or is throttling: the caller should retry, and 503
        // says so. Nothing was half-written that a retry would duplicate (see submitJob).
        deps.logger.warn('dependency unavailable', { errorName: (err as Error)?.name });
        result = json(503, { serviceUnavailable: { code: 503, message: 'The service is temporarily unavailable; retry the request shortly.' } });
      } else {
        deps.logger.error('request failed', { errorName: (err as Error)?.name, errorMessage: (err as Error)?.message });
        result = json(500, { computeFault: { code: 500, message: INTERNAL_MESSAGE } });
      }
    }
    result.headers = { ...result.headers, 'X-Openstack-Request-Id': requestId };
    deps.logger.info('request', { method, path, status: result.statusCode, requestId, ms: now().getTime() - started.getTime() });
    return result;
  };
}

/**
 * The routes on middy's http-router. What it leaves to us is Nova's dialect: a path's other methods
 * answer 405 with Allow (404 on `/action`, as Nova does), an unknown path 404, both as fault
 * bodies; path parameters are percent-decoded here (a bad encoding is a 400), and every route
 * checks its caller before its handler runs.
 */
function router(routes: Route[], config: ApiConfig, now: () => Date): (event: ApiEvent) => Promise<ApiResult> {
  const entries: { method: 'GET' | 'POST' | 'ANY'; path: string; handler: (event: ApiEvent) => Promise<ApiResult> }[] = [];
  for (const r of routes) {
    for (const [method, handler] of Object.entries(r.methods) as ['GET' | 'POST', Handler][]) {
      entries.push({ method, path: r.path, handler: (event) => run(event, handler) });
    }
    // After the path's own methods: the router tries a method's routes in order.
    const allowed = Object.keys(r.methods);
    entries.push({
      method: 'ANY',
      path: r.path,
      handler: async (event) => {
        if (r.otherMethods === 'notFound') throw new NotFoundError('The resource could not be found.');
        throw new MethodNotAllowedError(`Method ${event.requestContext.http.method.toUpperCase()} is not allowed on ${event.requestContext.http.path}.`, allowed);
      },
    });
  }
  const run = async (event: ApiEvent, handler: Handler): Promise<ApiResult> => {
    const params: Record<string, string> = {};
    try {
      for (const [k, v] of Object.entries(event.pathParameters ?? {})) params[k] = decodeURIComponent(v ?? '');
    } catch {
      throw new BadRequestError('Malformed request URL: invalid percent-encoding.');
    }
    const caller = callerOf(event, params.tenant_id as string, config);
    return handler({ event, params, caller, baseUrl: baseUrlOf(event), now: now() });
  };
  const routed = httpRouterHandler<ApiEvent, ApiResult>({
    routes: entries,
    notFoundResponse: () => {
      throw new NotFoundError('The resource could not be found.');
    },
  }) as unknown as (event: ApiEvent, context: Context) => Promise<ApiResult>;
  // The raw path, as API Gateway gives it, with no parameters of its own ($default route): the
  // router's are the only ones. The method is read in upper case, as before the router; a path
  // that is not one (empty, or not starting with a slash) is a 404 here, since the router takes
  // an empty path for a malformed event and throws. A method the router does not know (none
  // reaches us through API Gateway) finds no route: 404.
  return async (event) => {
    const path = event.rawPath ?? event.requestContext.http.path;
    if (!path?.startsWith('/')) throw new NotFoundError('The resource could not be found.');
    const http = { ...event.requestContext.http, path, method: event.requestContext.http.method.toUpperCase() };
    return routed({ ...event, pathParameters: {}, requestContext: { ...event.requestContext, http } }, {} as Context);
  };
}
