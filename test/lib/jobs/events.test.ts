/**
 * What the notifier tells of a job's changes: one event per status change and none for the counter
 * moves between them, the report kept once per end (a redriven job's second end too), and a batch
 * that stops at the change it could not tell, so none is skipped or told out of order.
 */
import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { type StreamRecordLike, tellRecords } from '../../../lib/aws/job-stream.js';
import { type EventSink, type JobStatusEvent, type NotifierDeps, endedBy, reportKey, statusChange, tell } from '../../../lib/jobs/events.js';
import { type JobRecord, SERVER_STATES, zeroCounts } from '../../../lib/jobs/model.js';

const T0 = '2026-12-01T02:00:00.000Z';

function job(over: Partial<JobRecord> = {}, counts: Partial<JobRecord['counts']> = { QUEUED: 2 }): JobRecord {
  return {
    jobId: 'job-1', tenantId: 'p', createdBy: 'arn:aws:iam::1:user/a', kind: 'bulk', createdAt: T0, updatedAt: T0,
    total: 2, counts: { ...zeroCounts(), ...counts }, remaining: 2, inFlight: 0, deadline: '2026-12-01T04:00:00Z',
    rebuild: { imageRef: 'img', adminPass: '***' },
    options: { microversion: '2.1', maxAttempts: 3, deadlineSeconds: 7200, maxFailurePercentage: 100, maxInFlight: 2 },
    submission: { state: 'COMPLETE', deadline: T0 }, expiresAt: 0, ...over,
  };
}
const queued = job();
const running = job({ updatedAt: '2026-12-01T02:00:01.000Z' }, { QUEUED: 1, SUBMITTING: 1 });
const runningOn = job({ updatedAt: '2026-12-01T02:00:02.000Z' }, { ACCEPTED: 1, SUBMITTING: 1 });
const ended = job({ updatedAt: '2026-12-01T02:00:09.000Z', finalStatus: 'PARTIAL', completedAt: '2026-12-01T02:00:09.000Z', remaining: 0 }, { SUCCEEDED: 1, FAILED: 1 });
const reopened = job({ updatedAt: '2026-12-01T02:10:00.000Z', redrives: 1, remaining: 1 }, { SUCCEEDED: 1, QUEUED: 1 });
const endedAgain = job({ updatedAt: '2026-12-01T02:10:09.000Z', redrives: 1, finalStatus: 'SUCCEEDED', completedAt: '2026-12-01T02:10:09.000Z', remaining: 0 }, { SUCCEEDED: 2 });

/** The job item as the table holds it (counters flattened), as the stream carries it. */
function item(j: JobRecord) {
  const { counts, ...rest } = j;
  const flat: Record<string, unknown> = { ...rest, pk: `JOB#${j.jobId}`, sk: '#JOB' };
  for (const s of SERVER_STATES) flat[`n_${s}`] = counts[s];
  return marshall(flat, { removeUndefinedValues: true });
}
function record(seq: string, before: JobRecord | undefined, after: JobRecord): StreamRecordLike {
  return { eventName: before ? 'MODIFY' : 'INSERT', dynamodb: { SequenceNumber: seq, Keys: { pk: { S: `JOB#${after.jobId}` }, sk: { S: '#JOB' } }, NewImage: item(after), ...(before ? { OldImage: item(before) } : {}) } };
}

function outlets(failOn?: (e: JobStatusEvent) => boolean) {
  const told: JobStatusEvent[] = [];
  const kept = new Map<string, string>();
  const events: EventSink = {
    publish: async (e) => {
      if (failOn?.(e)) throw new Error('bus unavailable');
      told.push(e);
    },
  };
  const deps: NotifierDeps = {
    store: { listServers: async () => ({ items: [] }) },
    events,
    reports: { put: async (key, body) => (kept.set(key, body), `mem:${key}`) },
  };
  return { told, kept, deps };
}

describe('job status events', () => {
  it('tells a change of status, not a counter move that leaves the status as it was, nor the TTL removing the item', () => {
    expect(statusChange({ after: queued })).toMatchObject({ from: null, to: 'QUEUED', jobId: 'job-1', tenantId: 'p' });
    expect(statusChange({ before: queued, after: running })).toMatchObject({ from: 'QUEUED', to: 'RUNNING', at: running.updatedAt });
    expect(statusChange({ before: running, after: runningOn })).toBeUndefined();
    expect(statusChange({ before: ended })).toBeUndefined();
    expect(statusChange({ before: running, after: job({ paused: { at: T0, by: 'x' } }, running.counts) })?.to).toBe('PAUSED');
  });

  it('carries no request: the redacted rebuild stays in the table, the event names the job and its counts', () => {
    const e = statusChange({ before: running, after: ended }) as JobStatusEvent;
    expect(JSON.stringify(e)).not.toContain('adminPass');
    expect(e).toMatchObject({ to: 'PARTIAL', completedAt: ended.completedAt, counts: expect.objectContaining({ SUCCEEDED: 1, FAILED: 1 }) });
  });

  it('gives a change the same id every time it is told, and another change another id', () => {
    const a = statusChange({ before: queued, after: running });
    expect(statusChange({ before: queued, after: running })?.id).toBe(a?.id);
    expect(statusChange({ before: running, after: ended })?.id).not.toBe(a?.id);
  });

  it('keeps a report at each end, a redriven job its second beside the first', () => {
    expect(endedBy({ before: runningOn, after: ended })).toBe(true);
    expect(endedBy({ before: ended, after: ended })).toBe(false);
    expect(endedBy({ before: ended, after: reopened })).toBe(false);
    expect(endedBy({ before: reopened, after: endedAgain })).toBe(true);
    expect(reportKey(ended)).toBe('reports/p/job-1/run-1-2026-12-01T02:00:09.000Z.jsonl');
    expect(reportKey(endedAgain)).toBe('reports/p/job-1/run-2-2026-12-01T02:10:09.000Z.jsonl');
  });

  it('names the kept report in the event of the end', async () => {
    const { told, kept, deps } = outlets();
    const e = await tell({ before: runningOn, after: ended }, deps);
    expect(e?.report).toBe(`mem:${reportKey(ended)}`);
    expect([...kept.keys()]).toEqual([reportKey(ended)]);
    expect(told).toHaveLength(1);
  });
});

describe('telling a batch of stream records', () => {
  const batch: StreamRecordLike[] = [
    record('1', undefined, queued),
    { eventName: 'INSERT', dynamodb: { SequenceNumber: '2', Keys: { pk: { S: 'JOB#job-1' }, sk: { S: 'SERVER#s1' } }, NewImage: { status: { S: 'QUEUED' } } } },
    record('3', queued, running),
    record('4', running, runningOn),
    record('5', runningOn, ended),
  ];

  it("tells the job's status changes in order and leaves servers' records alone", async () => {
    const { told, deps } = outlets();
    const out = await tellRecords(batch, deps);
    expect(out.failedAt).toBeUndefined();
    expect(told.map((e) => `${e.from}->${e.to}`)).toEqual(['null->QUEUED', 'QUEUED->RUNNING', 'RUNNING->PARTIAL']);
  });

  it('stops at the change it could not tell and names it: the ones after it are not told before it', async () => {
    const { told, deps } = outlets((e) => e.to === 'RUNNING');
    const out = await tellRecords(batch, deps);
    expect(out.failedAt).toBe('3');
    expect(told.map((e) => e.to)).toEqual(['QUEUED']);
  });
});
