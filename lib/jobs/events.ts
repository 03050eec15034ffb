/**
 * What the world hears of a job: an event on every change of its status, and its report kept when
 * it ends. Both are read from the job item's changes as the table records them (its stream: the
 * old and new item of every write), never sent by the code that moves the job. So no path that
 * moves a job can forget to tell, a function that dies after its write loses no event (the stream
 * keeps the change and the notifier is run again), and the server's life (`lifecycle.ts`) stays
 * the one writer with nothing else to do.
 *
 * Delivery is at least once: a change is told again when the notifier is run again on it. Each
 * event carries an `id` that is the same every time it is told (the job, the time of the write and the status it moved to),
 * so a consumer can drop copies; a report is written under a key that names the run it reports, so
 * writing it again writes the same object.
 */
import type { Counts, JobRecord, JobStatus, JobStop } from './model.js';
import { jobStatus } from './model.js';
import type { JobStore } from './ports.js';
import { reportLines } from './report.js';

/** EventBridge's `source` for this service's events (custom sources may not start with `aws.`). */
export const EVENT_SOURCE = 'openstack.bulk-rebuild';
/** EventBridge's `detail-type` of a job's status change. */
export const STATUS_CHANGE = 'Rebuild Job Status Change';

/** A job's status change: the event's `detail`. No secret: the job item holds none (its request is redacted). */
export interface JobStatusEvent {
  /** The same for every copy of this change: the job and the time and counts of the write that made it. */
  id: string;
  jobId: string;
  tenantId: string;
  createdBy: string;
  kind: JobRecord['kind'];
  /** The status before; null for a job just created. */
  from: JobStatus | null;
  to: JobStatus;
  /** When the write that changed it was made (the job's updatedAt). */
  at: string;
  total: number;
  counts: Counts;
  createdAt: string;
  completedAt?: string;
  stop?: JobStop;
  /** Times the job was redriven: a job that ends again after a redrive tells a second end. */
  redrives: number;
  /** Where the report of this end is kept (set on an end, when the notifier keeps reports). */
  report?: string;
}

/** One change of the job item: the item before (absent when created) and after (absent when removed by TTL). */
export interface JobChange {
  before?: JobRecord;
  after?: JobRecord;
}

/** The status change a write made, if it made one. Counter moves that leave the status as it was tell nothing. */
export function statusChange(change: JobChange): JobStatusEvent | undefined {
  const { before, after } = change;
  if (!after) return undefined; // TTL removed the item: the job ended long ago and was told then.
  const from = before ? jobStatus(before) : null;
  const to = jobStatus(after);
  if (from === to) return undefined;
  return {
    id: `${after.jobId}:${after.updatedAt}:${after.redrives ?? 0}:${to}`,
    jobId: after.jobId,
    tenantId: after.tenantId,
    createdBy: after.createdBy,
    kind: after.kind,
    from,
    to,
    at: after.updatedAt,
    total: after.total,
    counts: after.counts,
    createdAt: after.createdAt,
    ...(after.completedAt ? { completedAt: after.completedAt } : {}),
    ...(after.stop ? { stop: after.stop } : {}),
    redrives: after.redrives ?? 0,
  };
}

/** True when this write ended the job (its first end, or its end again after a redrive). */
export function endedBy(change: JobChange): boolean {
  const { before, after } = change;
  return !!after?.finalStatus && !!after.completedAt && (!before?.finalStatus || before.completedAt !== after.completedAt);
}

/**
 * Where a job's report is kept when it ends: per project and job, one object per end (a redriven job
 * keeps the report of each of its runs). The end time names it, so writing it twice writes one object.
 */
export function reportKey(job: Pick<JobRecord, 'tenantId' | 'jobId' | 'completedAt' | 'redrives'>): string {
  return `reports/${job.tenantId}/${job.jobId}/run-${(job.redrives ?? 0) + 1}-${job.completedAt}.jsonl`;
}

/** Where events go: EventBridge in the cloud, a log line and a file locally. */
export interface EventSink {
  publish(event: JobStatusEvent): Promise<void>;
}

/** Where ended jobs' reports are kept: an S3 bucket in the cloud, files locally. Returns where it was put. */
export interface ReportArchive {
  put(key: string, body: string, contentType: string): Promise<string>;
}

export interface NotifierDeps {
  store: Pick<JobStore, 'listServers'>;
  events: EventSink;
  /** Absent: reports are not kept (events are still told). */
  reports?: ReportArchive;
}

/**
 * Tells one change: keeps the report first when the change ended the job (the event then says where
 * it is), then publishes the event. Throws when either fails, so the change is told again.
 */
export async function tell(change: JobChange, deps: NotifierDeps): Promise<JobStatusEvent | undefined> {
  const event = statusChange(change);
  const after = change.after;
  let report: string | undefined;
  if (after && deps.reports && endedBy(change)) {
    report = await deps.reports.put(reportKey(after), await reportLines(deps.store, after.jobId), 'application/x-ndjson; charset=UTF-8');
  }
  if (!event) return undefined;
  const told = report ? { ...event, report } : event;
  await deps.events.publish(told);
  return told;
}
