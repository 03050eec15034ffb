/**
 * The worker as a separate process (local/worker-main.ts): `npm start` runs it so, on a core of
 * its own, where draining a job cannot slow the API's answers; the fault suite too, so a scenario
 * can SIGKILL it at any moment as Lambda's runtime may die. Its stdout and stderr are kept (the
 * fault suite's secrets check reads them) and, with `echo`, passed on to ours.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** tsx compiles on start; two loaded cores can take a while. */
const READY_TIMEOUT_MS = 60_000;

/** Every worker process alive, killed on exit should the suite itself die. */
const alive = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of alive) c.kill('SIGKILL');
});

export class WorkerProcess {
  /** Everything every incarnation wrote. */
  readonly output: string[] = [];
  private child: ChildProcess | undefined;
  starts = 0;
  kills = 0;

  constructor(
    private readonly env: Record<string, string>,
    private readonly options: { echo?: boolean } = {},
  ) {}

  /** Starts a worker and resolves once it says it is polling. */
  async start(): Promise<void> {
    // node itself, not npx: a SIGKILL must reach the process that runs the worker, not a wrapper.
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/worker-main.ts'], {
      cwd: ROOT,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.starts++;
    alive.add(child);
    child.once('exit', () => alive.delete(child));
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      let ready = false;
      const timer = setTimeout(() => reject(new Error(`worker not ready within ${READY_TIMEOUT_MS / 1000} s: ${seen.slice(-500)}`)), READY_TIMEOUT_MS);
      const onData = (chunk: Buffer) => {
        const text = chunk.toString();
        // Echoed output is not kept: `npm start` may run for days.
        if (this.options.echo) {
          if (ready) process.stderr.write(text);
        } else this.output.push(text);
        if (ready) return;
        seen += text;
        if (seen.includes('worker ready')) {
          ready = true;
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (!ready) reject(new Error(`worker exited during start (${code ?? signal}): ${seen.slice(-500)}`));
      });
    });
  }

  /** SIGKILL, no goodbye: whatever it was doing is cut. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    this.kills++;
    await exited;
  }

  /** Stops the last incarnation (a kill too: its poller holds nothing worth finishing). */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await exited;
  }

  /** The process id of the running incarnation, for the exit hook. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }
}
