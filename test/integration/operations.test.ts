/**
 * What an operator does to a job once it is submitted, against the whole local stack and the
 * Compute API simulator: hold it and let it go on, change how many servers are in flight, read its
 * report as JSON lines or CSV, roll it out in waves behind a canary, and run its failed servers
 * again under the same job (a redrive).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeSimulator } from '../../local/sim/index.js';
import { type LocalStack, startLocalStack } from '../../local/stack.js';
import type { JobStatusEvent } from '../../lib/jobs/events.js';
import { IMAGE, StackClient } from '../support/client.js';
import { expectOpenApi } from '../support/openapi.js';

const FAST = {
  WATCH_FIRST_LOOK_SECONDS: '1',
  WATCH_MAX_PACE_SECONDS: '1',
  BACKOFF_BASE_SECONDS: '1',
  BACKOFF_CAP_SECONDS: '2',
};

let stack: LocalStack;
let sim: ComputeSimulator;
const client = new StackClient(() => stack, () => sim.tenantId);
let next = 0;
/** The job's events as the notifier told them, once `done` holds of them (the stream is read four times a second). */
async function eventsUntil(jobId: string, done: (events: JobStatusEvent[]) => boolean, seconds = 30): Promise<JobStatusEvent[]> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const events = stack.notifier.events.filter((e) => e.jobId === jobId);
    if (done(events)) return events;
    if (Date.now() > until) throw new Error(`events of ${jobId} so far: ${events.map((e) => `${e.from}->${e.to}`).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const moves = (events: JobStatusEvent[]) => events.map((e) => `${e.from}->${e.to}`);

/** Servers no other test of this file uses. */
const newServers = (n: number) => sim.serverIds.slice(next, (next += n));

beforeAll(async () => {
  stack = await startLocalStack({ env: FAST, worker: { poller: { batchingWindowSeconds: 0 }, sweepEverySeconds: 0, simulator: { serverCount: 60 } } });
  sim = stack.sim as ComputeSimulator;
});
afterAll(async () => {
  await stack?.stop();
});

describe('pause, resume, update', () => {
  it('holds a paused job: nothing more is sent; resumed, every server ends SUCCEEDED', async () => {
    const ids = newServers(12);
    const id = await client.submit(ids.map((s) => ({ id: s })), { maxInFlight: 2 });
    const paused = await client.action(id, { pause: null });
    expect(paused.status).toBe(202);
    expect(paused.json.rebuildJob).toMatchObject({ status: 'PAUSED', paused: { by: expect.stringContaining('local') } });
    expectOpenApi('RebuildJob', paused.json);
    // Whatever was in flight when the pause landed ends, and every waiting server takes a step
    // after the pause (its record moves on): each of those steps sent nothing.
    const pausedAt = Date.parse(paused.json.rebuildJob.paused.at as string);
    const held = await client.until(id, (list) =>
      list.every((s) => s.status === 'SUCCEEDED' || (['QUEUED', 'RETRY_WAIT'].includes(s.status) && Date.parse(s.updatedAt) > pausedAt)),
    );
    const waiting = held.filter((s) => s.status !== 'SUCCEEDED');
    expect(waiting.length).toBeGreaterThan(0);
    expect(waiting.every((s) => sim.rebuildCount(s.id) === 0)).toBe(true);
    expect((await client.action(id, { pause: null })).status).toBe(409);

    const resumed = await client.action(id, { resume: null });
    expect(resumed.status).toBe(202);
    expect(resumed.json.rebuildJob.status).not.toBe('PAUSED');
    const ended = await client.untilEnded(id);
    expect(ended.status).toBe('SUCCEEDED');
    expect(ids.map((s) => sim.rebuildCount(s))).toEqual(ids.map(() => 1));
    expect((await client.action(id, { resume: null })).status).toBe(409);
    // The hold and its end are told, each move from the status the one before moved to.
    const told = moves(await eventsUntil(id, (es) => es.some((e) => e.to === 'SUCCEEDED')));
    expect(told.filter((m) => m.endsWith('->PAUSED'))).toHaveLength(1);
    expect(told.filter((m) => m.startsWith('PAUSED->'))).toHaveLength(1);
    expect(told.at(-1)).toBe('RUNNING->SUCCEEDED');
    told.slice(1).forEach((m, i) => expect(m.split('->')[0]).toBe(told[i]?.split('->')[1]));
  });

  it("changes maxInFlight of a running job, and refuses values outside 1–1000 with the field's name", async () => {
    const ids = newServers(4);
    const id = await client.submit(ids.map((s) => ({ id: s })), { maxInFlight: 1 });
    const bad = await client.action(id, { update: { maxInFlight: 0 } });
    expect(bad.status).toBe(400);
    expect(bad.json.badRequest.message).toContain('update/maxInFlight');
    const updated = await client.action(id, { update: { maxInFlight: 4 } });
    expect(updated.status).toBe(202);
    expect(updated.json.rebuildJob.options.maxInFlight).toBe(4);
    expect((await client.untilEnded(id)).status).toBe('SUCCEEDED');
    expect((await client.action(id, { update: { maxInFlight: 2 } })).status).toBe(409);
  });

  it('names the actions when the body is not one', async () => {
    const [one] = newServers(1);
    const id = await client.submit([{ id: one as string }]);
    const res = await client.action(id, { frobnicate: null });
    expect(res.status).toBe(400);
    expect(res.json.badRequest.message).toBe('There is no such action: frobnicate');
    await client.untilEnded(id);
  });
});

describe('rollout', () => {
  /** The job as the API shows it, once `done` holds of it. */
  async function jobUntil(id: string, done: (job: Awaited<ReturnType<typeof client.job>>) => boolean, seconds = 60) {
    const until = Date.now() + seconds * 1000;
    for (;;) {
      const job = await client.job(id);
      if (done(job)) return job;
      if (Date.now() > until) throw new Error(`job ${id} is ${JSON.stringify(job)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('runs the canary, pauses after it, and on resume runs the rest in waves, each after the one before ended', async () => {
    const ids = newServers(5);
    const id = await client.submit(ids.map((s) => ({ id: s })), { rollout: { canary: 1, waveSize: 2, pause: 'afterCanary' } });
    const paused = await jobUntil(id, (j) => j.status === 'PAUSED');
    expectOpenApi('RebuildJob', { rebuildJob: paused });
    expect(paused).toMatchObject({ paused: { by: 'rollout' }, rollout: { wave: 1, open: 3 }, counts: { SUCCEEDED: 1 } });
    expect(ids.map((s) => sim.rebuildCount(s))).toEqual([1, 0, 0, 0, 0]);
    expect((await client.action(id, { resume: null })).status).toBe(202);
    expect((await client.untilEnded(id)).status).toBe('SUCCEEDED');
    expect(ids.map((s) => sim.rebuildCount(s))).toEqual([1, 1, 1, 1, 1]);
    const byId = new Map((await client.servers(id)).map((s) => [s.id, s]));
    const at = (i: number, field: 'acceptedAt' | 'endedAt') => Date.parse(byId.get(ids[i] as string)?.[field] as string);
    for (const i of [3, 4]) expect(at(i, 'acceptedAt')).toBeGreaterThanOrEqual(Math.max(at(1, 'endedAt'), at(2, 'endedAt')));
    // The pause is told as any other.
    const told = moves(await eventsUntil(id, (es) => es.some((e) => e.to === 'SUCCEEDED')));
    expect(told).toContain('RUNNING->PAUSED');
  });

  it('stops at a failed canary: the other servers are never sent, and the job ends FAILED saying why', async () => {
    const ids = newServers(4);
    sim.failNextRebuild(ids[0] as string, 'No valid host was found.');
    const id = await client.submit(ids.map((s) => ({ id: s })), { rollout: { canary: 1, wavePercent: 50 } });
    const ended = await client.untilEnded(id);
    expect(ended).toMatchObject({ status: 'FAILED', stop: { by: 'canary' }, counts: { FAILED: 1, CANCELLED: 3 } });
    expect(ids.map((s) => sim.rebuildCount(s))).toEqual([1, 0, 0, 0]);
    const servers = await client.servers(id);
    expect(servers.filter((s) => s.status === 'CANCELLED').map((s) => s.fault?.name)).toEqual(['canaryFailed', 'canaryFailed', 'canaryFailed']);
  });
});

describe('plan, then confirm', () => {
  it("builds a plan from the project's list and Glance, sends nothing until confirmed, then runs it with the secret given again", async () => {
    const ids = newServers(4);
    sim.setServerState(ids[1] as string, { vmState: 'paused' });
    sim.setServerState(ids[2] as string, { locked: true });
    const missing = '5b7c3e0a-1d2f-4a6b-9c8d-7e6f5a4b3c2d';
    const servers = [...ids, missing].map((id) => ({ id }));
    // 2.73 lists show `locked`.
    const id = await client.submit(servers, { confirm: 'manual', microversion: '2.73' });
    const plan = await until(async () => {
      const res = await client.raw(`/rebuild-jobs/${id}/plan`);
      return res.status === 200 ? (JSON.parse(res.text) as { plan: Record<string, any> }) : undefined;
    });
    expectOpenApi('RebuildJobPlan', { ...plan, servers_links: [] });
    expect((await client.job(id)).status).toBe('AWAITING_CONFIRMATION');
    const actions = Object.fromEntries((plan.plan.servers as { id: string; action: string }[]).map((s) => [s.id, s.action]));
    expect([...ids, missing].map((s) => actions[s])).toEqual(['rebuild', 'fail', 'fail', 'rebuild', 'fail']);
    expect(plan.plan.summary).toEqual({ rebuild: 2, wait: 0, fail: 3, unknown: 0 });
    expect(plan.plan.images).toEqual([{ id: IMAGE, found: true, status: 'active', minDisk: 0, minRam: 0 }]);
    expect(ids.map((s) => sim.rebuildCount(s))).toEqual([0, 0, 0, 0]);

    const refused = await client.action(id, { confirm: null });
    expect(refused.status).toBe(400);
    expect(refused.json.badRequest.message).toContain('confirm/rebuild/adminPass');
    const confirmed = await client.action(id, { confirm: { rebuild: { adminPass: 'seekr3t' } } });
    expect(confirmed.status).toBe(202);
    expectOpenApi('RebuildJob', confirmed.json);
    expect((await client.action(id, { confirm: { rebuild: { adminPass: 'seekr3t' } } })).status).toBe(409);
    const ended = await client.untilEnded(id);
    expect(ended.status).toBe('PARTIAL');
    expect(ids.map((s) => sim.rebuildCount(s))).toEqual([1, 0, 0, 1]);
    const told = moves(await eventsUntil(id, (es) => es.some((e) => e.to === 'PARTIAL')));
    expect(told.slice(0, 2)).toEqual(['null->PLANNING', 'PLANNING->AWAITING_CONFIRMATION']);
    sim.setServerState(ids[1] as string, { vmState: 'active' });
    sim.setServerState(ids[2] as string, { locked: false });
  });

  it("checks every job's image in Glance at its start: one Glance does not have fails each server unsent, saying why, and the plan shows it", async () => {
    const ids = newServers(3);
    const unknownImage = '0f0e0d0c-0b0a-4909-8807-060504030201';
    const id = await client.submit(ids.map((s) => ({ id: s })), {}, { imageRef: unknownImage, adminPass: 'seekr3t' });
    const ended = await client.untilEnded(id);
    expect(ended.status).toBe('FAILED');
    for (const s of await client.servers(id)) {
      expect(s).toMatchObject({ status: 'FAILED', attempts: 0, fault: { name: 'imageNotUsable' } });
      expect(s.fault?.message).toContain('not in Glance');
    }
    expect(sim.requests().filter((r) => r.kind === 'rebuild' && ids.includes(r.serverId as string))).toHaveLength(0);
    const plan = JSON.parse((await client.raw(`/rebuild-jobs/${id}/plan`)).text) as { plan: Record<string, any> };
    expectOpenApi('RebuildJobPlan', { ...plan, servers_links: [] });
    expect(plan.plan).toMatchObject({ listed: false, summary: { fail: 3 }, images: [{ id: unknownImage, found: false }] });
  });

  it('does not rebuild a server in ERROR on the first run, says so, and rebuilds it in a redrive of the FAILED servers', async () => {
    const ids = newServers(3);
    const broken = ids[1] as string;
    sim.setServerState(broken, { vmState: 'error' });
    const id = await client.submit(ids.map((s) => ({ id: s })), {}, { imageRef: IMAGE, adminPass: 'seekr3t' });
    expect((await client.untilEnded(id)).status).toBe('PARTIAL');
    const first = await client.servers(id);
    expect(first.find((s) => s.id === broken)).toMatchObject({ status: 'FAILED', attempts: 0, fault: { name: 'serverInError' } });
    expect(first.filter((s) => s.id !== broken).map((s) => s.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(ids.map((s) => sim.rebuildCount(s))).toEqual([1, 0, 1]);
    const plan = JSON.parse((await client.raw(`/rebuild-jobs/${id}/plan`)).text) as { plan: { summary: Record<string, number> } };
    // A job of three is not listed: its plan knows the image, and each server learns its state by its own GET.
    expect(plan.plan.summary).toMatchObject({ rebuild: 0, fail: 0, unknown: 3 });

    expect((await client.action(id, { redrive: { status: ['FAILED'], rebuild: { adminPass: 'seekr3t' } } })).status).toBe(202);
    expect((await client.untilEnded(id)).status).toBe('SUCCEEDED');
    expect(ids.map((s) => sim.rebuildCount(s))).toEqual([1, 1, 1]);
  });
});

describe('select by filter', () => {
  /** The job as the API shows it, once `done` holds of it. */
  async function jobUntil(id: string, done: (job: Awaited<ReturnType<typeof client.job>>) => boolean, seconds = 60) {
    const end = Date.now() + seconds * 1000;
    for (;;) {
      const job = await client.job(id);
      if (done(job)) return job;
      if (Date.now() > end) throw new Error(`job ${id} is ${JSON.stringify(job)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const selectJob = async (select: object, options: object = {}) => {
    const res = await client.post('/rebuild-jobs', { rebuildJob: { rebuild: { imageRef: IMAGE, adminPass: 'seekr3t' }, select, options } });
    expect(res.status, JSON.stringify(res.json)).toBe(202);
    expect(res.json.rebuildJob.status).toBe('PLANNING');
    expectOpenApi('RebuildJob', res.json);
    return res.json.rebuildJob.id as string;
  };

  it('walks a selection through plan, confirm, canary, pause, resume, redrive and report', async () => {
    const web = [1, 2, 3, 4, 5].map((i) => sim.createServer({ name: `walk-web-${i}` }).id);
    const other = sim.createServer({ name: 'walk-db-1' }).id;
    const id = await selectJob(
      { filters: { name: '^walk-web-' }, exclude: [web[4]] },
      { confirm: 'manual', rollout: { canary: 1, waveSize: 2, pause: 'afterCanary' } },
    );
    const planned = await jobUntil(id, (j) => j.status === 'AWAITING_CONFIRMATION');
    expect(planned).toMatchObject({ total: 4, selection: { state: 'sent', matched: 4, excluded: 1 } });
    const plan = JSON.parse((await client.raw(`/rebuild-jobs/${id}/plan`)).text) as { plan: { summary: Record<string, number>; servers: { id: string; index: number }[] } };
    expect(plan.plan.summary).toMatchObject({ rebuild: 4 });
    expect(plan.plan.servers.map((s) => s.id).sort()).toEqual(web.slice(0, 4).sort());
    expect([...web, other].map((s) => sim.rebuildCount(s))).toEqual([0, 0, 0, 0, 0, 0]);

    // In the list's order: the canary is the first server Nova listed.
    const order = [...plan.plan.servers].sort((a, b) => a.index - b.index).map((s) => s.id);
    sim.failNextRebuild(order[2] as string, 'No valid host was found.');
    expect((await client.action(id, { confirm: { rebuild: { adminPass: 'seekr3t' } } })).status).toBe(202);
    const paused = await jobUntil(id, (j) => j.status === 'PAUSED');
    expect(paused.counts.SUCCEEDED).toBe(1);
    expect((await client.action(id, { resume: null })).status).toBe(202);
    expect((await client.untilEnded(id)).status).toBe('PARTIAL');
    expect((await client.action(id, { redrive: { status: ['FAILED'], rebuild: { adminPass: 'seekr3t' } } })).status).toBe(202);
    expect((await client.untilEnded(id)).status).toBe('SUCCEEDED');
    expect([...web, other].map((s) => sim.rebuildCount(s))).toEqual([
      ...web.slice(0, 4).map((s) => (s === order[2] ? 2 : 1)),
      0,
      0,
    ]);
    const report = (await client.raw(`/rebuild-jobs/${id}/report`)).text.trim().split('\n');
    expect(report).toHaveLength(4);
    const told = moves(await eventsUntil(id, (es) => es.some((e) => e.to === 'SUCCEEDED')));
    expect(told.slice(0, 3)).toEqual(['null->PLANNING', 'PLANNING->AWAITING_CONFIRMATION', 'AWAITING_CONFIRMATION->QUEUED']);
  });

  it('runs a selection at once when not planned, and ends a selection it cannot run FAILED, saying why, nothing rebuilt', async () => {
    const ids = [1, 2].map((i) => sim.createServer({ name: `once-${i}` }).id);
    const ran = await selectJob({ filters: { name: '^once-' } });
    expect(await client.untilEnded(ran)).toMatchObject({ status: 'SUCCEEDED', total: 2 });
    expect(ids.map((s) => sim.rebuildCount(s))).toEqual([1, 1]);

    const cases: [object, RegExp][] = [
      [{ filters: { name: '^nothing-is-called-this$' } }, /matched no server/],
      [{ filters: { name: '^once-' }, max: 1 }, /matched 2 servers, more than its max of 1/],
      [{ filters: { name: '(' } }, /Nova refused the selection's list \(400\)/],
    ];
    for (const [select, reason] of cases) {
      const id = await selectJob(select);
      const ended = await client.untilEnded(id);
      expect(ended, JSON.stringify(select)).toMatchObject({ status: 'FAILED', total: 0, selection: { state: 'failed', reason: expect.stringMatching(reason) } });
      expectOpenApi('RebuildJob', { rebuildJob: ended });
    }
    expect(ids.map((s) => sim.rebuildCount(s))).toEqual([1, 1]);
  });

  it('refuses a selection it cannot send, naming the field: a filter the microversion lacks, servers and select together, a status Nova does not know', async () => {
    const bad = async (rebuildJob: object, pointer: string) => {
      const res = await client.post('/rebuild-jobs', { rebuildJob: { rebuild: { imageRef: IMAGE }, ...rebuildJob } });
      expect(res.status, JSON.stringify(rebuildJob)).toBe(400);
      expect(JSON.stringify(res.json.badRequest), JSON.stringify(rebuildJob)).toContain(pointer);
    };
    await bad({ select: { filters: { locked: true } } }, '/rebuildJob/select/filters/locked');
    await bad({ select: { filters: { name: 'a' } }, servers: [{ id: IMAGE }] }, '/rebuildJob/select');
    await bad({ select: { filters: { status: 'active' } } }, '/rebuildJob/select/filters/status');
    await bad({ select: { filters: {} } }, '/rebuildJob/select/filters');
    await bad({ select: { filters: { name: 'a' } }, options: { rollout: { wavePercent: 10 } } }, '/rebuildJob/options/rollout/wavePercent');
  });
});

/** Polls `get` every 100 ms until it gives a value (30 s at most). */
async function until<T>(get: () => Promise<T | undefined>, seconds = 30): Promise<T> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const value = await get();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error('never came');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('report', () => {
  it('lists every server as JSON lines, or as CSV with the cloud text quoted and formulas defused', async () => {
    const ids = newServers(3);
    sim.failNextRebuild(ids[1] as string, '=HYPERLINK("x"), "quoted", and a comma');
    const id = await client.submit(ids.map((s) => ({ id: s })));
    await client.untilEnded(id);
    const jsonl = await client.raw(`/rebuild-jobs/${id}/report`);
    expect(jsonl.status).toBe(200);
    expect(jsonl.headers.get('content-type')).toContain('application/x-ndjson');
    const rows = jsonl.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
    const failed = rows.find((r) => r.id === ids[1]);
    expect(failed).toMatchObject({ status: 'FAILED', faultName: 'serverError', attempts: 1 });
    expect(rows.find((r) => r.id === ids[0])).toMatchObject({ status: 'SUCCEEDED', lastHttpStatus: 202, computeRequestIds: [expect.stringMatching(/^req-/)] });

    const csv = await client.raw(`/rebuild-jobs/${id}/report`, { accept: 'text/csv' });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = csv.text.trim().split('\r\n');
    expect(lines[0]).toBe('id,index,status,attempts,lastHttpStatus,faultName,faultMessage,novaState,createdAt,acceptedAt,endedAt,computeRequestIds,runs');
    expect(lines).toHaveLength(4);
    const line = lines.find((l) => l.startsWith(ids[1] as string)) as string;
    // The fault's quotes doubled inside one quoted cell; the cell does not start with "=".
    expect(line).toContain('""quoted""');
    expect(line).not.toMatch(/,=|,"=/);
    expect((await client.raw(`/rebuild-jobs/${id}/report?format=xml`)).status).toBe(400);
  });
});

describe('redrive', () => {
  it("runs an ended job's failed servers again under the same job; each keeps its earlier run", async () => {
    const ids = newServers(4);
    sim.failNextRebuild(ids[2] as string, 'No valid host was found.');
    const id = await client.submit(ids.map((s) => ({ id: s })));
    const first = await client.untilEnded(id);
    expect(first).toMatchObject({ status: 'PARTIAL', counts: expect.objectContaining({ SUCCEEDED: 3, FAILED: 1 }) });
    // Each status change told once, in order; the end with the report kept, equal to the API's.
    const told = await eventsUntil(id, (es) => es.some((e) => e.to === 'PARTIAL'));
    expect(moves(told)).toEqual(['null->QUEUED', 'QUEUED->RUNNING', 'RUNNING->PARTIAL']);
    const end = told.at(-1) as JobStatusEvent;
    expect(end).toMatchObject({ tenantId: sim.tenantId, total: 4, completedAt: first.completedAt, redrives: 0, report: expect.stringContaining(`reports/${sim.tenantId}/${id}/run-1-`) });
    const kept = stack.notifier.reports.get(end.report as string) as string;
    expect(kept).toBe((await client.raw(`/rebuild-jobs/${id}/report`)).text);

    // The job had an adminPass, which is never stored: the redrive must give it again.
    const without = await client.action(id, { redrive: { status: ['FAILED'] } });
    expect(without.status).toBe(400);
    expect(without.json.badRequest.message).toContain('redrive/rebuild/adminPass');
    const notSecret = await client.action(id, { redrive: { status: ['FAILED'], rebuild: { imageRef: IMAGE } } });
    expect(notSecret.status).toBe(400);
    expect((await client.action(id, { redrive: { status: ['SUCCEEDED'] } })).status).toBe(400);

    const res = await client.action(id, { redrive: { status: ['FAILED', 'CANCELLED'], rebuild: { adminPass: 'seekr3t-2' } } });
    expect(res.status, JSON.stringify(res.json)).toBe(202);
    expect(res.json.rebuildJob).toMatchObject({ redrives: 1 });
    expect(res.json.rebuildJob.completedAt).toBeUndefined();
    expect(['QUEUED', 'RUNNING']).toContain(res.json.rebuildJob.status);
    const again = await client.untilEnded(id);
    expect(again.status).toBe('SUCCEEDED');
    expect(again.counts).toMatchObject({ SUCCEEDED: 4, FAILED: 0 });
    await client.expectCountersExact(id);
    // Rebuilt once per run it took part in: the redriven server twice, the rest once.
    expect(ids.map((s) => sim.rebuildCount(s))).toEqual([1, 1, 2, 1]);
    const list = await client.servers(id);
    // Every field these answers carry (runs, faults, times) is one the OpenAPI document names.
    expectOpenApi('RebuildJobServers', (await client.get(`/rebuild-jobs/${id}/servers`)).json);
    expectOpenApi('RebuildJob', (await client.get(`/rebuild-jobs/${id}`)).json);
    expect(list.find((s) => s.id === ids[2])?.runs).toEqual([expect.objectContaining({ status: 'FAILED', faultName: 'serverError', attempts: 1 })]);
    expect(list.find((s) => s.id === ids[0])?.runs).toBeUndefined();
    // Nothing to run again now.
    expect((await client.action(id, { redrive: { status: ['FAILED'], rebuild: { adminPass: 'x' } } })).status).toBe(409);

    // The second end is told, with a report of its own beside the first's; no secret in either.
    const all = await eventsUntil(id, (es) => es.some((e) => e.to === 'SUCCEEDED'));
    expect(moves(all)).toEqual(['null->QUEUED', 'QUEUED->RUNNING', 'RUNNING->PARTIAL', 'PARTIAL->RUNNING', 'RUNNING->SUCCEEDED']);
    expect(all.at(-1)).toMatchObject({ redrives: 1, completedAt: again.completedAt, report: expect.stringContaining(`/${id}/run-2-`) });
    const second = stack.notifier.reports.get(all.at(-1)?.report as string) as string;
    const redriven = second.trim().split('\n').map((l) => JSON.parse(l) as { id: string; runs: string[] }).find((r) => r.id === ids[2]);
    expect(redriven?.runs).toEqual(['FAILED:serverError']);
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    const everything = JSON.stringify(all) + [...stack.notifier.reports.values()].join('');
    expect(everything).not.toContain('seekr3t');
  });

  it('refuses a job that has not ended, and servers another live job holds', async () => {
    const ids = newServers(2);
    sim.setServerState(ids[0] as string, { taskState: 'rebooting' });
    const id = await client.submit(ids.map((s) => ({ id: s })), {}, { imageRef: IMAGE });
    expect((await client.action(id, { redrive: { status: ['FAILED'] } })).status).toBe(409);
    expectOpenApi('RebuildJob', (await client.cancel(id)).json);
    sim.setServerState(ids[0] as string, { taskState: null });
    const ended = await client.untilEnded(id);
    expect(ended.counts.CANCELLED).toBeGreaterThan(0);
    // The cancelled server is now in another live job: the redrive is refused, naming it.
    sim.setServerState(ids[0] as string, { taskState: 'rebooting' });
    const other = await client.submit([{ id: ids[0] as string }], {}, { imageRef: IMAGE });
    const res = await client.action(id, { redrive: { status: ['CANCELLED'] } });
    expect(res.status).toBe(409);
    expect(res.json.conflictingRequest.message).toContain(other);
    sim.setServerState(ids[0] as string, { taskState: null });
    await client.untilEnded(other);
  });
});
