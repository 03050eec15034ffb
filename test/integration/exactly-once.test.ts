/**
 * SQS delivers at least once. Here every message the API and the worker send is sent three
 * times, and the worker still rebuilds each server exactly once, with exact counters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_STATES } from '../../lib/jobs/model.js';
import type { ComputeSimulator } from '../../local/sim/index.js';
import { type LocalStack, startLocalStack } from '../../local/stack.js';

const IMAGE = '70a599e0-31e7-49b7-b260-868f441e862b';
let stack: LocalStack;
let sim: ComputeSimulator;

beforeAll(async () => {
  stack = await startLocalStack({
    env: { WATCH_FIRST_LOOK_SECONDS: '1', WATCH_MAX_PACE_SECONDS: '1', BACKOFF_BASE_SECONDS: '1', BACKOFF_CAP_SECONDS: '2', CLAIM_LEASE_SECONDS: '2' },
    queue: { visibilityTimeoutSeconds: 3 },
    duplicateMessages: 3,
    worker: { poller: { batchSize: 10, batchingWindowSeconds: 0, maxConcurrency: 6 }, simulator: { serverCount: 60 } },
  });
  sim = stack.sim as ComputeSimulator;
});
afterAll(async () => {
  await stack?.stop();
});

describe('every message delivered three times', () => {
  it('rebuilds each of 60 servers exactly once, some through a 409 window, with exact counters', async () => {
    const busy = sim.serverIds.slice(0, 10);
    for (const id of busy) sim.setServerState(id, { taskState: 'rebooting' });
    // Each busy server is freed once Nova has refused it: the window is really met, whatever the pace.
    const refused = new Set<string>();
    const freeing = setInterval(() => {
      for (const r of sim.requests()) {
        if (r.kind === 'rebuild' && r.status === 409 && r.serverId && busy.includes(r.serverId) && !refused.has(r.serverId)) {
          refused.add(r.serverId);
          sim.setServerState(r.serverId, { taskState: null });
        }
      }
    }, 100);
    const res = await fetch(`${stack.apiUrl}/v2/${sim.tenantId}/rebuild-jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rebuildJob: { rebuild: { imageRef: IMAGE }, servers: sim.serverIds.map((id) => ({ id })) } }),
    });
    expect(res.status).toBe(202);
    const jobId = ((await res.json()) as { rebuildJob: { id: string } }).rebuildJob.id;
    let job: { status: string; counts: Record<string, number> } | undefined;
    const until = Date.now() + 100_000;
    do {
      await new Promise((r) => setTimeout(r, 300));
      job = ((await (await fetch(`${stack.apiUrl}/v2/${sim.tenantId}/rebuild-jobs/${jobId}`)).json()) as { rebuildJob: typeof job }).rebuildJob;
    } while (job?.status !== 'SUCCEEDED' && Date.now() < until);
    clearInterval(freeing);
    expect(job?.status).toBe('SUCCEEDED');
    expect([...refused].sort()).toEqual([...busy].sort());
    expect(Object.values(sim.rebuildCounts()).filter((n) => n !== 1)).toEqual([]);
    expect(Object.keys(sim.rebuildCounts()).sort()).toEqual([...sim.serverIds].sort());
    const servers = ((await (await fetch(`${stack.apiUrl}/v2/${sim.tenantId}/rebuild-jobs/${jobId}/servers`)).json()) as { servers: { status: string }[] }).servers;
    expect(job?.counts).toEqual(Object.fromEntries(SERVER_STATES.map((s) => [s, servers.filter((x) => x.status === s).length])));
    // The duplicates really were delivered and dropped.
    expect(stack.poller?.stats.messages).toBeGreaterThan(3 * 60);
  });
});
