/**
 * The OpenAPI document: current (what `npm run schema` writes now), valid OpenAPI 3.1 by a real
 * validator, and true — every kind of answer the API gives conforms to it, field for field (the
 * answers' schemas admit no field they do not name), and the README's request examples are valid
 * requests by it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../../cdk/bundling.js';
import { createApi } from '../../../functions/api-app.js';
import { openApiDocument } from '../../../lib/request/openapi.js';
import { apiEvent, testApiConfig } from '../../support/api.js';
import { MemoryJobStore, MemoryQueue, capturingLogger } from '../../support/memory.js';
import { OPENAPI_FILE, expectOpenApi, openApi, openApiErrors } from '../../support/openapi.js';

const IMAGE = '70a599e0-31e7-49b7-b260-868f441e862b';
const uuid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

describe('the OpenAPI document', () => {
  it('is what `npm run schema` writes from the code now', () => {
    const version = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'))).toEqual(openApiDocument(version));
  });

  it('is valid OpenAPI 3.1', async () => {
    const result = await new Validator().validate(OPENAPI_FILE);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(Object.keys(openApi.paths)).toHaveLength(7);
  });

  it("holds the README's request examples and the seed's request as valid", () => {
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
    const bodies = [...readme.matchAll(/curl [^\n]*?(?:-d|--data) '(\{[^']*\})'/g), ...readme.matchAll(/\$A -H "\$J" -d '(\{[^']*\})'/g)].map((m) => m[1] as string);
    const jobs = [...readme.matchAll(/rebuild-jobs -H[^\n]*\n?[^\n]*-d '(\{"rebuildJob"[^']*\})'/g)].map((m) => m[1] as string);
    expect(jobs.length).toBeGreaterThan(0);
    for (const body of jobs) expectOpenApi('RebuildJobRequest', JSON.parse(body));
    const actions = bodies.filter((b) => !b.includes('rebuildJob'));
    expect(actions.length).toBeGreaterThanOrEqual(5);
    for (const body of actions) expectOpenApi('JobAction', JSON.parse(body));
    expectOpenApi('RebuildServerRequest', JSON.parse(readFileSync(join(PROJECT_ROOT, 'test', 'fixtures', 'seed-rebuild.json'), 'utf8')));
    // And it refuses what the API refuses: an unknown action, a server without its id.
    expect(openApiErrors('JobAction', { frobnicate: null })).not.toEqual([]);
    expect(openApiErrors('RebuildJobRequest', { rebuildJob: { servers: [{ name: 'x' }] } })).not.toEqual([]);
  });

  it('describes every answer the API gives, on every route, faults included', async () => {
    const store = new MemoryJobStore();
    const queue = new MemoryQueue();
    const api = createApi({ store, queue, logger: capturingLogger().logger, config: testApiConfig(), now: () => new Date('2026-11-27T00:00:00Z') });
    const call = async (method: string, path: string, body?: unknown, query?: Record<string, string>) => {
      const res = await api(apiEvent(method, path, { ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}), ...(query ? { query } : {}) }));
      return { status: res.statusCode, headers: res.headers ?? {}, json: JSON.parse(res.body ?? 'null') as Record<string, any> };
    };
    const base = '/v2/tenant-a/rebuild-jobs';
    const submitted = await call('POST', base, { rebuildJob: { rebuild: { imageRef: IMAGE, adminPass: 'x' }, servers: [{ id: uuid(1) }, { id: uuid(2), rebuild: { name: 'b' } }], options: { maxInFlight: 1 } } });
    expect(submitted.status).toBe(202);
    expect(submitted.headers.Location).toBeDefined();
    expectOpenApi('RebuildJob', submitted.json);
    const id = submitted.json.rebuildJob.id as string;
    const single = await call('POST', `/v2/tenant-a/servers/${uuid(3)}/action`, { rebuild: { imageRef: IMAGE } });
    expect(single.status).toBe(202);
    expectOpenApi('RebuildJob', single.json);
    expectOpenApi('RebuildJob', (await call('GET', `${base}/${id}`)).json);
    expectOpenApi('RebuildJobList', (await call('GET', base, undefined, { limit: '1' })).json);
    expectOpenApi('RebuildJobServers', (await call('GET', `${base}/${id}/servers`, undefined, { limit: '1' })).json);
    for (const action of [{ pause: null }, { resume: null }, { update: { maxInFlight: 2 } }, { cancel: null }]) {
      const res = await call('POST', `${base}/${id}/action`, action);
      expect(res.status, JSON.stringify(action)).toBe(202);
      expectOpenApi('RebuildJob', res.json);
    }
    const planned = await call('POST', base, { rebuildJob: { rebuild: { imageRef: IMAGE }, servers: [{ id: uuid(4) }], options: { confirm: 'manual', rollout: { waveSize: 1 } } } });
    expect(planned.json.rebuildJob.status).toBe('PLANNING');
    expectOpenApi('RebuildJob', planned.json);
    const faults = [
      await call('GET', `${base}/${planned.json.rebuildJob.id}/plan`),
      await call('POST', base, { rebuildJob: { servers: [] } }),
      await call('GET', `${base}/${uuid(9)}`),
      await call('DELETE', base),
      await call('POST', `${base}/${id}/action`, { resume: null }),
      await call('POST', `${base}/${id}/action`, { frobnicate: null }),
    ];
    expect(faults.map((f) => f.status)).toEqual([409, 400, 404, 405, 409, 400]);
    for (const f of faults) expectOpenApi('Fault', f.json);
    // Each status an operation answers is one its document names.
    expect(Object.keys(openApi.paths['/v2/{tenant_id}/rebuild-jobs'].post.responses)).toEqual(expect.arrayContaining(['202', '400', '409', '413']));
  });
});
