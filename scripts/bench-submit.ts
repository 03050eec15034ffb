/**
 * `npm run bench:submit`: submits 1,000-server jobs to the local stack (DynamoDB Local + fauxqs on
 * loopback, the same handler as the cloud) and reports the median wall time and the AWS API calls
 * per server, counted at the SDK clients — first with no worker, then as `npm start` runs (its
 * worker in a process of its own) while that worker drains a 1,000-server job against the
 * simulator. Figures go to docs/benchmarks.md by hand, with the machine.
 */
import { cpus, totalmem } from 'node:os';
import type { MiddlewareStack } from '@smithy/types';
import { type LocalStack, startLocalStack } from '../local/stack.js';

const SERVERS = Number(process.env.BENCH_SERVERS ?? 1000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const IMAGE = '70a599e0-31e7-49b7-b260-868f441e862b';

// The submit path alone: no worker, so every call counted is the API's.
const stack = await startLocalStack({ worker: false, env: { MAX_SERVERS_PER_JOB: String(Math.max(SERVERS, 2000)) } });

const idle = await measure(stack, 'idle');
await stack.stop();

/**
 * The same submits while a worker drains: the stack as `npm start` runs it, the worker in its own
 * process, a 1,000-server job of the simulator's servers draining (started again should it end);
 * each measured job is cancelled once answered, so it adds no drain of its own.
 */
const busy = await startLocalStack({
  env: { MAX_SERVERS_PER_JOB: String(Math.max(SERVERS, 2000)) },
  worker: { process: true, sweepEverySeconds: 0, simulator: { serverCount: SERVERS } },
});
const sim = busy.sim!;
const drainBody = JSON.stringify({ rebuildJob: { rebuild: { imageRef: IMAGE }, servers: sim.serverIds.map((id) => ({ id })) } });
let drainJob = '';
const ensureDraining = async () => {
  const state = drainJob ? ((await (await fetch(`${busy.apiUrl}/v2/${sim.tenantId}/rebuild-jobs/${drainJob}`)).json()) as { rebuildJob: { completedAt?: string } }).rebuildJob : undefined;
  if (drainJob && !state?.completedAt) return;
  const res = await fetch(`${busy.apiUrl}/v2/${sim.tenantId}/rebuild-jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: drainBody });
  if (res.status !== 202) throw new Error(`drain submit answered ${res.status}`);
  drainJob = ((await res.json()) as { rebuildJob: { id: string } }).rebuildJob.id;
  // Let the worker get going.
  await new Promise((r) => setTimeout(r, 3000));
};
const draining = await measure(busy, 'while draining', ensureDraining, sim.tenantId);
await busy.stop();

async function measure(on: LocalStack, label: string, before: () => Promise<void> = async () => undefined, tenant = 'bench'): Promise<{ times: number[]; perServer: number[] }> {
  const calls: Record<string, number> = {};
  for (const [service, client] of Object.entries(on.clients)) {
    (client.middlewareStack as MiddlewareStack<object, object>).add(
      (next, context) => async (args) => {
        const key = `${service}.${(context as { commandName?: string }).commandName ?? '?'}`;
        calls[key] = (calls[key] ?? 0) + 1;
        return next(args);
      },
      { step: 'initialize', name: 'countCalls' },
    );
  }
  const times: number[] = [];
  const perServer: number[] = [];
  for (let run = 0; run <= RUNS; run++) {
    await before();
    for (const k of Object.keys(calls)) delete calls[k];
    const servers = Array.from({ length: SERVERS }, (_, i) => ({ id: `00000000-0000-4000-8${String(run).padStart(3, '0')}-${String(i).padStart(12, '0')}` }));
    const body = JSON.stringify({ rebuildJob: { rebuild: { imageRef: IMAGE, adminPass: 'bench-secret' }, servers } });
    const t0 = performance.now();
    const res = await fetch(`${on.apiUrl}/v2/${tenant}/rebuild-jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const answer = (await res.json()) as { rebuildJob?: { id: string } };
    const ms = performance.now() - t0;
    if (res.status !== 202) throw new Error(`submit answered ${res.status}`);
    const total = Object.values(calls).reduce((a, b) => a + b, 0);
    // Run 0 warms the JIT and the JVM; it is not counted.
    if (run > 0) {
      times.push(ms);
      perServer.push(total / SERVERS);
    }
    process.stdout.write(`${label} run ${run}${run === 0 ? ' (warm-up)' : ''}: ${ms.toFixed(0)} ms, ${total} AWS calls (${JSON.stringify(calls)})\n`);
    if (label !== 'idle') await fetch(`${on.apiUrl}/v2/${tenant}/rebuild-jobs/${answer.rebuildJob?.id}/action`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"cancel": null}' });
  }
  return { times, perServer };
}



const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
process.stdout.write(`\nbench:submit on ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}\n`);
process.stdout.write(`${SERVERS} servers per job, ${RUNS} runs: median ${median(idle.times).toFixed(0)} ms per job with no worker, ${median(draining.times).toFixed(0)} ms while a worker drains (target ≤ 2,000 ms), ${median(idle.perServer).toFixed(3)} AWS calls per server (target ≤ 0.15)\n`);
process.stdout.write(`BENCH_RESULT ${JSON.stringify({ bench: 'submit', servers: SERVERS, runs: RUNS, medianMs: median(idle.times), drainingMedianMs: median(draining.times), callsPerServer: median(idle.perServer) })}\n`);
