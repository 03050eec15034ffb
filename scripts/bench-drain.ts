/**
 * `npm run bench:drain`: jobs drained through the whole local stack (API, DynamoDB Local, fauxqs,
 * the event-source stand-in with the stack's settings, the worker) against the Compute API
 * simulator with realistic answer latencies and rebuild durations the worker cannot know. The
 * worker runs with its default settings: nothing here tunes it to the scenario.
 *
 * Scenarios (BENCH_SCENARIOS, comma-separated; all by default):
 * - cli-10: 10 servers, maxInFlight 10, rebuilds of exactly 5 s: the `openstack server rebuild
 *   --wait` comparison (the CLI in parallel took D + 12.5 s on the reference Nova; the aim is D + 5 s).
 * - calm: N = 1,000 (BENCH_SERVERS), K = 20, rebuilds of 0.5–1.5 × 10 s, 2 % of them 3 × 10 s.
 * - storm: the same, with 20 % of the first rebuild calls refused (503 with Retry-After, an HTML
 *   503 without it, 409 task_state).
 * - small: N = 200, K = 20, rebuilds of 0.5–1.5 × 5 s, 2 % of them 3 × 5 s.
 *
 * K is the cloud's capacity (more concurrent rebuilds: 503) and the job's maxInFlight. Measured:
 * makespan (submit to completedAt) against the bound max(longest rebuild, Σ rebuild durations / K)
 * from the rebuilds the simulator actually ran; every Compute API call (rebuilds, list pages, GETs,
 * instance actions) per server rebuilt, Keystone's separately; the time from each rebuild's end in
 * the cloud (task_state cleared) to its server's end in the service; duplicates and lost servers.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { type LocalStack, startLocalStack } from '../local/stack.js';
import type { SimulatorOptions } from '../local/sim/index.js';

const IMAGE = '70a599e0-31e7-49b7-b260-868f441e862b';
const N_LARGE = Number(process.env.BENCH_SERVERS ?? 1000);
const SCENARIOS = (process.env.BENCH_SCENARIOS ?? 'cli-10,calm,storm,small').split(',');
/**
 * Answer latencies of a Nova and Keystone across a data centre: a rebuild or a list of a busy
 * project takes 100–300 ms at the API (nova-api's own timing on the reference cloud was 120–250 ms),
 * a token 100–200 ms.
 */
const LATENCY = { compute: 150, identity: 150, image: 60, jitter: 60 };
/** The storm's share of the first rebuild calls refused. */
const STORM_FRACTION = 0.2;

interface Scenario {
  name: string;
  servers: number;
  k: number;
  durationS: number;
  spread: boolean;
  storm: boolean;
}

const ALL: Scenario[] = [
  { name: 'cli-10', servers: 10, k: 10, durationS: 5, spread: false, storm: false },
  { name: 'calm', servers: N_LARGE, k: 20, durationS: 10, spread: true, storm: false },
  { name: 'storm', servers: N_LARGE, k: 20, durationS: 10, spread: true, storm: true },
  { name: 'small', servers: 200, k: 20, durationS: 5, spread: true, storm: false },
];

export interface DrainRow {
  scenario: string;
  servers: number;
  k: number;
  durationS: string;
  makespanS: number;
  boundS: number;
  ratio: number;
  computeCallsPerServer: number;
  rebuildCallsPerServer: number;
  listPagesPerServer: number;
  getsPerServer: number;
  keystoneCalls: number;
  endLagP50S: number;
  endLagP95S: number;
  endLagMaxS: number;
  duplicates: number;
  lost: number;
  status: string;
}

async function submitJob(stack: LocalStack, tenant: string, ids: string[], k: number): Promise<string> {
  const res = await fetch(`${stack.apiUrl}/v2/${tenant}/rebuild-jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      rebuildJob: { rebuild: { imageRef: IMAGE, adminPass: 'bench-secret' }, servers: ids.map((id) => ({ id })), options: { maxInFlight: k, deadlineSeconds: 7200 } },
    }),
  });
  if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { rebuildJob: { id: string } }).rebuildJob.id;
}

interface JobEnd {
  status: string;
  completedAt: string;
}

/** Polls the status endpoint, as an operator would, until the job ends. */
async function untilEnded(stack: LocalStack, tenant: string, jobId: string, label: string): Promise<JobEnd> {
  const t0 = Date.now();
  let lastPrint = t0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 200));
    const job = ((await (await fetch(`${stack.apiUrl}/v2/${tenant}/rebuild-jobs/${jobId}`)).json()) as {
      rebuildJob: { status: string; completedAt?: string; counts: Record<string, number> };
    }).rebuildJob;
    if (job.completedAt) return { status: job.status, completedAt: job.completedAt };
    if (Date.now() - lastPrint > 30_000) {
      lastPrint = Date.now();
      process.stderr.write(`  ${label} ${((Date.now() - t0) / 1000).toFixed(0)} s: ${JSON.stringify(job.counts)}\n`);
    }
  }
}

/** Every server of the job, as the status endpoint shows it. */
async function serversOf(stack: LocalStack, tenant: string, jobId: string): Promise<{ id: string; status: string; endedAt?: string }[]> {
  const out: { id: string; status: string; endedAt?: string }[] = [];
  let marker: string | undefined;
  do {
    const page = (await (await fetch(`${stack.apiUrl}/v2/${tenant}/rebuild-jobs/${jobId}/servers?limit=1000${marker ? `&marker=${marker}` : ''}`)).json()) as {
      servers: { id: string; status: string; endedAt?: string }[];
      servers_links?: { rel: string; href: string }[];
    };
    out.push(...page.servers);
    const next = page.servers_links?.find((l) => l.rel === 'next')?.href;
    marker = next ? (new URL(next, stack.apiUrl).searchParams.get('marker') ?? undefined) : undefined;
  } while (marker);
  return out;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

export async function runScenario(s: Scenario): Promise<DrainRow> {
  const d = s.durationS * 1000;
  const simulator: SimulatorOptions = {
    serverCount: s.servers + s.k,
    maxConcurrentRebuilds: s.k,
    latencyMs: LATENCY,
    // Nova's three rebuild phases, adding up to D; with the spread, each rebuild scaled by its own factor.
    rebuildTiming: {
      rebuildingMs: d - 150,
      blockDeviceMappingMs: 50,
      spawningMs: 100,
      ...(s.spread ? { spread: { minFactor: 0.5, maxFactor: 1.5, tailFraction: 0.02, tailFactor: 3, seed: 7 } } : {}),
    },
  };
  const stack = await startLocalStack({ env: { MAX_SERVERS_PER_JOB: String(Math.max(s.servers, 2000)) }, worker: { simulator } });
  try {
    const sim = stack.sim;
    if (!sim) throw new Error('no simulator');
    const servers = sim.serverIds.slice(0, s.servers);
    // Warm-up, not measured: a JVM and a JIT that have not yet run a transaction are slower than a
    // service that has been up for a while, which is what a drain meets in the cloud.
    const warm = await submitJob(stack, sim.tenantId, sim.serverIds.slice(s.servers), s.k);
    await untilEnded(stack, sim.tenantId, warm, 'warm-up');
    if (s.storm) {
      const n = Math.round(s.servers * STORM_FRACTION);
      sim.injectFault({ kind: 'rebuild', fault: { type: 'serviceUnavailable', retryAfter: 2 }, times: Math.ceil(n / 3) });
      sim.injectFault({ kind: 'rebuild', fault: { type: 'htmlServiceUnavailable' }, times: Math.floor(n / 3) });
      sim.injectFault({ kind: 'rebuild', fault: { type: 'buildInProgress' }, times: n - Math.ceil(n / 3) - Math.floor(n / 3) });
    }
    const runsBefore = new Set(sim.rebuildRuns().map((r) => `${r.serverId}@${r.startedAt}`));
    sim.clearRequests();
    const t0 = Date.now();
    const jobId = await submitJob(stack, sim.tenantId, servers, s.k);
    const end = await untilEnded(stack, sim.tenantId, jobId, s.name);
    const makespan = (Date.parse(end.completedAt) - t0) / 1000;
    const inJob = new Set(servers);
    const runs = sim.rebuildRuns().filter((r) => inJob.has(r.serverId) && !runsBefore.has(`${r.serverId}@${r.startedAt}`));
    const durations = runs.map((r) => (r.endsAt - r.startedAt) / 1000);
    const bound = Math.max(Math.max(...durations), durations.reduce((a, b) => a + b, 0) / s.k);
    const requests = sim.requests();
    const compute = requests.filter((r) => r.service === 'compute');
    const perServer = (n: number) => n / s.servers;
    const records = await serversOf(stack, sim.tenantId, jobId);
    const endOf = new Map(runs.map((r) => [r.serverId, r.endsAt]));
    const lags = records
      .filter((r) => r.status === 'SUCCEEDED' && r.endedAt && endOf.has(r.id))
      .map((r) => (Date.parse(r.endedAt as string) - (endOf.get(r.id) as number)) / 1000)
      .sort((a, b) => a - b);
    const counts = new Map<string, number>();
    for (const r of runs) counts.set(r.serverId, (counts.get(r.serverId) ?? 0) + 1);
    return {
      scenario: s.name,
      servers: s.servers,
      k: s.k,
      durationS: s.spread ? `${s.durationS} × 0.5–1.5, 2 % × 3` : `${s.durationS}`,
      makespanS: makespan,
      boundS: bound,
      ratio: makespan / bound,
      computeCallsPerServer: perServer(compute.length),
      rebuildCallsPerServer: perServer(compute.filter((r) => r.kind === 'rebuild').length),
      listPagesPerServer: perServer(compute.filter((r) => r.kind === 'list').length),
      getsPerServer: perServer(compute.filter((r) => r.kind === 'get' || r.kind === 'actions').length),
      keystoneCalls: requests.filter((r) => r.service === 'keystone').length,
      endLagP50S: quantile(lags, 0.5),
      endLagP95S: quantile(lags, 0.95),
      endLagMaxS: lags[lags.length - 1] ?? NaN,
      duplicates: servers.filter((id) => (counts.get(id) ?? 0) > 1).length,
      lost: servers.filter((id) => (counts.get(id) ?? 0) === 0).length,
      status: end.status,
    };
  } finally {
    await stack.stop();
  }
}

const f = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '—');

export function drainTable(rows: DrainRow[]): string {
  const head =
    '| scenario | N | K | D (s) | makespan | bound | ratio (≤ 1.10) | Compute calls / server (≤ 1.10 calm, ≤ 1.30 storm) | rebuild · list pages · GETs | Keystone calls | end lag p50 / p95 (≤ 5 s) / max | duplicates | lost | job |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n';
  return (
    head +
    rows
      .map(
        (r) =>
          `| ${r.scenario} | ${r.servers} | ${r.k} | ${r.durationS} | ${f(r.makespanS, 1)} s | ${f(r.boundS, 1)} s | ${f(r.ratio, 3)} | ${f(r.computeCallsPerServer, 3)} | ${f(r.rebuildCallsPerServer, 3)} · ${f(r.listPagesPerServer, 3)} · ${f(r.getsPerServer, 3)} | ${r.keystoneCalls} | ${f(r.endLagP50S)} / ${f(r.endLagP95S)} / ${f(r.endLagMaxS)} s | ${r.duplicates} | ${r.lost} | ${r.status} |`,
      )
      .join('\n')
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows: DrainRow[] = [];
  for (const s of ALL.filter((x) => SCENARIOS.includes(x.name))) {
    process.stderr.write(`bench:drain ${s.name}: N=${s.servers}, K=${s.k}, D=${s.durationS} s${s.spread ? ' varied' : ''}${s.storm ? ', storm' : ''}\n`);
    rows.push(await runScenario(s));
  }
  process.stdout.write(
    `\nbench:drain on ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load ${loadavg()[0]?.toFixed(1)}; worker defaults; latencies ${JSON.stringify(LATENCY)} ms\n`,
  );
  process.stdout.write(`${drainTable(rows)}\n`);
  process.stdout.write(`BENCH_RESULT ${JSON.stringify({ bench: 'drain', rows })}\n`);
}
