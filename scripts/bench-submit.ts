/**
 * `npm run bench:submit`: submits 1,000-server jobs to the local stack (DynamoDB Local + fauxqs on
 * loopback, the same handler as the cloud) and reports the median wall time and the AWS API calls
 * per server, counted at the SDK clients. Figures go to docs/benchmarks.md by hand, with the machine.
 */
import { cpus, totalmem } from 'node:os';
import type { MiddlewareStack } from '@smithy/types';
import { startLocalStack } from '../local/stack.js';

const SERVERS = Number(process.env.BENCH_SERVERS ?? 1000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const IMAGE = '70a599e0-31e7-49b7-b260-868f441e862b';

// The submit path alone: no worker, so every call counted is the API's.
const stack = await startLocalStack({ worker: false, env: { MAX_SERVERS_PER_JOB: String(Math.max(SERVERS, 2000)) } });
const calls: Record<string, number> = {};
for (const [service, client] of Object.entries(stack.clients)) {
  // 'initialize' runs once per operation call, whatever the SDK retries underneath.
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
  for (const k of Object.keys(calls)) delete calls[k];
  const servers = Array.from({ length: SERVERS }, (_, i) => ({ id: `00000000-0000-4000-8${String(run).padStart(3, '0')}-${String(i).padStart(12, '0')}` }));
  const body = JSON.stringify({ rebuildJob: { rebuild: { imageRef: IMAGE, adminPass: 'bench-secret' }, servers } });
  const t0 = performance.now();
  const res = await fetch(`${stack.apiUrl}/v2/bench/rebuild-jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  await res.text();
  const ms = performance.now() - t0;
  if (res.status !== 202) throw new Error(`submit answered ${res.status}`);
  const total = Object.values(calls).reduce((a, b) => a + b, 0);
  // Run 0 warms the JIT and the JVM; it is not counted.
  if (run > 0) {
    times.push(ms);
    perServer.push(total / SERVERS);
  }
  process.stdout.write(`run ${run}${run === 0 ? ' (warm-up)' : ''}: ${ms.toFixed(0)} ms, ${total} AWS calls (${JSON.stringify(calls)})\n`);
}
await stack.stop();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
process.stdout.write(`\nbench:submit on ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}\n`);
process.stdout.write(`${SERVERS} servers per job, ${RUNS} runs: median ${median(times).toFixed(0)} ms per job, ${median(perServer).toFixed(3)} AWS calls per server (target ≤ 0.15)\n`);
process.stdout.write(`BENCH_RESULT ${JSON.stringify({ bench: 'submit', servers: SERVERS, runs: RUNS, medianMs: median(times), callsPerServer: median(perServer) })}\n`);
