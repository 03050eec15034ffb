/**
 * `npx tsx scripts/bench-status.ts`: the cost of a job's status summary by job size. Submits jobs
 * of 10, 1,000 and 10,000 servers to the local stack, then reads each job's summary 30 times and
 * reports the median latency, the DynamoDB calls per read and the bytes DynamoDB returned per
 * read (counted at the SDK client). The summary is one GetItem of the job item, whose per-state
 * counters are kept with it, so none of the three should grow with the job.
 */
import type { MiddlewareStack } from '@smithy/types';
import { startLocalStack } from '../local/stack.js';

const SIZES = (process.env.BENCH_STATUS_SIZES ?? '10,1000,10000').split(',').map(Number);
const READS = 30;
const IMAGE = '70a599e0-31e7-49b7-b260-868f441e862b';

const stack = await startLocalStack({ worker: false, env: { MAX_SERVERS_PER_JOB: String(Math.max(...SIZES)) } });
let calls = 0;
let bytes = 0;
(stack.clients.dynamodb.middlewareStack as MiddlewareStack<object, object>).add(
  (next) => async (args) => {
    calls++;
    const out = await next(args);
    bytes += JSON.stringify((out as { output?: { Item?: unknown; Items?: unknown } }).output?.Item ?? (out as { output?: { Items?: unknown } }).output?.Items ?? null).length;
    return out;
  },
  { step: 'initialize', name: 'countReads' },
);

const rows: { servers: number; medianMs: number; callsPerRead: number; bytesPerRead: number }[] = [];
for (const [k, n] of SIZES.entries()) {
  // Each job its own servers: a server is in one live job at a time.
  const servers = Array.from({ length: n }, (_, i) => ({ id: `00000000-0000-4000-9${String(k).padStart(3, '0')}-${String(i).padStart(12, '0')}` }));
  const res = await fetch(`${stack.apiUrl}/v2/bench/rebuild-jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rebuildJob: { rebuild: { imageRef: IMAGE }, servers } }),
  });
  if (res.status !== 202) throw new Error(`submit of ${n} answered ${res.status}: ${await res.text()}`);
  const jobId = ((await res.json()) as { rebuildJob: { id: string } }).rebuildJob.id;
  const times: number[] = [];
  calls = 0;
  bytes = 0;
  for (let i = 0; i < READS; i++) {
    const t0 = performance.now();
    const r = await fetch(`${stack.apiUrl}/v2/bench/rebuild-jobs/${jobId}`);
    await r.text();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  rows.push({ servers: n, medianMs: times[Math.floor(READS / 2)] ?? NaN, callsPerRead: calls / READS, bytesPerRead: bytes / READS });
}
await stack.stop();

console.log('| servers in job | median status read | DynamoDB calls per read | bytes read per call |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.servers} | ${r.medianMs.toFixed(1)} ms | ${r.callsPerRead} | ${r.bytesPerRead.toFixed(0)} |`);
console.log(`BENCH_RESULT ${JSON.stringify({ bench: 'status', rows })}`);
