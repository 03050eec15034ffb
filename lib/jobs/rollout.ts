/**
 * A job rolled out in waves (`options.rollout`): the servers start in the order the request listed
 * them, a wave at a time. The canary, when there is one, is the first wave: any of its servers that
 * fails stops the job, and the rest end CANCELLED `canaryFailed` without being sent. A wave opens when
 * every server of the waves before it has ended, and the rollout may pause the job there
 * (`pause`: after the canary, or between all waves) until a caller resumes it.
 *
 * The gate is only a number on the job item (`rollout.open`), moved by one conditional write, so
 * the state machine and its exactly-once guarantees are untouched: a server past the gate waits in
 * QUEUED, as it would for a slot. Whoever sees a wave's last end opens the next: the write that
 * ended it (lifecycle.ts), or, should that writer die first, the next server to look at the gate.
 */
import { type JobRecord, type RolloutState, type ServerRecord, endedCount, isTerminal } from './model.js';
import type { JobStore } from './ports.js';

/** Who paused a job at a wave's end, as `paused.by` shows it. */
export const ROLLOUT_PAUSER = 'rollout';

/** The first wave's gate: the canary, or the first wave when there is none. */
export function firstWave(rollout: NonNullable<JobRecord['options']['rollout']>, total: number): RolloutState {
  return { wave: 0, open: Math.min(total, rollout.canary > 0 ? rollout.canary : rollout.waveSize) };
}

/** Whether the server at `index` must wait for its wave. A redriven job runs its servers again at once: their waves were judged in the first run. */
export function waitsForWave(job: JobRecord, index: number): boolean {
  return job.rollout !== undefined && !job.redrives && index >= job.rollout.open;
}

/** How many waves stand before the server at `index` starts (1: it is in the next wave). */
export function wavesAhead(job: JobRecord, index: number): number {
  const open = job.rollout?.open ?? job.total;
  const size = job.options.rollout?.waveSize ?? job.total;
  return Math.max(1, Math.ceil((index - open + 1) / Math.max(1, size)));
}

/**
 * Moves the rollout on if `job` (as read) allows: stops the job when a canary server failed, opens
 * the next wave when every opened server has ended (pausing the job there if the rollout says so).
 * Returns the job as written, or undefined when nothing moved (or someone else moved it first).
 */
export async function advanceRollout(store: JobStore, job: JobRecord, now: Date): Promise<JobRecord | undefined> {
  const plan = job.options.rollout;
  const state = job.rollout;
  if (!plan || !state || job.redrives || job.stop || job.finalStatus || state.open >= job.total) return undefined;
  const at = now.toISOString();
  const canaryFailedMaybe = state.wave === 0 && plan.canary > 0 && job.counts.FAILED + job.counts.CANCELLED > 0;
  if (!canaryFailedMaybe && endedCount(job.counts) < state.open) return undefined;
  // The counters say a canary server may have failed, or the opened waves may be over. Servers
  // behind the gate can end too (FAILED notQueued when the queue failed at submission, or swept
  // as stalled), so the opened servers' own records decide.
  const opened = await openedServers(store, job, state.open);
  const failed = opened.filter((r) => r.status === 'FAILED' || r.status === 'CANCELLED').length;
  if (state.wave === 0 && plan.canary > 0 && failed > 0) {
    const reason = `${failed} of the canary's ${state.open} servers did not succeed: the other ${job.total - state.open} are not rebuilt.`;
    const stop = { by: 'canary' as const, at, reason };
    return (await store.setStop(job.jobId, stop)) ? { ...job, stop } : undefined;
  }
  if (opened.some((r) => !isTerminal(r.status))) return undefined;
  const next: RolloutState = { wave: state.wave + 1, open: Math.min(job.total, state.open + plan.waveSize) };
  const pauses = plan.pause === 'betweenWaves' || (plan.pause === 'afterCanary' && state.wave === 0 && plan.canary > 0);
  const paused = pauses ? { at, by: ROLLOUT_PAUSER } : undefined;
  if (!(await store.openWave(job.jobId, state, next, paused))) return undefined;
  return { ...job, rollout: next, ...(paused && !job.paused ? { paused } : {}) };
}

/** Servers read per page while judging a wave. */
const PAGE = 1000;

/** The job's servers the gate has let through (`index` below `open`). */
async function openedServers(store: JobStore, job: JobRecord, open: number): Promise<ServerRecord[]> {
  const out: ServerRecord[] = [];
  let marker: string | undefined;
  do {
    const page = await store.listServers(job.jobId, { limit: PAGE, ...(marker ? { marker } : {}) });
    out.push(...page.items.filter((r) => r.index < open));
    marker = page.nextMarker;
  } while (marker);
  return out;
}
