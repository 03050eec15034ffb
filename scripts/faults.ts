/**
 * `npm run faults`: the whole local system (DynamoDB Local, fauxqs, the API behind the gateway
 * stand-in, the worker behind the event-source stand-in, the Compute API simulator) run through
 * bounded fault scenarios on loopback, with the invariants checked after each: every server
 * rebuilt exactly once, none lost, counters equal to records, the job's life told (its status
 * events from creation to its end, and its report kept), no secret in the table, the logs, the
 * events, the reports or any answer. Then the property-based fuzz suite at its full count.
 *
 * Prints one PASS/FAIL line per scenario and `N passed, N failed`; exits 0 only when all passed.
 * Writes the results to docs/faults-latest.json (docs/faults-latest-partial.json for a FAULTS_ONLY run).
 *
 *   FAULTS_ONLY=name,name      run only these scenarios (names as printed)
 *   FAULTS_BUDGET_SECONDS=n    give every scenario this budget instead of its own (to see the bound work)
 *   FAULTS_DEBUG=1             when a job does not end, print its watcher, its unfinished servers and their log lines
 */
import { writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type ScenarioResult, abortCurrent, runScenario } from './faults/harness.js';
import { SCENARIOS } from './faults/scenarios.js';

const OUTPUT = fileURLToPath(new URL('../docs/faults-latest.json', import.meta.url));

function line(r: ScenarioResult): string {
  if (r.passed) {
    const figures = Object.entries(r.figures).map(([k, v]) => `${k}=${v}`);
    return `PASS ${r.scenario}  duration=${r.durationSeconds}s ${figures.join(' ')}`;
  }
  const why = r.violations.map((v) => `${v.invariant}: ${v.detail}`).join(' ; ');
  return `FAIL ${r.scenario}  ${why}  [duration=${r.durationSeconds}s ${Object.entries(r.figures).map(([k, v]) => `${k}=${v}`).join(' ')}]`;
}

const only = process.env.FAULTS_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
const unknown = only?.filter((n) => !SCENARIOS.some((s) => s.name === n)) ?? [];
if (unknown.length) {
  process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}\n`);
  process.exit(2);
}
const budget = process.env.FAULTS_BUDGET_SECONDS ? Number(process.env.FAULTS_BUDGET_SECONDS) : undefined;
if (budget !== undefined && !(budget > 0)) {
  process.stderr.write(`FAULTS_BUDGET_SECONDS must be a positive number; it is "${process.env.FAULTS_BUDGET_SECONDS}"\n`);
  process.exit(2);
}
const chosen = (only ? SCENARIOS.filter((s) => only.includes(s.name)) : SCENARIOS).map((s) => (budget ? { ...s, budgetSeconds: budget } : s));

// Ctrl-C: stop the running scenario's stack and children, then report what ran.
let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  process.stderr.write('\ninterrupted: stopping the running scenario\n');
  abortCurrent();
});

const started = Date.now();
const results: ScenarioResult[] = [];
for (const scenario of chosen) {
  if (interrupted) break;
  process.stderr.write(`… ${scenario.name} (budget ${scenario.budgetSeconds} s)\n`);
  const result = await runScenario(scenario);
  results.push(result);
  process.stdout.write(`${line(result)}\n`);
}
const passed = results.filter((r) => r.passed).length;
const failed = results.length - passed + (interrupted ? chosen.length - results.length : 0);
const totalSeconds = Math.round((Date.now() - started) / 1000);

const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  os: `${platform()} ${release()}`,
};
// A partial run (FAULTS_ONLY) must not replace the figures of the last full one.
const output = only ? OUTPUT.replace(/\.json$/, '-partial.json') : OUTPUT;
writeFileSync(
  output,
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      machine,
      totalSeconds,
      passed,
      failed,
      results: results.map((r) => ({ scenario: r.scenario, passed: r.passed, figures: r.figures, durationSeconds: r.durationSeconds, violations: r.violations })),
    },
    null,
    2,
  )}\n`,
);
process.stderr.write(`total ${totalSeconds} s on ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}; results in ${output}\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
// Handles the stacks' SDK clients may keep open must not hold the exit.
process.exit(failed === 0 && results.length > 0 ? 0 : 1);
