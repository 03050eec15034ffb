/**
 * The API's OpenAPI 3.1 document, built from zod schemas: the request bodies from the very schemas
 * the API validates with (the rebuild body, the job options), the answers from schemas written
 * here beside the views that produce them (lib/jobs/views.ts), which the tests hold every real
 * answer to — a field added to a view and not here fails them. `npm run schema` writes it to
 * docs/openapi.json; the tests check that file is current and valid.
 */
import * as z from 'zod';
import { FINAL_JOB_STATUSES, SERVER_STATES } from '../jobs/model.js';
import { REDRIVABLE } from '../jobs/redrive.js';
import { ROLLOUT_PAUSES, optionsSchema } from './job-request.js';
import { widestRebuild } from './rebuild-schema.js';
import { selectSchema } from './select.js';
import { SECRET_FIELDS } from './secrets.js';

const dateTime = z.iso.datetime({ offset: true });
const link = z.strictObject({ rel: z.string(), href: z.string() });
const counts = z.strictObject(Object.fromEntries(SERVER_STATES.map((s) => [s, z.number().int().min(0)])) as Record<(typeof SERVER_STATES)[number], z.ZodNumber>);
const uuidText = z.string().meta({ description: 'A server UUID (Nova accepts it with or without dashes, in any case)' });

const rebuildFields = widestRebuild.partial().meta({
  description: "Nova's rebuild fields, as the job's microversion allows them (docs/rebuild-schema.json; README's table says which microversion allows which)",
});

export const requestSchemas = {
  RebuildJobRequest: z.strictObject({
    rebuildJob: z.strictObject({
      rebuild: rebuildFields.optional(),
      servers: z.array(z.strictObject({ id: uuidText, rebuild: rebuildFields.optional() })).min(1).optional(),
      select: selectSchema.optional().meta({ description: "Instead of servers: the project's servers that Nova's list filters match, resolved once submitted" }),
      options: optionsSchema.optional(),
    }),
  }),
  RebuildServerRequest: z.strictObject({ rebuild: widestRebuild }),
  JobAction: z.union([
    z.strictObject({ cancel: z.null() }),
    z.strictObject({ pause: z.null() }),
    z.strictObject({ resume: z.null() }),
    z.strictObject({ update: z.strictObject({ maxInFlight: z.number().int().min(1).max(1000) }) }),
    z.strictObject({
      confirm: z
        .union([z.null(), z.strictObject({ rebuild: widestRebuild.pick(Object.fromEntries(SECRET_FIELDS.map((f) => [f, true])) as { adminPass: true; personality: true; user_data: true }).partial() })])
        .meta({ description: "Sends a built plan; the job's secret fields, if its request had any, given again" }),
    }),
    z.strictObject({
      redrive: z.strictObject({
        status: z.array(z.enum(REDRIVABLE)).min(1),
        rebuild: widestRebuild.pick(Object.fromEntries(SECRET_FIELDS.map((f) => [f, true])) as { adminPass: true; personality: true; user_data: true }).partial().optional(),
      }),
    }),
  ]),
};

const job = z.strictObject({
  id: z.uuid(),
  tenantId: z.string(),
  kind: z.enum(['bulk', 'single']),
  status: z.enum(['PLANNING', 'AWAITING_CONFIRMATION', 'QUEUED', 'RUNNING', 'PAUSED', ...FINAL_JOB_STATUSES]),
  total: z.number().int().min(0),
  counts,
  createdBy: z.string(),
  createdAt: dateTime,
  updatedAt: dateTime,
  deadline: dateTime,
  completedAt: dateTime.optional(),
  stop: z.strictObject({ by: z.enum(['cancel', 'threshold', 'canary', 'expired']), at: dateTime, reason: z.string() }).optional(),
  awaiting: z.strictObject({ until: dateTime }).meta({ description: 'The plan waits for its confirmation until then' }).optional(),
  confirmedAt: dateTime.optional(),
  selection: z
    .strictObject({
      filters: z.record(z.string(), z.string()),
      excluded: z.number().int().min(0),
      max: z.number().int(),
      state: z.enum(['resolving', 'listed', 'ready', 'sent', 'failed']),
      matched: z.number().int().optional(),
      reason: z.string().optional(),
    })
    .meta({ description: "A job by Nova's list filters: how far its resolution got, and how many servers it matched" })
    .optional(),
  paused: z.strictObject({ at: dateTime, by: z.string() }).optional(),
  redrives: z.number().int().min(1).optional(),
  rollout: z
    .strictObject({ wave: z.number().int().min(0), open: z.number().int().min(1) })
    .meta({ description: 'A rollout in waves: the servers listed before `open` may start; wave 0 is the canary when there is one' })
    .optional(),
  options: z.strictObject({
    microversion: z.string(),
    maxAttempts: z.number().int(),
    deadlineSeconds: z.number().int(),
    maxFailurePercentage: z.number(),
    maxInFlight: z.number().int(),
    rollout: z.strictObject({ canary: z.number().int().min(0), waveSize: z.number().int().min(1), pause: z.enum(ROLLOUT_PAUSES) }).optional(),
    confirm: z.literal('manual').optional(),
  }),
  rebuild: z.record(z.string(), z.unknown()).meta({ description: 'The shared request, its secret fields replaced by "***"' }),
  submission: z.strictObject({
    state: z.enum(['IN_PROGRESS', 'COMPLETE', 'INCOMPLETE', 'INTERRUPTED']),
    notQueued: z.number().int().optional(),
    message: z.string().optional(),
  }),
  links: z.array(link),
});

const run = z.strictObject({
  status: z.enum(SERVER_STATES),
  attempts: z.number().int(),
  lastHttpStatus: z.number().int().optional(),
  faultName: z.string().optional(),
  faultMessage: z.string().optional(),
  acceptedAt: dateTime.optional(),
  endedAt: dateTime.optional(),
  computeRequestIds: z.array(z.string()).optional(),
});

const server = z.strictObject({
  id: z.uuid(),
  index: z.number().int().min(0),
  status: z.enum(SERVER_STATES),
  imageRef: z.string(),
  attempts: z.number().int().min(0),
  lastHttpStatus: z.number().int().optional(),
  fault: z.strictObject({ name: z.string().optional(), message: z.string().optional() }).optional(),
  uncertainSince: dateTime.optional(),
  computeRequestIds: z.array(z.string()),
  novaState: z.string().optional(),
  nextCheckAt: dateTime.optional(),
  waitingForSlotSince: dateTime.optional(),
  acceptedAt: dateTime.optional(),
  endedAt: dateTime.optional(),
  rebuild: z.record(z.string(), z.unknown()).meta({ description: "The server's own fields, secrets replaced by \"***\"" }),
  runs: z.array(run).optional(),
  createdAt: dateTime,
  updatedAt: dateTime,
});

const plannedServer = z.strictObject({
  id: z.uuid(),
  index: z.number().int().min(0),
  action: z.enum(['rebuild', 'wait', 'fail', 'unknown']),
  reason: z.string().optional(),
  found: z.boolean().meta({ description: "Whether the project's list showed it" }),
  status: z.string().optional(),
  taskState: z.string().nullable().optional(),
  imageId: z.string().optional().meta({ description: 'Its image now' }),
  locked: z.boolean().optional(),
  targetImageId: z.string(),
});

const plan = z.strictObject({
  jobId: z.uuid(),
  builtAt: dateTime,
  expiresAt: dateTime.optional(),
  listed: z.boolean(),
  unlisted: z.string().optional(),
  summary: z.strictObject({ rebuild: z.number().int(), wait: z.number().int(), fail: z.number().int(), unknown: z.number().int() }),
  images: z.array(
    z.strictObject({ id: z.string(), found: z.boolean(), status: z.string().optional(), minDisk: z.number().optional(), minRam: z.number().optional(), unchecked: z.string().optional() }),
  ),
  servers: z.array(plannedServer),
});

export const responseSchemas = {
  RebuildJobPlan: z.strictObject({ plan, servers_links: z.array(link) }),
  RebuildJob: z.strictObject({ rebuildJob: job }),
  RebuildJobList: z.strictObject({ rebuildJobs: z.array(job), rebuildJobs_links: z.array(link) }),
  RebuildJobServers: z.strictObject({ servers: z.array(server), servers_links: z.array(link) }),
  /** A Nova fault body: one member named for the fault (badRequest, itemNotFound, conflictingRequest, ...). */
  Fault: z
    .record(z.string(), z.looseObject({ code: z.number().int().min(400).max(599), message: z.string() }))
    .meta({ minProperties: 1, maxProperties: 1, description: 'Nova\'s fault body: {"<faultName>": {"code": N, "message": "...", ...}}' }),
};

/** One component, self-contained (the tests compile each alone). */
function component(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any', io }) as Record<string, unknown>;
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const jsonBody = (name: string) => ({ content: { 'application/json': { schema: ref(name) } } });
const faults = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [String(c), { description: FAULT_TEXT[c] ?? 'A fault', ...jsonBody('Fault') }]));
const FAULT_TEXT: Record<number, string> = {
  400: 'badRequest: the request is malformed or a field is invalid (every invalid field named, with its JSON pointer)',
  403: 'forbidden: the caller is not granted this project, or a quota-type limit (Nova\'s own)',
  404: 'itemNotFound',
  405: 'badMethod',
  406: 'computeFault: a microversion newer than the cloud supports',
  409: 'conflictingRequest: the job is not in a state for this, the Idempotency-Key was used with another body, or a server is held by another live job (named)',
  413: 'overLimit: too many servers or too large a body',
  415: 'badMediaType',
  503: 'serviceUnavailable: the table or queue is unavailable; retry',
};
const requestId = { 'X-Openstack-Request-Id': { description: 'This answer\'s request id', schema: { type: 'string' } } };
const location = { Location: { description: 'The job', schema: { type: 'string' } } };
const param = (name: string, where: 'path' | 'query', description: string, schema: Record<string, unknown> = { type: 'string' }) => ({
  name,
  in: where,
  required: where === 'path',
  description,
  schema,
});
const tenant = param('tenant_id', 'path', 'The OpenStack project (tenant) id: the caller must be granted it');
const jobId = param('job_id', 'path', 'The job id');
const page = [param('limit', 'query', 'Items per page (1–1000, default 1000)', { type: 'integer', minimum: 1, maximum: 1000 }), param('marker', 'query', 'The last item of the previous page')];
const microversionHeaders = [
  { name: 'X-OpenStack-Nova-API-Version', in: 'header', required: false, description: 'The microversion, as Nova reads it (2.N); default 2.1', schema: { type: 'string' } },
  { name: 'OpenStack-API-Version', in: 'header', required: false, description: '`compute 2.N`', schema: { type: 'string' } },
];
const idempotencyKey = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description: 'The same key with the same body within 24 hours returns the same job; with another body, 409',
  schema: { type: 'string', maxLength: 255 },
};

/** The whole document. */
export function openApiDocument(version: string): Record<string, unknown> {
  const accepted = (description: string) => ({ '202': { description, headers: { ...location, ...requestId }, ...jsonBody('RebuildJob') } });
  return {
    openapi: '3.1.0',
    info: {
      title: 'Bulk rebuild for OpenStack',
      version,
      description:
        "Rebuilds many OpenStack servers at once, exactly once each, and reports where every job and server stands. Paths carry the project as the Compute API does; errors are Compute API fault bodies. Every call is signed with SigV4 (service execute-api); locally (npm start) no signature is needed.",
    },
    security: [{ sigv4: [] }],
    paths: {
      '/v2/{tenant_id}/rebuild-jobs': {
        parameters: [tenant],
        post: {
          operationId: 'submitRebuildJob',
          summary: 'Rebuild many servers: one job, one message per server',
          parameters: [idempotencyKey, ...microversionHeaders],
          requestBody: { required: true, ...jsonBody('RebuildJobRequest') },
          responses: { ...accepted('The job, recorded and queued'), ...faults(400, 403, 406, 409, 413, 415, 503) },
        },
        get: {
          operationId: 'listRebuildJobs',
          summary: "The project's jobs, newest first",
          parameters: page,
          responses: { '200': { description: 'A page of jobs', headers: requestId, ...jsonBody('RebuildJobList') }, ...faults(400, 403) },
        },
      },
      '/v2/{tenant_id}/rebuild-jobs/{job_id}': {
        parameters: [tenant, jobId],
        get: {
          operationId: 'showRebuildJob',
          summary: 'Where a job stands: one read, whatever its size',
          responses: { '200': { description: 'The job', headers: requestId, ...jsonBody('RebuildJob') }, ...faults(403, 404) },
        },
      },
      '/v2/{tenant_id}/rebuild-jobs/{job_id}/servers': {
        parameters: [tenant, jobId],
        get: {
          operationId: 'listRebuildJobServers',
          summary: "The job's servers",
          parameters: [...page, param('status', 'query', 'Only servers in this state', { type: 'string', enum: [...SERVER_STATES] })],
          responses: { '200': { description: 'A page of servers', headers: requestId, ...jsonBody('RebuildJobServers') }, ...faults(400, 403, 404) },
        },
      },
      '/v2/{tenant_id}/rebuild-jobs/{job_id}/plan': {
        parameters: [tenant, jobId],
        get: {
          operationId: 'showRebuildJobPlan',
          summary: 'What would happen to each server: the plan every job\'s preflight builds, the one a job submitted with options.confirm "manual" waits on (409 while it is built)',
          parameters: page,
          responses: { '200': { description: 'The plan, a page of its servers', headers: requestId, ...jsonBody('RebuildJobPlan') }, ...faults(400, 403, 404, 409) },
        },
      },
      '/v2/{tenant_id}/rebuild-jobs/{job_id}/report': {
        parameters: [tenant, jobId],
        get: {
          operationId: 'rebuildJobReport',
          summary: 'Every server: JSON lines, or CSV with Accept: text/csv; 2,000 servers an answer',
          parameters: [param('format', 'query', 'csv or jsonl (instead of Accept)', { type: 'string', enum: ['csv', 'jsonl'] }), param('marker', 'query', 'Where the next part starts (from Link)')],
          responses: {
            '200': {
              description: 'A part of the report',
              headers: { ...requestId, Link: { description: '<next part>; rel="next", when there is more', schema: { type: 'string' } } },
              content: { 'application/x-ndjson': { schema: { type: 'string' } }, 'text/csv': { schema: { type: 'string' } } },
            },
            ...faults(400, 403, 404),
          },
        },
      },
      '/v2/{tenant_id}/rebuild-jobs/{job_id}/action': {
        parameters: [tenant, jobId],
        post: {
          operationId: 'actOnRebuildJob',
          summary: 'cancel, pause, resume, update maxInFlight, confirm a plan, or redrive an ended job\'s FAILED/CANCELLED servers',
          requestBody: { required: true, ...jsonBody('JobAction') },
          responses: { ...accepted('The job after the action'), ...faults(400, 403, 404, 409, 503) },
        },
      },
      '/v2/{tenant_id}/servers/{server_id}/action': {
        parameters: [tenant, param('server_id', 'path', 'The server UUID')],
        post: {
          operationId: 'rebuildServer',
          summary: "Nova's own rebuild action (JSON or XML), run as a one-server job",
          parameters: [idempotencyKey, ...microversionHeaders],
          requestBody: { required: true, content: { 'application/json': { schema: ref('RebuildServerRequest') }, 'application/xml': { schema: { type: 'string' } } } },
          responses: { ...accepted('The one-server job'), ...faults(400, 403, 406, 409, 413, 415, 503) },
        },
      },
    },
    components: {
      securitySchemes: {
        sigv4: { type: 'apiKey', name: 'Authorization', in: 'header', description: 'AWS Signature Version 4 (service execute-api), as API Gateway IAM authorization requires', 'x-amazon-apigateway-authtype': 'awsSigv4' },
      },
      schemas: {
        ...Object.fromEntries(Object.entries(requestSchemas).map(([name, schema]) => [name, component(schema, 'input')])),
        ...Object.fromEntries(Object.entries(responseSchemas).map(([name, schema]) => [name, component(schema, 'output')])),
      },
    },
  };
}
