/**
 * Projects are granted, not named: the local stack with grants of its own, driving the simulator
 * through a fixed endpoint with an admin token — the credential that can reach any project's
 * server by id, which is exactly what the worker's project check must not let a job do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ComputeSimulator, startComputeSimulator } from '../../local/sim/index.js';
import { LOCAL_PRINCIPAL } from '../../local/gateway.js';
import { type LocalStack, startLocalStack } from '../../local/stack.js';
import { IMAGE, StackClient } from '../support/client.js';

let sim: ComputeSimulator;
let stack: LocalStack;

beforeAll(async () => {
  sim = await startComputeSimulator({ port: 0 });
  stack = await startLocalStack({
    env: {
      // Nova's versioned root without a project, and an admin's token: every project's servers are reachable by id.
      COMPUTE_URL: sim.computeUrl,
      COMPUTE_TOKEN: sim.issueToken({ userName: 'sim-admin' }),
      PROJECT_GRANTS: JSON.stringify({ [LOCAL_PRINCIPAL]: [sim.tenantId] }),
      WATCH_FIRST_LOOK_SECONDS: '1',
      WATCH_MAX_PACE_SECONDS: '1',
    },
    worker: { poller: { batchingWindowSeconds: 0 }, sweepEverySeconds: 0 },
  });
});
afterAll(async () => {
  await stack?.stop();
  await sim?.stop();
});

const own = new StackClient(() => stack, () => sim.tenantId);

describe('projects are granted, not named', () => {
  it("fails a server of another project as wrongProject before any rebuild call, even with an admin token that could reach it", async () => {
    const mine = sim.createServer().id;
    const theirs = sim.createServer({ tenantId: sim.otherTenantId }).id;
    const jobId = await own.submit([{ id: mine }, { id: theirs }]);
    const job = await own.untilEnded(jobId);
    expect(job.status).toBe('PARTIAL');
    const list = await own.servers(jobId);
    expect(list.find((s) => s.id === mine)?.status).toBe('SUCCEEDED');
    const wrong = list.find((s) => s.id === theirs);
    expect(wrong).toMatchObject({ status: 'FAILED', attempts: 0, fault: { name: 'wrongProject' } });
    expect(wrong?.fault?.message).toContain(`belongs to project ${sim.otherTenantId}, not to the job's project ${sim.tenantId}`);
    expect(sim.rebuildCount(theirs)).toBe(0);
    expect(sim.requests().filter((r) => r.kind === 'rebuild' && r.serverId === theirs)).toHaveLength(0);
  });

  it('refuses a project the local principal was not granted, with 403', async () => {
    const other = new StackClient(() => stack, () => sim.otherTenantId);
    const res = await other.post('/rebuild-jobs', { rebuildJob: { rebuild: { imageRef: IMAGE }, servers: [{ id: sim.createServer({ tenantId: sim.otherTenantId }).id }] } });
    expect(res.status).toBe(403);
    expect(res.json.forbidden.message).toContain(`has not been granted project ${sim.otherTenantId}`);
  });

  it('gives X-Local-Principal, another principal, no grants unless given some', async () => {
    const stranger = new StackClient(() => stack, () => sim.tenantId, 'arn:aws:iam::000000000000:user/someone-else');
    const res = await stranger.post('/rebuild-jobs', { rebuildJob: { rebuild: { imageRef: IMAGE }, servers: [{ id: sim.createServer().id }] } });
    expect(res.status).toBe(403);
    expect((await stranger.get('/rebuild-jobs')).status).toBe(403);
    expect((await own.get('/rebuild-jobs')).status).toBe(200);
  });
});
