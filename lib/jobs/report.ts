/**
 * A job's report: every server, one line each — status, times, attempts, the last HTTP status,
 * the fault, the Compute request ids — as JSON lines, or CSV for a spreadsheet. Server records
 * hold only scrubbed cloud text and redacted requests, so a report holds no secret.
 *
 * One answer carries at most REPORT_PAGE servers: a Lambda answer is capped at 6 MB, and a server's
 * line can reach a kilobyte and a half (a fault message is up to 1,000 characters). A larger job's
 * report continues at the `Link: <…>; rel="next"` the answer names.
 */
import { BadRequestError } from '../errors.js';
import type { Caller } from './grants.js';
import type { ServerRecord } from './model.js';
import type { JobStore } from './ports.js';
import { jobLocation, loadJob } from './views.js';

/** Servers in one answer: 2,000 × 1.5 KB at worst is 3 MB, half of Lambda's answer limit. */
export const REPORT_PAGE = 2000;
/** DynamoDB reads per page of the report (the store's own page limit). */
const READ_PAGE = 1000;

export type ReportFormat = 'jsonl' | 'csv';

export const REPORT_COLUMNS = [
  'id',
  'index',
  'status',
  'attempts',
  'lastHttpStatus',
  'faultName',
  'faultMessage',
  'novaState',
  'createdAt',
  'acceptedAt',
  'endedAt',
  'computeRequestIds',
  'runs',
] as const;

type ReportRow = Record<(typeof REPORT_COLUMNS)[number], string | number | string[] | null>;

function rowOf(s: ServerRecord): ReportRow {
  return {
    id: s.serverId,
    index: s.index,
    status: s.status,
    attempts: s.attempts,
    lastHttpStatus: s.lastHttpStatus ?? null,
    faultName: s.faultName ?? null,
    faultMessage: s.faultMessage ?? null,
    novaState: s.novaState ?? null,
    createdAt: s.createdAt,
    acceptedAt: s.acceptedAt ?? null,
    endedAt: s.endedAt ?? null,
    computeRequestIds: s.computeRequestIds ?? [],
    // Earlier runs (a redrive), as status:fault, oldest first.
    runs: (s.runs ?? []).map((r) => (r.faultName ? `${r.status}:${r.faultName}` : r.status)),
  };
}

/**
 * One CSV cell (RFC 4180). A cell a spreadsheet would read as a formula (=, +, -, @, tab, CR) is
 * prefixed with an apostrophe: fault messages are the cloud's words, and a report is opened in
 * spreadsheets.
 */
function csvCell(value: string | number | string[] | null): string {
  if (value === null) return '';
  let text = Array.isArray(value) ? value.join(' ') : String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Which format the caller asked for: CSV when Accept names text/csv, JSON lines otherwise. */
export function reportFormat(accept: string | undefined, query: string | undefined): ReportFormat {
  if (query !== undefined) {
    if (query === 'csv' || query === 'jsonl') return query;
    throw new BadRequestError(`format must be csv or jsonl; it is '${query.slice(0, 32)}'`);
  }
  return accept && /(^|,)\s*text\/csv\b/i.test(accept) ? 'csv' : 'jsonl';
}

/** The report's rows from `marker` on: at most `max`, and the marker of the rest, if any. */
async function reportRows(store: Pick<JobStore, 'listServers'>, jobId: string, marker: string | undefined, max: number): Promise<{ rows: ReportRow[]; next?: string }> {
  const rows: ReportRow[] = [];
  let next = marker;
  do {
    const page = await store.listServers(jobId, { limit: Math.min(READ_PAGE, max - rows.length), ...(next ? { marker: next } : {}) });
    rows.push(...page.items.map(rowOf));
    next = page.nextMarker;
  } while (next && rows.length < max);
  return { rows, ...(next ? { next } : {}) };
}

function jsonLines(rows: ReportRow[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
}

/** The whole report as JSON lines, every server of the job: what is kept when a job ends (jobs/events.ts). */
export async function reportLines(store: Pick<JobStore, 'listServers'>, jobId: string): Promise<string> {
  const { rows } = await reportRows(store, jobId, undefined, Number.POSITIVE_INFINITY);
  return jsonLines(rows);
}

/** The report's part that starts after `marker`: its body, content type and the next part's URL. */
export async function jobReport(
  store: JobStore,
  caller: Caller,
  jobId: string,
  format: ReportFormat,
  marker: string | undefined,
  baseUrl: string,
): Promise<{ body: string; contentType: string; next?: string }> {
  const job = await loadJob(store, caller, jobId);
  const { rows, next } = await reportRows(store, job.jobId, marker, REPORT_PAGE);
  const body =
    format === 'csv'
      ? [REPORT_COLUMNS.join(','), ...rows.map((r) => REPORT_COLUMNS.map((c) => csvCell(r[c])).join(','))].join('\r\n') + '\r\n'
      : jsonLines(rows);
  const self = `${jobLocation(baseUrl, job)}/report`;
  return {
    body,
    contentType: format === 'csv' ? 'text/csv; charset=UTF-8' : 'application/x-ndjson; charset=UTF-8',
    ...(next ? { next: `${self}?${new URLSearchParams({ format, marker: next }).toString()}` } : {}),
  };
}
