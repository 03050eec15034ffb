/**
 * Rollouts in waves (lib/jobs/rollout.ts) in the virtual world: the real submit path, worker,
 * watcher and state machine over the in-memory store and queue, against the in-memory cloud.
 */
import { describe, expect, it } from 'vitest';
import { resumeJob } from '../../../lib/jobs/actions.js';
import { isWatchMessage } from '../../../lib/jobs/message.js';
import type { JobRecord, ServerRecord } from '../../../lib/jobs/model.js';
import { QueueUnavailableError } from '../../../lib/errors.js';
import { World } from '../../support/world.js';

async function records(w: World): Promise<ServerRecord[]> {
  return Promise.all(w.ids.map((id) => w.record(id)));
}

/** Delivers what is due, moving the clock a second at a time, until `done` holds of the job (or a simulated hour passed). */
async function runUntil(w: World, done: (job: JobRecord) => boolean): Promise<JobRecord> {
  const until = w.now + 3600_000;
  while (w.now < until) {
    w.cloud.settle();
    const job = (await w.memory.getJob(w.jobId)) as JobRecord;
    if (done(job)) return job;
    const [next] = w.queue.visible();
    if (next) await w.deliver(next);
    else w.now += 1000;
  }
  throw new Error('never happened');
}

describe('a rollout in waves', () => {
  it('runs the canary first, then one wave at a time, each only once the waves before it have ended', async () => {
    const w = new World({ servers: 10, rebuildMs: 20_000 });
    const submitted = await w.submit({ rollout: { canary: 2, waveSize: 3, pause: 'never' } });
    expect(submitted.rollout).toEqual({ wave: 0, open: 2 });
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('SUCCEEDED');
    expect(job.rollout).toEqual({ wave: 3, open: 10 });
    const recs = await records(w);
    // Waves by place in the list: [0,1] the canary, then [2,3,4], [5,6,7], [8,9].
    const waves = [[0, 1], [2, 3, 4], [5, 6, 7], [8, 9]];
    for (let k = 1; k < waves.length; k++) {
      const lastEndBefore = Math.max(...waves.slice(0, k).flat().map((i) => Date.parse(recs[i]!.endedAt!)));
      for (const i of waves[k]!) {
        const sent = Date.parse(recs[i]!.attemptStartedAt!);
        expect(sent, `server ${i} of wave ${k}`).toBeGreaterThanOrEqual(lastEndBefore);
        // The next wave starts within a minute of the last end (it looks at least once a minute).
        if (k === 1) expect(sent - lastEndBefore, `server ${i}`).toBeLessThanOrEqual(60_000);
      }
    }
    for (const id of w.ids) expect(w.cloud.servers.get(id)?.rebuilds, id).toBe(1);
  });

  it('stops the job when a canary server fails: the rest are never sent and end CANCELLED canaryFailed', async () => {
    const w = new World({ servers: 8, rebuildMs: 20_000 });
    // The second canary server's rebuild ends in ERROR: the canary's three were all sent by then.
    w.cloud.failNextRebuild(w.ids[1]!, 'No valid host was found.');
    await w.submit({ rollout: { canary: 3, waveSize: 5, pause: 'never' } });
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('FAILED');
    expect(job.stop?.by).toBe('canary');
    expect(job.stop?.reason).toMatch(/1 of the canary's 3 servers did not succeed/);
    const recs = await records(w);
    expect(recs[1]!.status).toBe('FAILED');
    for (const i of [0, 2]) expect(recs[i]!.status).toBe('SUCCEEDED');
    for (const rec of recs.slice(3)) {
      expect(rec.status).toBe('CANCELLED');
      expect(rec.faultName).toBe('canaryFailed');
      expect(w.cloud.servers.get(rec.serverId)?.rebuilds).toBe(0);
    }
    expect(w.cloud.callsBy.rebuild).toBe(3);
  });

  it("pauses after the canary when told to, and goes on when a caller resumes", async () => {
    const w = new World({ servers: 6, rebuildMs: 20_000 });
    await w.submit({ rollout: { canary: 1, waveSize: 5, pause: 'afterCanary' } });
    const paused = await runUntil(w, (j) => j.paused !== undefined);
    expect(paused.paused?.by).toBe('rollout');
    expect(paused.counts.SUCCEEDED).toBe(1);
    expect(paused.rollout).toEqual({ wave: 1, open: 6 });
    // Held: ten minutes on, nothing more was sent.
    const until = w.now + 600_000;
    while (w.now < until) {
      const [next] = w.queue.visible();
      if (next) await w.deliver(next);
      else w.now += 5000;
    }
    expect(w.cloud.callsBy.rebuild).toBe(1);
    await resumeJob(w.memory, w.caller, w.jobId);
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('SUCCEEDED');
    expect(w.cloud.callsBy.rebuild).toBe(6);
  });

  it('pauses between every wave with betweenWaves', async () => {
    const w = new World({ servers: 5, rebuildMs: 10_000 });
    await w.submit({ rollout: { canary: 1, waveSize: 2, pause: 'betweenWaves' } });
    const opened: number[] = [];
    for (;;) {
      const job = await runUntil(w, (j) => j.paused !== undefined || j.finalStatus !== undefined);
      if (job.finalStatus) {
        expect(job.finalStatus).toBe('SUCCEEDED');
        break;
      }
      opened.push(job.rollout!.open);
      expect(job.counts.SUCCEEDED, 'the waves before the pause all ended').toBe(opened.length === 1 ? 1 : opened[opened.length - 2]);
      await resumeJob(w.memory, w.caller, w.jobId);
    }
    expect(opened).toEqual([3, 5]);
  });

  it('opens the next wave even when the write that ended the last one died before it could (the gate is looked at again)', async () => {
    const w = new World({ servers: 4, rebuildMs: 10_000 });
    await w.submit({ rollout: { canary: 1, waveSize: 3, pause: 'never' } });
    // The store refuses the first wave-opening write, as if its writer died just before it.
    const openWave = w.memory.openWave.bind(w.memory);
    let refused = 0;
    w.memory.openWave = async (...args) => (refused++ === 0 ? false : openWave(...args));
    const job = await w.runToEnd();
    expect(refused).toBeGreaterThanOrEqual(2);
    expect(job.finalStatus).toBe('SUCCEEDED');
    expect(w.cloud.callsBy.rebuild).toBe(4);
  });

  it('judges a wave by its own servers: servers behind the gate that ended unsent (the queue failed at submission) neither open waves nor fail the canary', async () => {
    const w = new World({ servers: 10, rebuildMs: 10_000 });
    // The queue takes the first four messages (the canary's two and two more), then fails.
    const send = w.queue.send.bind(w.queue);
    w.queue.send = async (messages) => {
      await send(messages.slice(0, 4));
      throw new QueueUnavailableError('queue down', new Set(messages.slice(0, 4).map((m) => m.serverId)));
    };
    await expect(w.submit({ rollout: { canary: 2, waveSize: 4, pause: 'never' } })).rejects.toThrow(/queue failed/);
    w.queue.send = send;
    w.jobId = [...w.memory.jobs.keys()][0]!;
    const job = await w.runToEnd();
    expect(job.stop).toBeUndefined();
    expect(job.finalStatus).toBe('PARTIAL');
    const recs = await records(w);
    expect(recs.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', ...Array(6).fill('FAILED')]);
    // The two sent servers of the second wave started only after the canary had ended.
    const canaryEnd = Math.max(...[0, 1].map((i) => Date.parse(recs[i]!.endedAt!)));
    for (const i of [2, 3]) expect(Date.parse(recs[i]!.attemptStartedAt!)).toBeGreaterThanOrEqual(canaryEnd);
  });

  it('runs a redrive at once, with no waves: they were judged in the first run', async () => {
    const w = new World({ servers: 4, rebuildMs: 10_000 });
    w.cloud.delete(w.ids[0]!);
    await w.submit({ rollout: { canary: 1, waveSize: 3, pause: 'never' } });
    const first = await w.runToEnd();
    expect(first.stop?.by).toBe('canary');
    await w.redrive(['CANCELLED']);
    const job = await w.runToEnd();
    expect(job.counts.SUCCEEDED).toBe(3);
    expect(job.counts.FAILED).toBe(1);
    expect(w.queue.messages.filter((m) => !isWatchMessage(m.msg))).toHaveLength(0);
  });
});
