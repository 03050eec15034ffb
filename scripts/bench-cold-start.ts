/**
 * `npx tsx scripts/bench-cold-start.ts`: module initialisation time of each function's deployed
 * bundle (built as the stack builds it), measured as the time a fresh Node process takes to
 * import it — what a Lambda cold start adds before the first request, minus the runtime's own
 * start. 15 fresh processes per function, on the Node.js the tests and Lambda run (24); median
 * reported, with the machine's load average (the target, ≤ 200 ms, is for an idle machine).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { ENTRIES, PROJECT_ROOT, lambdaBuildOptions } from '../cdk/bundling.js';

const RUNS = 15;
// Inside the project so the external @aws-sdk/* resolve from its node_modules, as from the runtime's.
const dir = join(PROJECT_ROOT, '.bench-cold-start');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
// What the functions read at init; values that reach nothing (no call is made at import).
const env = {
  ...process.env,
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'x',
  AWS_SECRET_ACCESS_KEY: 'x',
  TABLE_NAME: 't',
  QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/000000000000/q',
  COMPUTE_URL: 'https://nova.invalid/v2.1/{tenant_id}',
  COMPUTE_TOKEN: 'x',
  EVENT_BUS_NAME: 'default',
};
const rows: { fn: string; medianMs: number }[] = [];
try {
  for (const [name, entry] of Object.entries(ENTRIES)) {
    const out = join(dir, `${name}.mjs`);
    await build({ ...lambdaBuildOptions(entry), outfile: out, logLevel: 'error' });
    const probe = join(dir, `probe-${name}.mjs`);
    writeFileSync(probe, `const t = performance.now(); await import(${JSON.stringify(out)}); process.stdout.write(String(performance.now() - t));`);
    const times = Array.from({ length: RUNS }, () => Number(execFileSync(process.execPath, [probe], { env, encoding: 'utf8' })));
    times.sort((a, b) => a - b);
    rows.push({ fn: name, medianMs: times[Math.floor(RUNS / 2)] ?? NaN });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`load average ${loadavg()[0]?.toFixed(2)}; Node ${process.version}\n| function | module init (median of ${RUNS} fresh processes; target ≤ 200 ms) |\n|---|---|`);
for (const r of rows) console.log(`| ${r.fn} | ${r.medianMs.toFixed(0)} ms |`);
console.log(`BENCH_RESULT ${JSON.stringify({ bench: 'cold-start', rows })}`);
