/**
 * Jobs by selection (lib/worker/select.ts) in the virtual world: the real submit path, watcher,
 * worker, sweeper and state machine over the in-memory store and queue, against the in-memory
 * cloud (which lists the whole project whatever the filters: the filters themselves are Nova's,
 * tested against the simulator in test/integration/operations.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { cancelJob } from '../../../lib/jobs/cancel.js';
import { isWatchMessage } from '../../../lib/jobs/message.js';
import type { JobRecord } from '../../../lib/jobs/model.js';
import type { JobStore } from '../../../lib/jobs/ports.js';
import { submitJob } from '../../../lib/jobs/submit.js';
import { ServerLife } from '../../../lib/jobs/lifecycle.js';
import type { RebuildRequest } from '../../../lib/request/rebuild-schema.js';
import { IMAGE, World } from '../../support/world.js';

async function submitSelect(w: World, exclude: string[] = []): Promise<JobRecord> {
  const shared = { imageRef: IMAGE, adminPass: 'sel-s3cret' } as RebuildRequest;
  const { job } = await submitJob(
    { store: w.memory, queue: w.queue, life: new ServerLife({ store: w.memory, now: w.clock, minFailureSample: 10 }), now: w.clock, retentionDays: 30 },
    {
      caller: w.caller,
      kind: 'bulk',
      request: {
        options: { microversion: '2.1', maxAttempts: 30, deadlineSeconds: 7200, maxFailurePercentage: 100, maxInFlight: 50 },
        shared,
        servers: [],
        select: { filters: { name: '^web-' }, exclude, max: 100 },
      },
    },
  );
  w.jobId = job.jobId;
  return job;
}

describe('a job by selection', () => {
  it('resolves in its watcher, then runs every matched server but the excluded ones, each once', async () => {
    const w = new World({ servers: 5, rebuildMs: 10_000 });
    const submitted = await submitSelect(w, [w.ids[4]!]);
    expect(submitted).toMatchObject({ total: 0, selection: { state: 'resolving' } });
    expect(JSON.stringify(await w.memory.getJob(w.jobId))).not.toContain('sel-s3cret');
    const job = await w.runToEnd();
    expect(job).toMatchObject({ finalStatus: 'SUCCEEDED', total: 4, selection: { state: 'sent', matched: 4 } });
    expect(w.ids.map((id) => w.cloud.servers.get(id)?.rebuilds)).toEqual([1, 1, 1, 1, 0]);
  });

  for (const step of ['listed', 'ready', 'sent'] as const) {
    it(`survives a worker that dies just before the selection's move to ${step}: nothing twice, no stray record`, async () => {
      const w = new World({ servers: 6, rebuildMs: 10_000 });
      const advance = w.memory.advanceSelection.bind(w.memory);
      let died = false;
      w.memory.advanceSelection = async (...args: Parameters<JobStore['advanceSelection']>) => {
        if (args[2] === step && !died) {
          died = true;
          throw new Error('worker died');
        }
        return advance(...args);
      };
      await submitSelect(w);
      const job = await w.runToEnd();
      expect(died).toBe(true);
      expect(job).toMatchObject({ finalStatus: 'SUCCEEDED', total: 6 });
      expect(w.ids.map((id) => w.cloud.servers.get(id)?.rebuilds)).toEqual([1, 1, 1, 1, 1, 1]);
      expect((await w.memory.listServers(w.jobId, { limit: 100 })).items).toHaveLength(6);
    });
  }

  it('is resolved by one delivery at a time: two copies of the watcher message delivered together rebuild each server once', async () => {
    const w = new World({ servers: 6, rebuildMs: 10_000 });
    await submitSelect(w);
    const [watcher] = w.queue.messages.filter((m) => isWatchMessage(m.msg));
    w.queue.messages.push({ ...watcher!, msg: { ...watcher!.msg } });
    const copies = w.queue.visible().filter((m) => isWatchMessage(m.msg));
    expect(copies).toHaveLength(2);
    const results = await Promise.all(copies.map((m) => w.deliver(m)));
    expect(results).toContain('threw');
    const job = await w.runToEnd();
    expect(job).toMatchObject({ finalStatus: 'SUCCEEDED', total: 6 });
    expect(w.ids.map((id) => w.cloud.servers.get(id)?.rebuilds)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('ends CANCELLED, at once and nothing rebuilt, when cancelled while its worker had died writing its servers', async () => {
    const w = new World({ servers: 4 });
    const advance = w.memory.advanceSelection.bind(w.memory);
    w.memory.advanceSelection = async (...args: Parameters<JobStore['advanceSelection']>) => {
      if (args[2] === 'ready') throw new Error('worker died');
      return advance(...args);
    };
    await submitSelect(w);
    const watcher = w.queue.visible().find((m) => isWatchMessage(m.msg))!;
    expect(await w.deliver(watcher)).toBe('threw');
    expect((await w.memory.getJob(w.jobId))?.selection?.state).toBe('listed');
    const reads = { n: 0 };
    const getJob = w.memory.getJob.bind(w.memory);
    w.memory.getJob = async (id: string) => (reads.n++, getJob(id));
    await cancelJob(w.memory, w.life(), w.caller, w.jobId, w.clock);
    // No write retried against a job whose servers are not counted yet.
    expect(reads.n).toBeLessThan(5);
    w.memory.advanceSelection = advance;
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('CANCELLED');
    expect(w.cloud.callsBy.rebuild).toBe(0);
  });

  it('ends FAILED when its watcher never resolved it (the message lost): the sweep after a quarter of an hour says so', async () => {
    const w = new World({ servers: 3 });
    await submitSelect(w);
    w.queue.messages = w.queue.messages.filter((m) => !isWatchMessage(m.msg));
    w.now += 10 * 60_000;
    await w.sweep();
    expect((await w.memory.getJob(w.jobId))?.finalStatus).toBeUndefined();
    w.now += 6 * 60_000;
    await w.sweep();
    const job = (await w.memory.getJob(w.jobId)) as JobRecord;
    expect(job.finalStatus).toBe('FAILED');
    expect(job.selection?.reason).toMatch(/not resolved within 15 minutes/);
    expect(w.cloud.callsBy.rebuild).toBe(0);
  });

  it('ends CANCELLED when cancelled before it was resolved', async () => {
    const w = new World({ servers: 3 });
    await submitSelect(w);
    await cancelJob(w.memory, w.life(), w.caller, w.jobId, w.clock);
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('CANCELLED');
    expect(job.selection?.state).toBe('failed');
    expect(w.cloud.callsBy.rebuild).toBe(0);
  });
});
