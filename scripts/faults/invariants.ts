/**
 * What must hold after every scenario, one function per invariant. Each returns the violations
 * it found (empty when it holds) so a scenario reports all that broke, not only the first.
 */
import type { JobStatusEvent } from '../../lib/jobs/events.js';
import { SERVER_STATES } from '../../lib/jobs/model.js';
import type { JobView, ServerView } from './client.js';
import type { Violation } from './harness.js';
import { findLeaks } from './secrets.js';

const sample = (ids: string[]) => `${ids.slice(0, 5).join(', ')}${ids.length > 5 ? `, … (${ids.length})` : ''}`;

/**
 * Every server of the job was rebuilt exactly once, by the simulator's own count — but those the
 * scenario expects to fail, which were never rebuilt at all.
 */
export function exactlyOnce(rebuildCounts: Record<string, number>, serverIds: string[], neverRebuilt: ReadonlySet<string> = new Set()): Violation[] {
  const twice = serverIds.filter((id) => (rebuildCounts[id] ?? 0) > 1);
  const never = serverIds.filter((id) => !neverRebuilt.has(id) && (rebuildCounts[id] ?? 0) === 0);
  const unexpected = serverIds.filter((id) => neverRebuilt.has(id) && (rebuildCounts[id] ?? 0) > 0);
  const out: Violation[] = [];
  if (twice.length) {
    out.push({ invariant: 'exactly once', detail: `${twice.length} servers rebuilt more than once: ${sample(twice.map((id) => `${id}×${rebuildCounts[id]}`))}` });
  }
  if (never.length) out.push({ invariant: 'exactly once', detail: `${never.length} servers never rebuilt: ${sample(never)}` });
  if (unexpected.length) out.push({ invariant: 'exactly once', detail: `${unexpected.length} servers meant to fail were rebuilt: ${sample(unexpected)}` });
  return out;
}

/**
 * None lost: the job ended (a final status and its completedAt) — SUCCEEDED, or PARTIAL when the
 * scenario expects some servers to fail — every submitted server has a record, each expected
 * failure FAILED with its fault, every other SUCCEEDED.
 */
export function noneLost(
  ended: { job: JobView | undefined; ended: boolean },
  records: ServerView[] | undefined,
  serverIds: string[],
  waitedSeconds: number,
  expectedFaults: ReadonlyMap<string, string> = new Map(),
): Violation[] {
  const { job } = ended;
  if (!job) return [{ invariant: 'none lost', detail: 'the status endpoint never answered' }];
  const out: Violation[] = [];
  if (!ended.ended) {
    const detail = job.completedAt || !['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED'].includes(job.status)
      ? `job still ${job.status} after ${waitedSeconds} s: ${JSON.stringify(job.counts)}`
      : `job shows ${job.status} but has no completedAt after ${waitedSeconds} s: ${JSON.stringify(job.counts)}`;
    out.push({ invariant: 'none lost', detail });
  } else {
    const want = expectedFaults.size === 0 ? 'SUCCEEDED' : expectedFaults.size === serverIds.length ? 'FAILED' : 'PARTIAL';
    if (job.status !== want) out.push({ invariant: 'none lost', detail: `job ended ${job.status}, expected ${want}: ${JSON.stringify(job.counts)}` });
  }
  if (job.total !== serverIds.length) out.push({ invariant: 'none lost', detail: `job total ${job.total}, submitted ${serverIds.length}` });
  if (!records) return out;
  const byId = new Map(records.map((r) => [r.id, r]));
  const missing = serverIds.filter((id) => !byId.has(id));
  if (missing.length) out.push({ invariant: 'none lost', detail: `${missing.length} servers have no record: ${sample(missing)}` });
  const wrongFault = records.filter((r) => expectedFaults.has(r.id) && (r.status !== 'FAILED' || r.fault?.name !== expectedFaults.get(r.id)));
  if (wrongFault.length) {
    out.push({ invariant: 'none lost', detail: `${wrongFault.length} servers did not fail as expected: ${sample(wrongFault.map((r) => `${r.id} ${r.status} ${r.fault?.name ?? ''} (expected ${expectedFaults.get(r.id)})`))}` });
  }
  const notDone = records.filter((r) => !expectedFaults.has(r.id) && r.status !== 'SUCCEEDED');
  if (notDone.length) {
    out.push({
      invariant: 'none lost',
      detail: `${notDone.length} records not SUCCEEDED: ${sample(notDone.map((r) => `${r.id} ${r.status}${r.fault ? ` (${r.fault.name}: ${r.fault.message.slice(0, 120)})` : ''}`))}`,
    });
  }
  if (records.length !== serverIds.length || byId.size !== records.length) {
    out.push({ invariant: 'none lost', detail: `${records.length} records (${byId.size} distinct) for ${serverIds.length} servers` });
  }
  return out;
}

/** The job's per-state counters equal the count of its records in each state. */
export function countersExact(job: JobView | undefined, records: ServerView[] | undefined): Violation[] {
  if (!job || !records) return [{ invariant: 'counters exact', detail: 'job or records unavailable' }];
  const fromRecords = Object.fromEntries(SERVER_STATES.map((s) => [s, records.filter((r) => r.status === s).length]));
  const differ = SERVER_STATES.filter((s) => (job.counts[s] ?? 0) !== fromRecords[s]);
  if (differ.length === 0) return [];
  return [{ invariant: 'counters exact', detail: differ.map((s) => `${s}: counter ${job.counts[s] ?? 0}, records ${fromRecords[s]}`).join('; ') }];
}

/** No secret in any of the named texts (table, logs, API answers). */
export function noSecrets(sources: { name: string; text: string }[], needles: string[]): Violation[] {
  const out: Violation[] = [];
  for (const s of sources) {
    const leaks = findLeaks(s.text, needles);
    if (leaks.length) out.push({ invariant: 'no secrets', detail: `in ${s.name}: ${leaks.slice(0, 2).join(' | ')}` });
  }
  return out;
}

/**
 * The job's life was told: its events (copies of one change dropped by id, as a consumer would)
 * run from its creation to the final status the API shows, each from the status the one before
 * moved to; the end names a kept report with one line per server.
 */
export function told(job: JobView | undefined, events: JobStatusEvent[], reports: ReadonlyMap<string, string>, serverCount: number): Violation[] {
  if (!job?.completedAt) return []; // a job that did not end is "none lost"'s to report
  const unique = [...new Map(events.map((e) => [e.id, e])).values()];
  const chain = unique.map((e) => `${e.from}->${e.to}`);
  const out: Violation[] = [];
  if (unique[0]?.from !== null || unique.at(-1)?.to !== job.status) {
    out.push({ invariant: 'told', detail: `events ${chain.join(', ') || 'none'} do not run from creation to ${job.status}` });
  }
  const broken = unique.slice(1).filter((e, i) => e.from !== unique[i]?.to);
  if (broken.length) out.push({ invariant: 'told', detail: `events skip a status: ${chain.join(', ')}` });
  const report = unique.at(-1)?.report;
  const lines = report ? reports.get(report)?.trim().split('\n').length : undefined;
  if (lines !== serverCount) out.push({ invariant: 'told', detail: `the end's report ${report ?? '(none named)'} has ${lines ?? 'no'} lines for ${serverCount} servers` });
  return out;
}
