/**
 * `npm run bench:drain`: 1,000 servers drained through the local stack (DynamoDB Local, fauxqs,
 * the event-source stand-in, the worker) against the Compute API simulator limited to K = 20
 * concurrent rebuilds of D seconds each, calm and under a 409/503 storm. Reports the makespan
 * against the bound ⌈N/K⌉·D, Compute API calls per rebuild, duplicates and lost servers.
 *
 *   BENCH_SERVERS (1000)  BENCH_K (20)  BENCH_D (10 s)  BENCH_STORM_FRACTION (0.2)  BENCH_SCENARIOS (calm,storm)
 */
import { cpus, totalmem } from 'node:os';
import { startLocalStack } from '../local/stack.js';

const N = Number(process.env.BENCH_SERVERS ?? 1000);
const K = Number(process.env.BENCH_K ?? 20);
const D = Number(process.env.BENCH_D ?? 10);
const STORM = Number(process.env.BENCH_STORM_FRACTION ?? 0.2);
const SCENARIOS = (process.env.BENCH_SCENARIOS ?? 'calm,storm').split(',');
const IMAGE = '70a599e0-31e7-49b7-b260-868f441e862b';

interface Row {
  scenario: string;
  makespan: number;
  bound: number;
  rebuildCalls: number;
  allCalls: number;
  injected: number;
  duplicates: number;
  lost: number;
  status: string;
}

async function submitJob(apiUrl: string, tenant: string, ids: string[]): Promise<string> {
  const res = await fetch(`${apiUrl}/v2/${tenant}/rebuild-jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      rebuildJob: { rebuild: { imageRef: IMAGE, adminPass: 'bench' }, servers: ids.map((id) => ({ id })), options: { maxInFlight: K, deadlineSeconds: 7200 } },
    }),
  });
  if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { rebuildJob: { id: string } }).rebuildJob.id;
}

/** Polls the status endpoint, as an operator would, until the job ends. */
async function untilEnded(apiUrl: string, tenant: string, jobId: string, label: string, t0 = Date.now()): Promise<{ status: string; completedAt: string }> {
  let lastPrint = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const job = ((await (await fetch(`${apiUrl}/v2/${tenant}/rebuild-jobs/${jobId}`)).json()) as {
      rebuildJob: { status: string; completedAt?: string; counts: Record<string, number> };
    }).rebuildJob;
    if (['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED'].includes(job.status)) return { status: job.status, completedAt: job.completedAt ?? new Date().toISOString() };
    if (Date.now() - lastPrint > 30_000) {
      lastPrint = Date.now();
      process.stderr.write(`  ${label} ${((Date.now() - t0) / 1000).toFixed(0)} s: ${JSON.stringify(job.counts)}\n`);
    }
  }
}

async function run(scenario: string): Promise<Row> {
  const stack = await startLocalStack({
    env: {
      // The first look lands as a rebuild of D seconds ends (SQS delays are whole seconds); then every second.
      FOLLOW_FIRST_SECONDS: String(Math.ceil(D)),
      FOLLOW_INTERVAL_SECONDS: '1',
      BACKOFF_BASE_SECONDS: '1',
      BACKOFF_CAP_SECONDS: '8',
      MAX_SERVERS_PER_JOB: String(Math.max(N, 2000)),
    },
    worker: {
      poller: { batchSize: 10, batchingWindowSeconds: 0, maxConcurrency: 8 },
      simulator: {
        serverCount: N + K,
        maxConcurrentRebuilds: K,
        // Nova's three rebuild phases, adding up to D.
        rebuildTiming: { rebuildingMs: D * 1000 - 150, blockDeviceMappingMs: 50, spawningMs: 100 },
      },
    },
  });
  const sim = stack.sim;
  if (!sim) throw new Error('no simulator');
  const servers = sim.serverIds.slice(0, N);
  // Warm-up, not measured: a JVM and a JIT that have not yet run a transaction are slower than a
  // service that has been up for a while, which is what a drain meets in the cloud.
  const warm = await submitJob(stack.apiUrl, sim.tenantId, sim.serverIds.slice(N));
  await untilEnded(stack.apiUrl, sim.tenantId, warm, 'warm-up');
  let injected = 0;
  if (scenario === 'storm') {
    // A storm at the start: a share of all rebuild calls answered 503 (half with Retry-After)
    // or 409 buildInProgress, on top of the capacity limit.
    const n = Math.round(N * STORM);
    sim.injectFault({ kind: 'rebuild', fault: { type: 'serviceUnavailable', retryAfter: 2 }, times: Math.ceil(n / 3) });
    sim.injectFault({ kind: 'rebuild', fault: { type: 'htmlServiceUnavailable' }, times: Math.floor(n / 3) });
    sim.injectFault({ kind: 'rebuild', fault: { type: 'buildInProgress' }, times: n - Math.ceil(n / 3) - Math.floor(n / 3) });
    injected = n;
  }
  sim.clearRequests();
  const before = sim.rebuildCounts();
  const t0 = Date.now();
  const jobId = await submitJob(stack.apiUrl, sim.tenantId, servers);
  const { status, completedAt } = await untilEnded(stack.apiUrl, sim.tenantId, jobId, scenario, t0);
  const makespan = (Date.parse(completedAt) - t0) / 1000;
  const requests = sim.requests().filter((r) => r.service === 'compute' && servers.includes(r.serverId ?? ''));
  const after = sim.rebuildCounts();
  const counts = Object.fromEntries(servers.map((id) => [id, (after[id] ?? 0) - (before[id] ?? 0)]));
  const row: Row = {
    scenario,
    makespan,
    bound: Math.ceil(N / K) * D,
    rebuildCalls: requests.filter((r) => r.kind === 'rebuild').length / N,
    allCalls: requests.length / N,
    injected,
    duplicates: servers.filter((id) => (counts[id] ?? 0) > 1).length,
    lost: servers.filter((id) => (counts[id] ?? 0) === 0).length,
    status,
  };
  await stack.stop();
  return row;
}

const rows: Row[] = [];
for (const s of SCENARIOS) rows.push(await run(s));
process.stdout.write(`\nbench:drain on ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; N=${N}, K=${K}, D=${D} s\n`);
process.stdout.write('| scenario | makespan | bound ⌈N/K⌉·D | ratio (≤ 1.15) | rebuild calls / rebuild (≤ 1.3) | all Compute calls / rebuild | injected faults | duplicates | lost | job |\n|---|---|---|---|---|---|---|---|---|---|\n');
for (const r of rows) {
  process.stdout.write(
    `| ${r.scenario} | ${r.makespan.toFixed(1)} s | ${r.bound} s | ${(r.makespan / r.bound).toFixed(3)} | ${r.rebuildCalls.toFixed(3)} | ${r.allCalls.toFixed(3)} | ${r.injected} | ${r.duplicates} | ${r.lost} | ${r.status} |\n`,
  );
}
process.stdout.write(`BENCH_RESULT ${JSON.stringify({ bench: 'drain', N, K, D, rows })}\n`);
