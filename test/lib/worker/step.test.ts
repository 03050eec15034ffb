/**
 * The worker's steps in a virtual world (test/support/world.ts): the real submit path, worker and
 * state machine over the in-memory store, a queue with SQS's rules on a clock that moves only
 * when told, and an in-memory cloud whose every answer is planned.
 */
import { describe, expect, it } from 'vitest';
import { World } from '../../support/world.js';

describe("the worker's waits and budgets", () => {
  it("honours a Retry-After longer than SQS's 15-minute delay by chaining messages, and sends nothing before it", async () => {
    const w = new World({ servers: 1 });
    w.cloud.rebuildFaults = ['rateLimitedLong'];
    await w.submit();
    const [first] = w.queue.messages;
    expect(await w.deliver(first!)).toBe('retry-scheduled');
    const [id] = w.ids;
    const waiting = await w.record(id!);
    expect(waiting).toMatchObject({ status: 'RETRY_WAIT', lastHttpStatus: 429, attempts: 1 });
    expect(Date.parse(waiting.nextCheckAt!) - w.now).toBe(1_800_000);
    const [chained] = w.queue.messages;
    expect(chained!.visibleAt - w.now).toBe(900_000);
    expect(Date.parse((chained!.msg as { notBefore?: string }).notBefore!) - w.now).toBe(1_800_000);

    const calls = w.cloud.calls;
    w.now += 900_000;
    // SQS delivers the chained message twice: one copy chains on, the other is dropped.
    const link = w.queue.visible()[0]!;
    const copy = { ...link, msg: structuredClone(link.msg) };
    w.queue.messages.push(copy);
    expect(await w.deliver(link)).toBe('deferred');
    expect(await w.deliver(copy)).toBe('dropped');
    expect(w.queue.messages).toHaveLength(1);
    expect(w.cloud.calls).toBe(calls);
    w.now += 900_000;
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('SUCCEEDED');
    expect(w.cloud.servers.get(id!)?.rebuilds).toBe(1);
  });

  it('spends no attempt on requests that certainly never left, yet keeps to the deadline', async () => {
    const w = new World({ servers: 1 });
    w.cloud.rebuildFaults = ['unsent', 'unsent', 'unsent'];
    await w.submit({ maxAttempts: 1 });
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('SUCCEEDED');
    expect(await w.record(w.ids[0]!)).toMatchObject({ attempts: 1, tries: 4 });
  });

  it("takes a 409 'task_state rebuilding' after an unknown outcome for its own rebuild running: no second rebuild, even when the cloud's records lag", async () => {
    // Nova acted but the answer was lost; its records then lag behind (no action listed, no task
    // shown) through the settle time, so the worker sends again and meets Nova's 409.
    const w = new World({ servers: 1, rebuildMs: 600_000 });
    w.cloud.rebuildFaults = ['lostAfter'];
    w.cloud.readFaults = ['none', 'stale', 'stale', 'stale', 'stale'];
    await w.submit();
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('SUCCEEDED');
    const rec = await w.record(w.ids[0]!);
    expect(rec).toMatchObject({ status: 'SUCCEEDED', attempts: 2, everUncertain: true });
    expect(w.cloud.servers.get(w.ids[0]!)?.rebuilds).toBe(1);
  });

  it('keeps the mark of an unknown outcome while the cloud cannot be asked, and ends it at the deadline as outcomeUnknown', async () => {
    const w = new World({ servers: 1 });
    w.cloud.rebuildFaults = ['lostBefore'];
    w.cloud.readFaults = ['none', ...Array.from({ length: 400 }, () => 'unavailable' as const)];
    await w.submit({ deadlineSeconds: 3600 });
    const job = await w.runToEnd();
    expect(job.finalStatus).toBe('FAILED');
    const rec = await w.record(w.ids[0]!);
    expect(rec.faultName).toMatch(/outcomeUnknown|deadlineExceeded/);
    expect(w.cloud.servers.get(w.ids[0]!)?.rebuilds).toBe(0);
  });
});
