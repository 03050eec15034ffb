/**
 * Plan first, then confirm (lib/jobs/plan.ts, lib/worker/plan.ts) in the virtual world: the real
 * submit path, watcher, worker, sweeper and state machine over the in-memory store and queue,
 * against the in-memory cloud; and what a plan predicts, server by server, from Nova's rules.
 */
import { describe, expect, it } from 'vitest';
import { cancelJob } from '../../../lib/jobs/cancel.js';
import { isWatchMessage } from '../../../lib/jobs/message.js';
import { PLAN_TTL_SECONDS, type JobPlan, type JobRecord, jobStatus } from '../../../lib/jobs/model.js';
import { IMAGE_CHECK_STANDS_SECONDS, confirmJob, planServer, planView } from '../../../lib/jobs/plan.js';
import { expectOpenApi } from '../../support/openapi.js';
import { IMAGE, World } from '../../support/world.js';

const SECRET = 'plan-s3cret';

async function job(w: World): Promise<JobRecord> {
  return (await w.memory.getJob(w.jobId)) as JobRecord;
}

/** Delivers the watcher's messages until the plan is built. */
async function untilPlanned(w: World): Promise<JobRecord> {
  for (let i = 0; i < 20; i++) {
    const j = await job(w);
    if (j.plan) return j;
    const m = w.queue.visible().find((x) => isWatchMessage(x.msg));
    if (m) await w.deliver(m);
    else w.now += 1000;
  }
  throw new Error('no plan');
}

const confirm = (w: World, secrets = { adminPass: SECRET }) => confirmJob({ store: w.memory, queue: w.queue, life: w.life(), now: w.clock }, w.caller, w.jobId, secrets);

describe('plan, then confirm', () => {
  it('sends nothing until confirmed: PLANNING, then AWAITING_CONFIRMATION with a plan of every server; confirmed, it runs to its end', async () => {
    const w = new World({ servers: 4, rebuildMs: 10_000 });
    w.cloud.delete(w.ids[3]!);
    const submitted = await w.submit({ confirm: 'manual' }, { adminPass: SECRET }, 'queued');
    expect(jobStatus(submitted)).toBe('PLANNING');
    // Only the watcher was sent, and it carries no secret.
    expect(w.queue.messages.map((m) => isWatchMessage(m.msg))).toEqual([true]);
    expect(JSON.stringify(w.queue.messages)).not.toContain(SECRET);
    const planned = await untilPlanned(w);
    expect(jobStatus(planned)).toBe('AWAITING_CONFIRMATION');
    expect(planned.plan?.summary).toEqual({ rebuild: 3, wait: 0, fail: 1, unknown: 0 });
    expect(planned.plan?.images[IMAGE]).toEqual({ found: true, status: 'active', minDisk: 0, minRam: 0 });
    const view = await planView(w.memory, w.caller, w.jobId, {}, 'https://api.example.test');
    expectOpenApi('RebuildJobPlan', view);
    const byId = new Map((view.plan.servers as { id: string; action: string; reason?: string }[]).map((s) => [s.id, s]));
    expect(byId.get(w.ids[3]!)).toMatchObject({ action: 'fail', reason: expect.stringContaining('not found in the project') });
    expect(byId.get(w.ids[0]!)).toMatchObject({ action: 'rebuild' });
    // An hour on, still nothing was sent, and a sweep leaves it be.
    w.now += 3600_000;
    await w.sweep();
    expect(w.cloud.callsBy.rebuild).toBe(0);
    expect(jobStatus(await job(w))).toBe('AWAITING_CONFIRMATION');

    // Without the job's secret the confirmation is refused and changes nothing.
    await expect(confirm(w, {} as { adminPass: string })).rejects.toThrow(/confirm\/rebuild\/adminPass/);
    const confirmed = await confirm(w);
    expect(confirmed.awaiting).toBeUndefined();
    expect(Date.parse(confirmed.deadline)).toBe(w.now + confirmed.options.deadlineSeconds * 1000);
    await expect(confirm(w)).rejects.toThrow(/not awaiting confirmation/);
    const ended = await w.runToEnd();
    expect(ended.finalStatus).toBe('PARTIAL');
    expect(ended.counts).toMatchObject({ SUCCEEDED: 3, FAILED: 1 });
    for (const id of w.ids.slice(0, 3)) expect(w.cloud.servers.get(id)?.rebuilds, id).toBe(1);
  });

  it('expires unconfirmed: the sweep after its time ends every server CANCELLED planExpired, nothing rebuilt, the locks freed', async () => {
    const w = new World({ servers: 3 });
    await w.submit({ confirm: 'manual' });
    await untilPlanned(w);
    w.now += PLAN_TTL_SECONDS * 1000 + 1000;
    await w.sweep();
    const expired = await job(w);
    expect(expired.finalStatus).toBe('CANCELLED');
    expect(expired.stop?.by).toBe('expired');
    for (const id of w.ids) expect((await w.record(id)).faultName).toBe('planExpired');
    expect(w.cloud.callsBy.rebuild).toBe(0);
    expect(w.memory.locks.get(`${w.caller.tenantId}/${w.ids[0]}`)).toBeUndefined();
    await expect(confirm(w)).rejects.toThrow(/not awaiting confirmation/);
  });

  it("ends a plan stopped while awaiting whose cancel was cut short: the sweep ends its servers, before and after the plan's time", async () => {
    for (const later of [60_000, PLAN_TTL_SECONDS * 1000 + 60_000]) {
      const w = new World({ servers: 3 });
      await w.submit({ confirm: 'manual' });
      await untilPlanned(w);
      // The API set the stop, then died before it could end the servers.
      await w.memory.setStop(w.jobId, { by: 'cancel', at: new Date(w.now).toISOString(), reason: 'Cancelled by someone.' });
      w.now += later;
      await w.sweep();
      const swept = await job(w);
      expect(swept.finalStatus, `${later} ms on`).toBe('CANCELLED');
      expect(w.cloud.callsBy.rebuild).toBe(0);
    }
  });

  it('builds, without the list, a plan whose watcher was let go: every server unknown, for the caller to judge', async () => {
    const w = new World({ servers: 2 });
    await w.submit({ confirm: 'manual' }, undefined, 'queued');
    w.queue.messages = w.queue.messages.filter((m) => !isWatchMessage(m.msg));
    w.now += 10 * 60_000;
    await w.sweep();
    expect((await job(w)).plan).toBeUndefined();
    w.now += 6 * 60_000;
    await w.sweep();
    const planned = await job(w);
    expect(jobStatus(planned)).toBe('AWAITING_CONFIRMATION');
    expect(planned.plan).toMatchObject({ listed: false, summary: { rebuild: 0, wait: 0, fail: 0, unknown: 2 } });
  });

  it('is refused while still planning, and a cancelled plan cannot be confirmed', async () => {
    const w = new World({ servers: 2 });
    await w.submit({ confirm: 'manual' }, undefined, 'queued');
    await expect(confirm(w)).rejects.toThrow(/still being built/);
    await untilPlanned(w);
    await cancelJob(w.memory, w.life(), w.caller, w.jobId, w.clock);
    await expect(confirm(w)).rejects.toThrow(/not awaiting confirmation/);
    expect((await w.runToEnd()).finalStatus).toBe('CANCELLED');
    expect(w.cloud.callsBy.rebuild).toBe(0);
  });

  it('checks the target image in Glance: one it does not have fails every server planned onto it', async () => {
    const w = new World({ servers: 2 });
    w.cloud.images.set(IMAGE, null);
    await w.submit({ confirm: 'manual' });
    const planned = await untilPlanned(w);
    expect(planned.plan?.images[IMAGE]).toEqual({ found: false });
    expect(planned.plan?.summary).toEqual({ rebuild: 0, wait: 0, fail: 2, unknown: 0 });
  });
});

describe("what a plan predicts, by Nova's rules", () => {
  const plan: JobPlan = { builtAt: '', listed: true, images: { img: { found: true, status: 'active', minDisk: 20, minRam: 1024 } }, summary: { rebuild: 0, wait: 0, fail: 0, unknown: 0 } };
  const rec = { imageId: 'img' };
  const bulk = { kind: 'bulk' as const };
  const entry = (over: object) => ({ status: 'ACTIVE', taskState: null, imageId: 'old', ...over });

  it('rebuilds ACTIVE and SHUTOFF servers with no task; waits for a busy one', () => {
    expect(planServer(plan, entry({}), rec, bulk).action).toBe('rebuild');
    expect(planServer(plan, entry({ status: 'SHUTOFF' }), rec, bulk).action).toBe('rebuild');
    expect(planServer(plan, entry({ taskState: 'rebooting' }), rec, bulk)).toMatchObject({ action: 'wait', reason: expect.stringContaining('rebooting') });
    expect(planServer(plan, entry({ status: 'BUILD' }), rec, bulk).action).toBe('wait');
  });

  it('fails a server in ERROR on a bulk job\'s first run; rebuilds it in a redrive, or for the single call, as Nova does', () => {
    expect(planServer(plan, entry({ status: 'ERROR' }), rec, bulk)).toMatchObject({ action: 'fail', reason: expect.stringContaining('redrive') });
    expect(planServer(plan, entry({ status: 'ERROR' }), { ...rec, runs: [{ status: 'FAILED', attempts: 0 }] }, bulk)).toMatchObject({ action: 'rebuild', reason: expect.stringContaining('ERROR') });
    // A redrive of the CANCELLED servers is no look at what broke one: it is refused as on the first run.
    expect(planServer(plan, entry({ status: 'ERROR' }), { ...rec, runs: [{ status: 'CANCELLED', attempts: 0 }] }, bulk).action).toBe('fail');
    expect(planServer(plan, entry({ status: 'ERROR' }), rec, { kind: 'single' }).action).toBe('rebuild');
  });

  it('fails paused, suspended, shelved, rescued, locked and missing servers, naming why', () => {
    for (const status of ['PAUSED', 'SUSPENDED', 'SHELVED', 'SHELVED_OFFLOADED', 'RESCUE', 'VERIFY_RESIZE', 'SOFT_DELETED']) {
      expect(planServer(plan, entry({ status }), rec, bulk).action, status).toBe('fail');
    }
    expect(planServer(plan, entry({ locked: true }), rec, bulk)).toMatchObject({ action: 'fail', reason: expect.stringContaining('locked') });
    expect(planServer(plan, undefined, rec, bulk)).toMatchObject({ action: 'fail', reason: expect.stringContaining('not found') });
  });

  it("holds the image's min_disk and min_ram against the flavor where the list showed it; a volume-backed flavor (disk 0) is not held", () => {
    expect(planServer(plan, entry({ flavor: { disk: 10, ram: 2048 } }), rec, bulk)).toMatchObject({ action: 'fail', reason: expect.stringContaining('20 GB') });
    expect(planServer(plan, entry({ flavor: { disk: 40, ram: 512 } }), rec, bulk)).toMatchObject({ action: 'fail', reason: expect.stringContaining('1024 MB') });
    expect(planServer(plan, entry({ flavor: { disk: 0, ram: 2048 } }), rec, bulk).action).toBe('rebuild');
    expect(planServer(plan, entry({}), rec, bulk).action).toBe('rebuild');
    const queued = { ...plan, images: { img: { found: true, status: 'queued' } } };
    expect(planServer(queued, entry({}), rec, bulk)).toMatchObject({ action: 'fail', reason: expect.stringContaining('queued') });
  });

  it('says unknown for every server when the project could not be listed', () => {
    expect(planServer({ ...plan, listed: false, unlisted: 'the cloud answered 503' }, undefined, rec, bulk)).toMatchObject({ action: 'unknown', reason: expect.stringContaining('503') });
  });
});

describe("every job's preflight: the same check, without a confirmation", () => {
  it('builds a plan for a job sent at once; a server whose image Glance does not have fails unsent, and a redrive once it is mended sends it', async () => {
    const w = new World({ servers: 3 });
    w.cloud.images.set(IMAGE, null);
    const submitted = await w.submit();
    // Fewer than 20 servers: no list of the project, but the image was checked.
    expect(submitted.plan).toMatchObject({ listed: false, unlisted: expect.stringContaining('fewer than 20'), images: { [IMAGE]: { found: false } }, summary: { fail: 3 } });
    const view = await planView(w.memory, w.caller, w.jobId, {}, 'https://api.example.test');
    expectOpenApi('RebuildJobPlan', view);
    const ended = await w.runToEnd();
    expect(ended.finalStatus).toBe('FAILED');
    for (const id of w.ids) {
      expect(await w.record(id)).toMatchObject({ status: 'FAILED', attempts: 0, faultName: 'imageNotUsable', faultMessage: expect.stringContaining('not in Glance') });
    }
    expect(w.cloud.callsBy.rebuild).toBe(0);

    // The operator uploads the image; a redrive sends every server, and the old check does not stop it.
    w.cloud.images.delete(IMAGE);
    const again = await w.redrive(['FAILED']);
    expect(again.finalStatus).toBeUndefined();
    const rerun = await w.runToEnd();
    expect(rerun.finalStatus).toBe('SUCCEEDED');
    for (const id of w.ids) expect(w.cloud.servers.get(id)?.rebuilds, id).toBe(1);
  });

  it('lets Nova judge a server first sent after the check stopped standing: its answer is then as quick and more current', async () => {
    const w = new World({ servers: 2 });
    w.cloud.images.set(IMAGE, { id: IMAGE, status: 'queued', min_disk: 0, min_ram: 0 });
    await w.submit();
    expect((await job(w)).plan?.images[IMAGE]).toMatchObject({ found: true, status: 'queued' });
    // The upload finishes; the servers' first steps come six minutes after the check.
    w.cloud.images.delete(IMAGE);
    w.now += (IMAGE_CHECK_STANDS_SECONDS + 60) * 1000;
    expect((await w.runToEnd()).finalStatus).toBe('SUCCEEDED');
    expect(w.cloud.callsBy.rebuild).toBe(2);
  });

  it('does not rebuild a server in ERROR on its first run, whether the list or its own GET saw it; a redrive of the FAILED servers does', async () => {
    for (const servers of [3, 25]) {
      const w = new World({ servers });
      const broken = w.ids[1]!;
      (w.cloud.servers.get(broken) as { fault?: string }).fault = 'Migration failed';
      const submitted = await w.submit();
      expect(submitted.plan?.summary.fail, `${servers} servers`).toBe(servers >= 20 ? 1 : 0);
      const ended = await w.runToEnd();
      expect(ended.counts, `${servers} servers`).toMatchObject({ SUCCEEDED: servers - 1, FAILED: 1 });
      expect(await w.record(broken)).toMatchObject({ status: 'FAILED', attempts: 0, faultName: 'serverInError', faultMessage: expect.stringContaining('redrive') });
      expect(w.cloud.servers.get(broken)?.rebuilds).toBe(0);
      await w.redrive(['FAILED']);
      expect((await w.runToEnd()).finalStatus).toBe('SUCCEEDED');
      expect(w.cloud.servers.get(broken)?.rebuilds).toBe(1);
    }
  });

  it("judges ERROR by the server as it is when it is sent: one the list saw in ERROR and a person mended is rebuilt; one that broke after a list that no longer stands is not", async () => {
    const mended = new World({ servers: 25 });
    const fixed = mended.ids[3]!;
    (mended.cloud.servers.get(fixed) as { fault?: string }).fault = 'Migration failed';
    expect((await mended.submit()).plan?.summary.fail).toBe(1);
    (mended.cloud.servers.get(fixed) as { fault?: string }).fault = undefined; // nova reset-state --active
    expect((await mended.runToEnd()).finalStatus).toBe('SUCCEEDED');
    expect(mended.cloud.servers.get(fixed)?.rebuilds).toBe(1);

    const late = new World({ servers: 25 });
    const broke = late.ids[5]!;
    expect((await late.submit()).plan?.summary.rebuild).toBe(25);
    (late.cloud.servers.get(broke) as { fault?: string }).fault = 'Host lost';
    late.now += (IMAGE_CHECK_STANDS_SECONDS + 60) * 1000;
    expect((await late.runToEnd()).counts).toMatchObject({ SUCCEEDED: 24, FAILED: 1 });
    expect(await late.record(broke)).toMatchObject({ status: 'FAILED', attempts: 0, faultName: 'serverInError' });
    expect(late.cloud.servers.get(broke)?.rebuilds).toBe(0);
  });

  it('waits for the preflight without multiplying messages: a copy of a waiting message delivered twice is dropped', async () => {
    const w = new World({ servers: 25 });
    await w.submit({}, { adminPass: 'seekr3t' }, 'queued');
    const serverMessages = () => w.queue.messages.filter((m) => !isWatchMessage(m.msg));
    for (let second = 0; second < 5; second++) {
      for (const m of w.queue.visible().filter((x) => !isWatchMessage(x.msg))) {
        // SQS delivers this one twice: both copies are seen before either is deleted.
        const copy = { ...m, msg: structuredClone(m.msg) };
        w.queue.messages.push(copy);
        expect(await w.deliver(m)).toBe('waiting-for-preflight');
        expect(await w.deliver(copy)).toBe('dropped');
      }
      expect(serverMessages()).toHaveLength(25);
      w.now += 1000;
    }
    expect((await w.runToEnd()).finalStatus).toBe('SUCCEEDED');
    expect(w.cloud.callsBy.rebuild).toBe(25);
  });

  it('lists the project for a large job and plans each server from it, as a plan to confirm does', async () => {
    const w = new World({ servers: 25 });
    w.cloud.delete(w.ids[24]!);
    const submitted = await w.submit();
    expect(submitted.plan).toMatchObject({ listed: true, summary: { rebuild: 24, fail: 1, wait: 0, unknown: 0 } });
    const ended = await w.runToEnd();
    expect(ended.counts).toMatchObject({ SUCCEEDED: 24, FAILED: 1 });
  });
});
