/**
 * `npm run bench`: every benchmark, one after another (each alone on the machine), then one table.
 * The drain benchmark dominates: at its defaults (1,000 servers, K = 20, D = 10 s, calm and storm)
 * it takes about 20 minutes; BENCH_D=5 halves that. Each script prints its own detail too.
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
for (const r of byName['cold-start'].rows) lines.push([`module init: ${r.fn}`, `${r.medianMs.toFixed(0)} ms`, '']);
const d = byName.drain;
for (const r of d.rows) {
  lines.push([`drain ${r.scenario}: makespan / bound (N=${d.N}, K=${d.K}, D=${d.D} s)`, `${r.makespan.toFixed(1)} s / ${r.bound} s = ${(r.makespan / r.bound).toFixed(3)}`, '≤ 1.15']);
  lines.push([`drain ${r.scenario}: rebuild calls per rebuild (all Compute calls)`, `${r.rebuildCalls.toFixed(3)} (${r.allCalls.toFixed(3)})`, r.scenario === 'storm' ? '≤ 1.3' : '']);
  lines.push([`drain ${r.scenario}: duplicates, lost`, `${r.duplicates}, ${r.lost}`, '0, 0']);
}
console.log(`\nnpm run bench — ${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}\n`);
console.log('| measure | result | target |\n|---|---|---|');
for (const [a, b, c] of lines) console.log(`| ${a} | ${b} | ${c} |`);
