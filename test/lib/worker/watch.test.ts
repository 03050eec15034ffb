/**
 * The job's watcher (lib/worker/watch.ts) in the virtual world: the real submit path, worker,
 * watcher and state machine over the in-memory store and a queue with SQS's rules on a clock that
 * moves only when told, against the in-memory cloud.
 */
import { describe, expect, it } from 'vitest';
import { isWatchMessage } from '../../../lib/jobs/message.js';
import { type WatchState, isTerminal } from '../../../lib/jobs/model.js';
import { DEFAULT_WATCH_SETTINGS, expectedDurationSeconds, overdueSeconds, paceSeconds } from '../../../lib/worker/watch.js';
import { World } from '../../support/world.js';

const S = DEFAULT_WATCH_SETTINGS;

function watch(partial: Partial<WatchState>): WatchState {
  return { gen: 1, tick: 0, durations: [], preflight: 'none', mode: 'list', lists: 0, ...partial };
}

describe('the pace', () => {
  const now = new Date('2026-12-01T02:00:00Z');

  it('spends about listBudget lists per rebuild, within [minPace, maxPace]', () => {
    // 20 rebuilds of 5 s in flight end at 4 a second: 0.08 lists each is a list every 3.1 s.
    expect(paceSeconds(S, watch({ durations: [5, 5, 5] }), 20, now)).toBe(3);
    // Long rebuilds: never slower than maxPace, so an end is seen within seconds.
    expect(paceSeconds(S, watch({ durations: [300] }), 20, now)).toBe(S.maxPaceSeconds);
    // Many short rebuilds: never more than one list a second.
    expect(paceSeconds(S, watch({ durations: [2] }), 500, now)).toBe(S.minPaceSeconds);
  });

  it('before any end is seen, takes a rebuild to last at least as long as the busy spell has', () => {
    expect(expectedDurationSeconds(S, watch({}), now)).toBe(S.priorDurationSeconds);
    const busySince = new Date(now.getTime() - 45_000).toISOString();
    expect(expectedDurationSeconds(S, watch({ busySince }), now)).toBe(45);
    expect(expectedDurationSeconds(S, watch({ busySince, durations: [7, 9, 30] }), now)).toBe(9);
  });

  it('takes a server as overdue only well past the longest rebuild seen', () => {
    expect(overdueSeconds(S, watch({}))).toBe(S.overdueMinSeconds);
    expect(overdueSeconds(S, watch({ durations: [100, 400] }))).toBe(1200);
  });
});

/**
 * Two servers, the second changed a moment ago (a reboot that is over, so the watcher's first list
 * shows it); the first accepted (its watcher started), the second's message not yet delivered.
 */
async function firstAcceptedSecondWaiting() {
  const w = new World({ servers: 2, rebuildMs: 30_000 });
  w.cloud.reboot(w.ids[1]!, 500);
  w.now += 1000;
  await w.submit();
  await w.deliver(w.queue.visible()[0]!);
  const second = w.queue.messages.find((m) => !isWatchMessage(m.msg) && m.msg.serverId === w.ids[1])!;
  return { w, second };
}

describe('the watcher', () => {
  it('follows accepted rebuilds with lists of the project, not a GET per server, and sees each end within the pace', async () => {
    const w = new World({ servers: 40, rebuildMs: 30_000 });
    await w.submit({ maxInFlight: 20 });
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('SUCCEEDED');
    expect(w.cloud.callsBy.get).toBe(0);
    expect(w.cloud.callsBy.actions).toBe(0);
    expect(w.cloud.callsBy.rebuild).toBe(40);
    // The preflight's one list, then the watcher's: two waves of 30 s looked at every maxPace (4 s),
    // plus each wave's first look: about 18. The look that ended the job is not counted on it.
    expect(w.cloud.callsBy.list).toBeLessThanOrEqual(20);
    expect(job.watch?.lists).toBeGreaterThanOrEqual(w.cloud.callsBy.list - 1);
    for (const id of w.ids) {
      const rec = await w.record(id);
      const lag = Date.parse(rec.endedAt!) - w.cloud.rebuildEnds.get(id)!;
      expect(lag, id).toBeGreaterThanOrEqual(0);
      expect(lag, id).toBeLessThanOrEqual(S.maxPaceSeconds * 1000);
    }
    // Every server has its project checked by the preflight's list, none by a GET.
    expect((await w.record(w.ids[0]!)).projectChecked).toBe(true);
  });

  for (const skewMs of [-300_000, 300_000]) {
    it(`sees short rebuilds end with the cloud's clock ${skewMs / 60_000} min off ours`, async () => {
      const w = new World({ servers: 3, rebuildMs: 700, skewMs, startMs: 600 });
      await w.submit();
      const job = await w.runToEnd();
      expect(job.finalStatus).toBe('SUCCEEDED');
      // The project checks only: every end was seen by a list, within a look or two.
      expect(w.cloud.callsBy.get).toBe(3);
      for (const id of w.ids) expect(Date.parse((await w.record(id)).endedAt!) - w.cloud.rebuildEnds.get(id)!).toBeLessThanOrEqual(2 * S.maxPaceSeconds * 1000);
    });
  }

  it('goes idle with nothing in flight: no list while the only server waits out a long Retry-After', async () => {
    const w = new World({ servers: 1, rebuildMs: 10_000 });
    w.cloud.rebuildFaults = ['rateLimitedLong'];
    await w.submit();
    await w.deliver(w.queue.messages[0]!);
    expect(w.queue.messages.filter((m) => isWatchMessage(m.msg))).toHaveLength(0);
    const lists = w.cloud.callsBy.list;
    w.now += 1_700_000;
    for (const m of w.queue.visible()) await w.deliver(m);
    expect(w.cloud.callsBy.list).toBe(lists);
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('SUCCEEDED');
    // The one rebuild was then followed by lists started after its 202; the one GET is the project
    // check of a job too small for a preflight.
    expect(w.cloud.callsBy.list).toBeGreaterThan(lists);
    expect(w.cloud.callsBy.get).toBe(1);
  });

  it('ends a server deleted during its rebuild FAILED deleted, from the list that shows it DELETED', async () => {
    const w = new World({ servers: 3, rebuildMs: 60_000 });
    await w.submit();
    for (let i = 0; i < 3; i++) await w.deliver(w.queue.visible()[0]!);
    w.cloud.delete(w.ids[1]!);
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('PARTIAL');
    expect(await w.record(w.ids[1]!)).toMatchObject({ status: 'FAILED', faultName: 'deleted', novaState: 'DELETED' });
    // The project checks of a job too small for a preflight, and nothing else.
    expect(w.cloud.callsBy.get).toBe(3);
  });

  it("ends a server that went to ERROR with the cloud's fault, scrubbed of the job's secrets", async () => {
    const w = new World({ servers: 2, rebuildMs: 20_000 });
    w.cloud.failNextRebuild(w.ids[0]!, "Build of instance failed: injected adminPass 'seekr3t' (c2Vla3IzdA==) rejected");
    await w.submit({}, { adminPass: 'seekr3t' });
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('PARTIAL');
    const rec = await w.record(w.ids[0]!);
    expect(rec).toMatchObject({ status: 'FAILED', faultName: 'serverError', novaState: 'ERROR' });
    expect(rec.faultMessage).toContain('Build of instance failed');
    expect(rec.faultMessage).not.toContain('seekr3t');
    expect(rec.faultMessage).not.toContain('c2Vla3IzdA==');
  });

  it('withholds the fault of a server whose own secrets the watcher does not hold', async () => {
    const w = new World({ servers: 1, rebuildMs: 20_000 });
    w.cloud.failNextRebuild(w.ids[0]!, 'quoted: mine-alone');
    await w.submit({}, { adminPass: 'shared' });
    // The server's own adminPass, as a per-server override in the request, is in its record (redacted) and message.
    const rec0 = (await w.record(w.ids[0]!))!;
    w.memory.servers.set(`${rec0.jobId}/${rec0.serverId}`, { ...rec0, rebuild: { adminPass: '***' } });
    for (const m of w.queue.messages) if (!isWatchMessage(m.msg)) m.msg.rebuild = { ...m.msg.rebuild, adminPass: 'mine-alone' };
    await w.runToEnd();
    const rec = await w.record(w.ids[0]!);
    expect(rec.status).toBe('FAILED');
    expect(rec.faultMessage).not.toContain('mine-alone');
    expect(rec.faultMessage).toMatch(/not kept here/);
  });

  it('is replaced by a server’s safety net when its messages are lost, and the rebuilds still end', async () => {
    const w = new World({ servers: 2, rebuildMs: 20_000 });
    await w.submit();
    for (let i = 0; i < 2; i++) await w.deliver(w.queue.visible()[0]!);
    const lost = w.queue.messages.filter((m) => isWatchMessage(m.msg));
    expect(lost.length).toBeGreaterThan(0);
    w.queue.messages = w.queue.messages.filter((m) => !isWatchMessage(m.msg));
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('SUCCEEDED');
    expect(job.watch!.gen).toBeGreaterThan(1);
    // The project checks only: the lost watcher's successor followed them, not GETs.
    expect(w.cloud.callsBy.get).toBe(2);
    for (const id of w.ids) {
      const rec = await w.record(id);
      // Found by the new watcher: within the safety net's period, the lost-after grace and one look.
      expect(Date.parse(rec.endedAt!) - w.cloud.rebuildEnds.get(id)!).toBeLessThanOrEqual((S.safetyNetSeconds + S.lostAfterSeconds + S.firstLookSeconds + S.maxPaceSeconds) * 1000);
    }
  });

  it('falls back to one GET per server when the cloud forbids lists', async () => {
    const w = new World({ servers: 25, rebuildMs: 20_000 });
    w.cloud.listsForbidden = true;
    await w.submit({ maxInFlight: 25 });
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('SUCCEEDED');
    expect(job.watch?.mode).toBe('per-server');
    // The preflight's list was refused: each server checked its project itself, then was followed by GETs.
    expect(w.cloud.callsBy.list).toBe(1);
    expect(w.cloud.callsBy.get).toBeGreaterThanOrEqual(50);
  });

  it("checks the project from the preflight's list: a server of another project fails wrongProject before any rebuild", async () => {
    const w = new World({ servers: 30, rebuildMs: 10_000 });
    w.cloud.servers.get(w.ids[7]!)!.tenantId = '26750a5aa44743f2af0da2959069b0d3';
    await w.submit({ maxInFlight: 30 });
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('PARTIAL');
    expect(await w.record(w.ids[7]!)).toMatchObject({ status: 'FAILED', faultName: 'wrongProject' });
    expect(w.cloud.servers.get(w.ids[7]!)!.rebuilds).toBe(0);
    // One list for the preflight; the server it did not find was looked at by itself.
    expect(w.cloud.callsBy.get).toBe(1);
  });

  it('never ends a server from a list taken before its 202 was recorded', async () => {
    const { w, second } = await firstAcceptedSecondWaiting();
    // The watcher's list is answered from before the second server's rebuild; the second's 202 is
    // recorded while that answer is on its way.
    const list = w.cloud.listServers.bind(w.cloud);
    let raced = false;
    w.compute = new Proxy(w.cloud, {
      get(obj, key) {
        if (key !== 'listServers') return Reflect.get(obj, key);
        return async (...args: Parameters<typeof list>) => {
          const answer = await list(...args);
          if (!raced) {
            raced = true;
            await w.deliver(second, { ...w.deps(), compute: w.cloud });
          }
          return answer;
        };
      },
    });
    w.now += S.firstLookSeconds * 1000;
    const watcher = w.queue.visible().find((m) => isWatchMessage(m.msg))!;
    await w.deliver(watcher);
    expect(raced).toBe(true);
    // The stale view (ACTIVE on the old image, no task) did not end it as wrongImage.
    expect((await w.record(w.ids[1]!)).status).toBe('ACCEPTED');
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('SUCCEEDED');
  });

  it("ends at once a server whose rebuild is found to be ours only after it ended, when the watcher's lists have moved past it", async () => {
    const w = new World({ servers: 2, rebuildMs: 5_000 });
    await w.submit();
    const [first, second] = w.queue.visible().filter((m) => !isWatchMessage(m.msg));
    await w.deliver(first!);
    // The second's worker dies between Nova's 202 and its own write: its message comes back only
    // after the visibility timeout, long after the rebuild ended.
    const crashing = { ...w.deps(), crashPoint: (point: string) => { if (point === 'afterRebuildAnswered') throw new Error('worker died'); } };
    expect(await w.deliver(second!, crashing)).toBe('threw');
    const secondId = (second!.msg as { serverId: string }).serverId;
    // Meanwhile the watcher follows the first to its end and its cursor moves on past both ends.
    while (w.now < w.cloud.rebuildEnds.get(secondId)! + 60_000) {
      w.now += 1000;
      for (const m of w.queue.visible().filter((x) => isWatchMessage(x.msg))) await w.deliver(m);
    }
    expect((await w.record(secondId)).status).toBe('SUBMITTING');
    w.now = Math.max(w.now, second!.visibleAt);
    const lists = w.cloud.callsBy.list;
    expect(await w.deliver(second!)).toBe('SUCCEEDED');
    // Ended by the one look its recovery takes, not left for a list that would never show it again.
    expect(w.cloud.callsBy.list).toBe(lists);
    expect(w.cloud.servers.get(secondId)?.rebuilds).toBe(1);
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('SUCCEEDED');
  });

  it("does not end at once a server whose 'ours' is only a rebuild in the window while its own attempt may still act", async () => {
    const w = new World({ servers: 1, rebuildMs: 1_000, lateMs: 30_000 });
    const id = w.ids[0]!;
    // An operator rebuilt the server a moment ago, to another image.
    await w.cloud.rebuild({ tenantId: 'x', microversion: '2.1' }, id, { imageRef: 'c4f2b8f1-3a5e-4d1b-9a57-2f0e6d8b9c31' }, 'op');
    w.now += 2_000;
    await w.submit();
    // Our attempt gets a 504 while Nova holds it (it acts 30 s later): its outcome is unknown.
    w.cloud.rebuildFaults = ['actLate'];
    const step = () => w.deliver(w.queue.visible().find((m) => !isWatchMessage(m.msg))!);
    expect(await step()).toBe('verify-scheduled');
    expect((await w.record(id)).uncertain).toBeDefined();
    // The first look finds the operator's rebuild in the window, already over on its image. It may
    // be taken for ours, but the server is not ended on it: our own attempt can still act, so the
    // server keeps its lock and slot and is followed like any accepted rebuild.
    w.now += 5_000;
    expect(await step()).toBe('accepted');
    const held = await w.record(id);
    expect(held.status).toBe('ACCEPTED');
    const lastAttemptAt = Date.parse(held.uncertain?.lastAttemptAt ?? held.attemptStartedAt!);
    expect(Date.parse(held.holdUntil!)).toBe(lastAttemptAt + w.settings.settleSeconds * 1000);
    // Until the settle time, neither the watcher's lists nor the safety net end it, though every
    // list shows the operator's rebuild over (and, 30 s on, our own running).
    while (w.now < Date.parse(held.holdUntil!) - 1000) {
      w.cloud.settle();
      const [next] = w.queue.visible();
      if (next) await w.deliver(next);
      else w.now += 1000;
      expect(isTerminal((await w.record(id)).status), `at ${new Date(w.now).toISOString()}`).toBe(false);
    }
    // Our held rebuild acted and ended long ago, behind the watcher's cursor: the look after the
    // hold ends the server on its image, without waiting for the ten-minute overdue look.
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('SUCCEEDED');
    const rec = await w.record(id);
    expect(rec.status).toBe('SUCCEEDED');
    expect(Date.parse(rec.endedAt!) - Date.parse(held.holdUntil!)).toBeLessThan(S.safetyNetSeconds * 1000);
    expect(w.cloud.servers.get(id)?.rebuilds).toBe(2);
  });

  it("never ends a server from a list taken while its rebuild call was on its way (a slow step's 202 comes after the list)", async () => {
    const { w, second } = await firstAcceptedSecondWaiting();
    // The second server's step starts now; its rebuild call hangs until the watcher has listed.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const rebuild = w.cloud.rebuild.bind(w.cloud);
    const slow = new Proxy(w.cloud, {
      get: (obj, key) => (key === 'rebuild' ? async (...args: Parameters<typeof rebuild>) => (await gate, rebuild(...args)) : Reflect.get(obj, key)),
    });
    const step = w.deliver(second, { ...w.deps(), compute: slow });
    await new Promise((r) => setTimeout(r, 10));
    // Seconds later the watcher lists: the second server is still ACTIVE on its old image, no task.
    w.now += S.firstLookSeconds * 1000 + 1000;
    const list = w.cloud.listServers.bind(w.cloud);
    w.compute = new Proxy(w.cloud, {
      get: (obj, key) =>
        key === 'listServers'
          ? async (...args: Parameters<typeof list>) => {
              const answer = await list(...args);
              // Only now does the rebuild reach the cloud and its 202 get recorded.
              release();
              expect(await step).toBe('accepted');
              return answer;
            }
          : Reflect.get(obj, key),
    });
    const watcher = w.queue.visible().find((m) => isWatchMessage(m.msg))!;
    await w.deliver(watcher);
    // The view from before the rebuild began did not end it as wrongImage.
    expect((await w.record(w.ids[1]!)).status).toBe('ACCEPTED');
    w.compute = w.cloud;
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('SUCCEEDED');
  });
});
