/**
 * `npm run bench`: every benchmark, one after another (each alone on the machine), then one table.
 * The drain benchmark dominates: at its defaults (four scenarios, two of 1,000 servers) it takes
 * about 25 minutes; BENCH_SCENARIOS picks some. Each script prints its own detail too.
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

interface Result {
  bench: string;
  [k: string]: unknown;
}

function run(script: string): Result {
  const out = spawnSync(process.execPath, ['--import', 'tsx', `scripts/${script}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  process.stdout.write(out.stdout.replace(/^BENCH_RESULT .*$/m, ''));
  const line = out.stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (!line) throw new Error(`${script} printed no result (exit ${out.status})`);
  return JSON.parse(line.slice('BENCH_RESULT '.length)) as Result;
}

const results = ['bench-submit.ts', 'bench-status.ts', 'bundle-sizes.ts', 'bench-cold-start.ts', 'bench-drain.ts'].map(run);
const byName = Object.fromEntries(results.map((r) => [r.bench, r])) as Record<string, any>;
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
const lines: [string, string, string][] = [];
const s = byName.submit;
lines.push([`submit: ${s.servers}-server job, median wall time`, `${s.medianMs.toFixed(0)} ms`, '']);
lines.push(['submit: AWS calls per server', s.callsPerServer.toFixed(3), '≤ 0.15']);
for (const r of byName.status.rows) lines.push([`status summary, job of ${r.servers} servers`, `${r.medianMs.toFixed(1)} ms, ${r.callsPerRead} DynamoDB call, ${r.bytesPerRead.toFixed(0)} bytes`, 'flat in job size']);
for (const r of byName.bundles.rows) lines.push([`bundle: ${r.fn}`, `${kb(r.bytes)} minified (${kb(r.gzipBytes)} gzip)`, `≤ ${kb(r.budget)}`]);
for (const r of byName['cold-start'].rows) lines.push([`module init: ${r.fn}`, `${r.medianMs.toFixed(0)} ms`, '≤ 200 ms']);
for (const r of byName.drain.rows) {
  const label = `drain ${r.scenario} (N=${r.servers}, K=${r.k}, D=${r.durationS} s)`;
  if (r.scenario === 'cli-10') {
    lines.push([`${label}: makespan`, `${r.makespanS.toFixed(1)} s = D + ${(r.makespanS - 5).toFixed(1)} s`, '≤ D + 12 s (the CLI); aim D + 5 s']);
  } else {
    lines.push([`${label}: makespan / bound`, `${r.makespanS.toFixed(1)} s / ${r.boundS.toFixed(1)} s = ${r.ratio.toFixed(3)}`, '≤ 1.10']);
  }
  lines.push([`${label}: Compute calls per server`, r.computeCallsPerServer.toFixed(3), r.scenario === 'storm' ? '≤ 1.30' : r.scenario === 'calm' ? '≤ 1.10' : '']);
  lines.push([`${label}: rebuild end → SUCCEEDED, p95`, `${r.endLagP95S.toFixed(2)} s`, '≤ 5 s']);
  lines.push([`${label}: duplicates, lost`, `${r.duplicates}, ${r.lost}`, '0, 0']);
}
console.log(`\nnpm run bench — ${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}\n`);
console.log('| measure | result | target |\n|---|---|---|');
for (const [a, b, c] of lines) console.log(`| ${a} | ${b} | ${c} |`);
