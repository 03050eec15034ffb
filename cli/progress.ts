/**
 * How `watch` shows a job: on a terminal one line redrawn in place — a bar, the counts per state,
 * the rate and the time left at that rate; elsewhere (a pipe, a CI log) one plain line each time
 * something changed, so a log reads as a history.
 */

export interface JobSnapshot {
  id: string;
  status: string;
  total: number;
  counts: Record<string, number>;
}

const ENDED = ['SUCCEEDED', 'FAILED', 'CANCELLED'];
const SHOWN: [string, string][] = [
  ['QUEUED', 'queued'],
  ['RETRY_WAIT', 'waiting'],
  ['SUBMITTING', 'sending'],
  ['ACCEPTED', 'accepted'],
  ['REBUILDING', 'rebuilding'],
  ['SUCCEEDED', 'ok'],
  ['FAILED', 'failed'],
  ['CANCELLED', 'cancelled'],
];

export const endedOf = (job: JobSnapshot) => ENDED.reduce((n, s) => n + (job.counts[s] ?? 0), 0);

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Servers ended per second since watching began, and the time left at that rate. */
export class Rate {
  private first?: { at: number; ended: number };

  sample(job: JobSnapshot, at: number): { perMinute: number; etaSeconds: number } {
    const ended = endedOf(job);
    this.first ??= { at, ended };
    const seconds = (at - this.first.at) / 1000;
    const perSecond = seconds > 0 ? (ended - this.first.ended) / seconds : 0;
    return { perMinute: perSecond * 60, etaSeconds: perSecond > 0 ? (job.total - ended) / perSecond : Number.POSITIVE_INFINITY };
  }
}

/** One line: `[#####-----] 52/100 RUNNING  ok 50  failed 2  rebuilding 20  queued 28 · 31/min · ETA 1m33s`. */
export function progressLine(job: JobSnapshot, rate: { perMinute: number; etaSeconds: number }, width = 24): string {
  const ended = endedOf(job);
  const filled = job.total > 0 ? Math.round((ended / job.total) * width) : 0;
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  const counts = SHOWN.filter(([s]) => (job.counts[s] ?? 0) > 0).map(([s, label]) => `${label} ${job.counts[s]}`).join('  ');
  const tail = ENDED.includes(job.status) || ['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED'].includes(job.status) ? '' : ` · ${rate.perMinute.toFixed(0)}/min · ETA ${duration(rate.etaSeconds)}`;
  return `${bar} ${ended}/${job.total} ${job.status}  ${counts}${tail}`;
}
