/**
 * Runs one fault scenario inside a time budget and always stops what it started. A scenario
 * registers every stack, child process and temp dir it starts with `ctx.onCleanup`; they are
 * stopped in reverse order whether it passed, failed, threw or overran its budget.
 */

/** Key figures of a run, printed as `key=value` and written to docs/faults-latest.json. */
export type Figures = Record<string, string | number | boolean>;

/** An invariant that did not hold, and what was seen. */
export interface Violation {
  invariant: string;
  detail: string;
}

export interface ScenarioContext {
  readonly name: string;
  /** Aborted when the scenario's budget runs out (or on Ctrl-C): loops must stop waiting. */
  readonly signal: AbortSignal;
  /** Filled in as the run goes, reported even on failure. */
  readonly figures: Figures;
  /** Invariants that did not hold (a scenario records all of them, not only the first). */
  readonly violations: Violation[];
  /** What the scenario is doing, for a failure message when the budget runs out. */
  phase: string;
  /** Seconds left in the budget. */
  remainingSeconds(): number;
  onCleanup(what: string, stop: () => Promise<void> | void): void;
}

export interface Scenario {
  name: string;
  /** Wall-clock budget; past it the scenario fails and everything it started is stopped. */
  budgetSeconds: number;
  run(ctx: ScenarioContext): Promise<void>;
}

export interface ScenarioResult {
  scenario: string;
  passed: boolean;
  figures: Figures;
  violations: Violation[];
  durationSeconds: number;
}

/** A step that did not finish inside the budget. */
export class BudgetExceededError extends Error {
  override readonly name = 'BudgetExceededError';
}

/**
 * Cleanups must not hang the suite either: each gets this long. Stopping the stack waits for the
 * worker's invocations in flight, as Lambda lets them finish, and one may legitimately run up to the
 * worker's timeout (60 s, WORKER_TIMEOUT in cdk/constructs/functions.ts); fifteen seconds more for
 * the stand-ins' own stops. (30 s was too short: after the 1,000-server drain, watcher invocations
 * waited about 15 s behind the suite's own table scan on DynamoDB Local, and the stop took 29 s.)
 */
const CLEANUP_TIMEOUT_MS = 75_000;

/** Sleeps, unless the scenario is aborted first (then throws). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new BudgetExceededError('aborted'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new BudgetExceededError('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The scenario being run, so Ctrl-C can stop it cleanly. */
let current: AbortController | undefined;
/** Aborts the running scenario (its cleanups then run). */
export function abortCurrent(): void {
  current?.abort();
}

/** Runs a scenario within its budget; never throws. */
export async function runScenario(scenario: Scenario): Promise<ScenarioResult> {
  const started = Date.now();
  const abort = new AbortController();
  current = abort;
  const cleanups: { what: string; stop: () => Promise<void> | void }[] = [];
  const ctx: ScenarioContext = {
    name: scenario.name,
    signal: abort.signal,
    figures: {},
    violations: [],
    phase: 'starting',
    remainingSeconds: () => scenario.budgetSeconds - (Date.now() - started) / 1000,
    onCleanup: (what, stop) => cleanups.push({ what, stop }),
  };
  let budgetTimer: NodeJS.Timeout | undefined;
  const overBudget = new Promise<'over'>((resolve) => {
    budgetTimer = setTimeout(() => resolve('over'), scenario.budgetSeconds * 1000);
    abort.signal.addEventListener('abort', () => resolve('over'), { once: true });
  });
  const running = scenario.run(ctx);
  // Past the budget the run is abandoned: its rejection must not surface as unhandled.
  running.catch(() => undefined);
  try {
    const outcome = await Promise.race([running.then(() => 'done' as const), overBudget]);
    if (outcome === 'over') {
      ctx.violations.push({ invariant: 'bounded', detail: `did not finish within its ${scenario.budgetSeconds} s budget (while: ${ctx.phase})` });
    }
  } catch (err) {
    ctx.violations.push({ invariant: 'ran', detail: `threw while ${ctx.phase}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}` });
  } finally {
    clearTimeout(budgetTimer);
    abort.abort();
    for (const c of cleanups.reverse()) {
      try {
        await withTimeout(Promise.resolve().then(c.stop), CLEANUP_TIMEOUT_MS, `stopping ${c.what}`);
      } catch (err) {
        ctx.violations.push({ invariant: 'cleanup', detail: err instanceof Error ? err.message : String(err) });
      }
    }
    current = undefined;
  }
  return {
    scenario: scenario.name,
    passed: ctx.violations.length === 0,
    figures: ctx.figures,
    violations: ctx.violations,
    durationSeconds: Math.round((Date.now() - started) / 100) / 10,
  };
}
