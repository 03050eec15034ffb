/**
 * The server's life has one home: the state machine's own rules, and a check that no other code
 * writes a server record.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../../cdk/bundling.js';
import { ConditionFailedError, SlotsFullError } from '../../../lib/errors.js';
import { ForbiddenMoveError, ServerLife } from '../../../lib/jobs/lifecycle.js';
import { type JobRecord, type ServerRecord, zeroCounts } from '../../../lib/jobs/model.js';
import { MemoryJobStore } from '../../support/memory.js';

const NOW = new Date('2026-12-01T02:00:00Z');

function setup(servers = 3, maxInFlight = 2) {
  const store = new MemoryJobStore();
  const life = new ServerLife({ store, now: () => NOW, minFailureSample: 10 });
  const counts = zeroCounts();
  counts.QUEUED = servers;
  const job: JobRecord = {
    jobId: 'job-1', tenantId: 'p', createdBy: 'arn:aws:iam::1:user/a', kind: 'bulk', createdAt: NOW.toISOString(), updatedAt: NOW.toISOString(),
    total: servers, counts, remaining: servers, inFlight: 0, deadline: '2026-12-01T04:00:00Z', rebuild: {},
    options: { microversion: '2.1', maxAttempts: 3, deadlineSeconds: 7200, maxFailurePercentage: 100, maxInFlight },
    submission: { state: 'COMPLETE', deadline: NOW.toISOString() }, expiresAt: 0,
  };
  const records: ServerRecord[] = Array.from({ length: servers }, (_, i) => ({
    jobId: 'job-1', serverId: `s${String(i).padStart(3, '0')}`, tenantId: 'p', index: i, status: 'QUEUED', imageId: 'img', rebuild: {}, attempts: 0, tries: 0,
    createdAt: NOW.toISOString(), updatedAt: NOW.toISOString(), expiresAt: 0, seq: 0,
  }));
  return { store, life, job, records };
}

describe("a server's life", () => {
  it('refuses moves a server does not make: an ended server never moves again, and only a claim leads to an answer', async () => {
    const { store, life, job, records } = setup();
    await store.createJob(job);
    await life.create(records);
    const ended = await life.move(job, records[0] as ServerRecord, { status: 'CANCELLED' });
    await expect(life.move(job, ended, { status: 'QUEUED' })).rejects.toThrow(ForbiddenMoveError);
    await expect(life.move(job, records[1] as ServerRecord, { status: 'SUCCEEDED' })).rejects.toThrow(ForbiddenMoveError);
    await expect(life.move(job, records[1] as ServerRecord, { status: 'ACCEPTED' })).rejects.toThrow(ForbiddenMoveError);
  });

  it('never overwrites a record someone else moved: the write is conditional on the seq and status read', async () => {
    const { store, life, job, records } = setup();
    await store.createJob(job);
    await life.create(records);
    await life.move(job, records[0] as ServerRecord, { status: 'SUBMITTING' }, { maxInFlight: 2 });
    // A stale copy (seq 0, QUEUED) loses.
    await expect(life.move(job, records[0] as ServerRecord, { status: 'FAILED' })).rejects.toThrow(ConditionFailedError);
    expect((await store.getServer('job-1', 's000'))?.status).toBe('SUBMITTING');
  });

  it("holds claims to the job's maxInFlight, and gives the slot back when the server ends", async () => {
    const { store, life, job, records } = setup(3, 2);
    await store.createJob(job);
    await life.create(records);
    const [a, b, c] = records as [ServerRecord, ServerRecord, ServerRecord];
    const claimedA = await life.move(job, a, { status: 'SUBMITTING' }, { maxInFlight: 2 });
    await life.move(job, b, { status: 'SUBMITTING' }, { maxInFlight: 2 });
    await expect(life.move(job, c, { status: 'SUBMITTING' }, { maxInFlight: 2 })).rejects.toThrow(SlotsFullError);
    await life.move((await store.getJob('job-1')) as JobRecord, claimedA, { status: 'FAILED', faultName: 'refused' });
    await life.move((await store.getJob('job-1')) as JobRecord, c, { status: 'SUBMITTING' }, { maxInFlight: 2 });
    expect((await store.getJob('job-1'))?.inFlight).toBe(2);
  });

  it("writes the job's final status and completedAt in the write that ends its last server, however stale the job it was given", async () => {
    const { store, life, job, records } = setup(3);
    await store.createJob(job);
    await life.create(records);
    // Every end is given the job as first read: the last one must still find it is the last.
    for (const r of records.slice(0, 2)) await life.move(job, r, { status: 'CANCELLED' });
    expect((await store.getJob('job-1'))?.finalStatus).toBeUndefined();
    await life.move(job, records[2] as ServerRecord, { status: 'FAILED', faultName: 'x' });
    const ended = (await store.getJob('job-1')) as JobRecord;
    expect(ended).toMatchObject({ finalStatus: 'FAILED', completedAt: NOW.toISOString(), remaining: 0, counts: { CANCELLED: 2, FAILED: 1, QUEUED: 0 } });
  });

  it('moves many servers in as few writes as it takes, skipping those moved meanwhile', async () => {
    const { store, life, job, records } = setup(120);
    await store.createJob(job);
    await life.create(records);
    await life.move(job, records[5] as ServerRecord, { status: 'SUBMITTING' }, { maxInFlight: 2 });
    const out = await life.moveMany(job, records.map((from) => ({ from, change: { status: 'CANCELLED' as const } })));
    expect(out.moved).toHaveLength(119);
    expect(out.skipped.map((s) => s.serverId)).toEqual(['s005']);
    expect(out.job.remaining).toBe(1);
    expect((await store.getJob('job-1'))?.counts).toMatchObject({ CANCELLED: 119, SUBMITTING: 1, QUEUED: 0 });
  });
});

describe('one home', () => {
  it('lets no code but the state machine write a server record', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (path.endsWith('.ts')) files.push(path);
      }
    };
    for (const dir of ['lib', 'functions', 'local', 'scripts']) walk(join(PROJECT_ROOT, dir));
    const writers = files.filter((f) => /\.(applyTransition|putServers)\(/.test(readFileSync(f, 'utf8'))).map((f) => relative(PROJECT_ROOT, f));
    expect(writers).toEqual(['lib/jobs/lifecycle.ts']);
  });
});
