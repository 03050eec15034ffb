/**
 * The fault scenarios. Each is bounded by its budget and leaves nothing running; the drains share
 * runDrain (drain.ts) and its invariants, and differ in the damage they do.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { isWatchMessage } from '../../lib/jobs/message.js';
import { IMAGE } from './client.js';
import { type Drain, isEnded, runDrain, succeeded } from './drain.js';
import { type Scenario, sleep } from './harness.js';

/** What a 5xx body must not show: addresses, socket errors, SDK exception names, stack frames. */
const INTERNALS = /127\.0\.0\.1|ECONNREFUSED|ECONNRESET|Exception|\n\s+at /;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Waits until `share` of the job's servers succeeded: the fault then lands mid-drain. */
async function midDrain(d: Drain, share: number, what: string) {
  d.ctx.phase = `waiting for ${Math.round(share * 100)}% of the servers before ${what}`;
  const job = await d.client.until(d.jobId, 120, d.ctx.signal, (j) => succeeded(j) >= share * j.total);
  if (isEnded(job)) throw new Error(`the job ended before ${what}: the fault would not be mid-drain`);
  return job;
}

const duplicates: Scenario = {
  name: 'duplicate-delivery-x3',
  budgetSeconds: 480,
  run: (ctx) =>
    runDrain(ctx, {
      servers: 1000,
      // All at once: with 1 s follow-ups, servers waiting for a slot would look again several
      // hundred times a second (×3 copies), more than two cores drain; duplicates are the point here.
      maxInFlight: 1000,
      duplicateMessages: 3,
      after: async (d) => {
        ctx.figures.messagesHandled = d.stack.poller?.stats.messages ?? 0;
      },
    }),
};

const workerKills: Scenario = {
  name: 'worker-killed-x5',
  budgetSeconds: 360,
  run: (ctx) =>
    runDrain(ctx, {
      servers: 300,
      // A slow drain (~300/20 rebuild rounds) so five kills and restarts all land inside it.
      maxInFlight: 20,
      externalWorker: true,
      during: async (d) => {
        const worker = d.worker;
        if (!worker) throw new Error('no worker process');
        const moments: string[] = [];
        for (let k = 0; k < 5; k++) {
          const ms = 500 + Math.floor(Math.random() * 3500);
          ctx.phase = `worker incarnation ${k + 1}, to be killed after ${ms} ms`;
          await sleep(ms, ctx.signal);
          const job = await d.client.job(d.jobId);
          if (job && isEnded(job)) {
            ctx.violations.push({ invariant: 'scenario', detail: `the job ended after ${k} kills: the kills were not all mid-drain` });
            break;
          }
          if (!worker.running) throw new Error('the worker process died on its own');
          await worker.kill();
          moments.push(`${((Date.now() - d.submittedAt) / 1000).toFixed(1)}s`);
          ctx.phase = `restarting the worker after kill ${k + 1}`;
          await worker.start();
        }
        ctx.figures.kills = worker.kills;
        ctx.figures.killedAt = moments.join('/');
        ctx.figures.workerStarts = worker.starts;
      },
      after: async (d) => {
        // Recovery asks Nova before sending again: the instance-action look-ups show it happened.
        ctx.figures.novaAsked = d.sim.requests().filter((r) => r.kind === 'actions').length;
        if (d.worker && !d.worker.running) ctx.violations.push({ invariant: 'scenario', detail: 'the last worker process died on its own' });
      },
    }),
};

const OUTAGE_SECONDS = 30;
const computeDown: Scenario = {
  name: 'compute-api-down-30s',
  budgetSeconds: 300,
  run: (ctx) =>
    runDrain(ctx, {
      servers: 300,
      maxInFlight: 50,
      during: async (d) => {
        const before = await midDrain(d, 0.2, 'the outage');
        // Every request to Keystone, Nova and Glance has its connection reset for 30 s.
        d.sim.injectFault({ kind: 'any', fault: { type: 'reset' }, times: 1_000_000 });
        const from = d.sim.now();
        ctx.phase = `Compute API down for ${OUTAGE_SECONDS} s`;
        await sleep(OUTAGE_SECONDS * 1000, ctx.signal);
        d.sim.clearFaults();
        const to = d.sim.now();
        const after = await d.client.job(d.jobId);
        ctx.figures.outage = `${OUTAGE_SECONDS}s`;
        // Steps already past their Compute call when it went down still land.
        ctx.figures.succeededAtOutage = `${succeeded(before)}->${after ? succeeded(after) : '?'}`;
        if (after && isEnded(after)) ctx.violations.push({ invariant: 'scenario', detail: 'the job ended during the outage' });
        const window = d.sim.requests().filter((r) => r.at >= from && r.at < to);
        ctx.figures.callsDuringOutage = window.length;
        const answered = window.filter((r) => r.status !== 'reset').length;
        if (answered) ctx.violations.push({ invariant: 'scenario', detail: `${answered} requests were answered during the outage` });
      },
      after: async (d) => {
        ctx.figures.resets = d.sim.requests().filter((r) => r.status === 'reset').length;
      },
    }),
};

const STORM_FAULTS = 400;
const RETRY_AFTER_SECONDS = 2;
const stormWithRetryAfter: Scenario = {
  name: '503-storm-retry-after',
  budgetSeconds: 240,
  run: (ctx) =>
    runDrain(ctx, {
      servers: 300,
      maxInFlight: 50,
      during: async (d) => {
        await midDrain(d, 0.1, 'the storm');
        d.sim.injectFault({ kind: 'any', fault: { type: 'serviceUnavailable', retryAfter: RETRY_AFTER_SECONDS }, times: STORM_FAULTS });
      },
      after: async (d) => {
        const requests = d.sim.requests();
        const served = requests.filter((r) => r.fault === 'serviceUnavailable').length;
        ctx.figures.injected = STORM_FAULTS;
        ctx.figures.served503 = served;
        if (served !== STORM_FAULTS) ctx.violations.push({ invariant: 'scenario', detail: `only ${served} of ${STORM_FAULTS} 503s were served` });
        // Never sooner than asked: after a 503 with Retry-After, the same call for the same server
        // comes at least Retry-After later.
        const early: string[] = [];
        let minGap = Infinity;
        const ids = new Set(d.serverIds);
        for (const kind of ['rebuild', 'get', 'actions'] as const) {
          const last = new Map<string, (typeof requests)[number]>();
          for (const r of requests) {
            if (r.kind !== kind || !r.serverId || !ids.has(r.serverId)) continue;
            const prev = last.get(r.serverId);
            if (prev?.fault === 'serviceUnavailable') {
              const gap = r.at - prev.at;
              minGap = Math.min(minGap, gap);
              if (gap < RETRY_AFTER_SECONDS * 1000) early.push(`${kind} ${r.serverId} after ${gap} ms`);
            }
            last.set(r.serverId, r);
          }
        }
        ctx.figures.minGapAfter503 = Number.isFinite(minGap) ? `${minGap}ms` : 'n/a';
        if (early.length) {
          ctx.violations.push({ invariant: 'Retry-After respected', detail: `${early.length} calls sooner than Retry-After (${RETRY_AFTER_SECONDS} s): ${early.slice(0, 3).join('; ')}` });
        }
      },
    }),
};

const stormHtml: Scenario = {
  name: '503-storm-html-no-retry-after',
  budgetSeconds: 240,
  run: (ctx) =>
    runDrain(ctx, {
      servers: 300,
      maxInFlight: 50,
      during: async (d) => {
        await midDrain(d, 0.1, 'the storm');
        d.sim.injectFault({ kind: 'any', fault: { type: 'htmlServiceUnavailable' }, times: STORM_FAULTS });
      },
      after: async (d) => {
        const served = d.sim.requests().filter((r) => r.fault === 'htmlServiceUnavailable').length;
        ctx.figures.injected = STORM_FAULTS;
        ctx.figures.served503 = served;
        if (served !== STORM_FAULTS) ctx.violations.push({ invariant: 'scenario', detail: `only ${served} of ${STORM_FAULTS} 503s were served` });
      },
    }),
};

const dynamoRestart: Scenario = {
  name: 'dynamodb-restart',
  budgetSeconds: 300,
  run: (ctx) =>
    runDrain(ctx, {
      servers: 300,
      maxInFlight: 50,
      persistent: true,
      during: async (d) => {
        const before = await midDrain(d, 0.25, 'the restart');
        ctx.phase = 'restarting DynamoDB Local';
        const t = Date.now();
        // An operator keeps polling meanwhile: the API must answer a clean fault, not hang or leak internals.
        const seen = new Map<number | string, number>();
        const leaky: string[] = [];
        let restarting = true;
        const polling = (async () => {
          while (restarting) {
            try {
              const res = await d.client.call(`/rebuild-jobs/${d.jobId}`);
              seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
              if (res.status >= 500 && INTERNALS.test(res.text)) leaky.push(`${res.status}: ${res.text.slice(0, 200)}`);
            } catch (err) {
              seen.set('no answer', (seen.get('no answer') ?? 0) + 1);
            }
            await sleep(100);
          }
        })();
        try {
          await d.stack.dynamo.restart();
        } finally {
          restarting = false;
          await polling;
        }
        ctx.figures.restart = `${((Date.now() - t) / 1000).toFixed(1)}s`;
        ctx.figures.succeededAtRestart = succeeded(before);
        ctx.figures.apiAnswersDuringRestart = [...seen].map(([k, v]) => `${k}x${v}`).join(',');
        if (leaky.length) ctx.violations.push({ invariant: 'clean 5xx', detail: `${leaky.length} answers during the restart carried internal details: ${leaky[0]}` });
      },
      after: async (d) => {
        // Steps cut by the restart: their messages came back and were done again.
        ctx.figures.stepsFailed = d.logs.filter((l) => l.includes('"step failed"')).length;
      },
    }),
};

const poison: Scenario = {
  name: 'poison-message',
  budgetSeconds: 180,
  run: (ctx) => {
    const bodies: string[] = [];
    return runDrain(ctx, {
      servers: 100,
      maxInFlight: 50,
      beforeSubmit: async (d) => {
        // Straight into the queue, as a stray producer would: one with a secret in it (it must
        // not reach the logs), one not even JSON.
        bodies.push(JSON.stringify({ v: 1, jobId: 'not-a-job', adminPass: d.secrets.adminPass }), 'this is not a rebuild message');
        const sqs = new SQSClient({ region: d.stack.aws.region, credentials: d.stack.aws.credentials, endpoint: d.stack.aws.sqsEndpoint });
        try {
          for (const body of bodies) await sqs.send(new SendMessageCommand({ QueueUrl: d.stack.sqs.queueUrl, MessageBody: body }));
        } finally {
          sqs.destroy();
        }
      },
      after: async (d) => {
        // Five receives, 4 s apart, then the redrive: about 20 s after they were sent.
        ctx.phase = 'waiting for the poison messages in the dead-letter queue';
        const until = Date.now() + 90_000;
        while (d.stack.sqs.bodies('dlq').length < bodies.length && Date.now() < until) await sleep(250, ctx.signal);
        const dlq = d.stack.sqs.bodies('dlq');
        ctx.figures.poison = bodies.length;
        ctx.figures.inDlq = dlq.length;
        const expected = [...bodies].sort();
        if (JSON.stringify([...dlq].sort()) !== JSON.stringify(expected)) {
          ctx.violations.push({ invariant: 'poison to DLQ', detail: `dead-letter queue holds ${dlq.length} messages, expected exactly the ${bodies.length} poison ones` });
        }
        const stillMain = d.stack.sqs.bodies('main').filter((b) => bodies.includes(b)).length;
        if (stillMain) ctx.violations.push({ invariant: 'poison to DLQ', detail: `${stillMain} poison messages still in the main queue` });
      },
    });
  },
};

const FUZZ_RUNS = 500;
const fuzz: Scenario = {
  name: 'fuzz-full-count',
  budgetSeconds: 420,
  run: async (ctx) => {
    ctx.phase = `running the fuzz suite at FUZZ_RUNS=${FUZZ_RUNS}`;
    // Its own process group, so a budget overrun kills npx, vitest and its workers together.
    const child = spawn('npx', ['vitest', 'run', 'test/fuzz'], {
      cwd: ROOT,
      env: { ...process.env, FUZZ_RUNS: String(FUZZ_RUNS), NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    ctx.onCleanup('fuzz suite', () => {
      if (child.exitCode === null && child.signalCode === null && child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    });
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | string>((resolve) => child.once('exit', (c, s) => resolve(c ?? s ?? 'unknown')));
    const lines = [...out.matchAll(/\[fuzz\] ([\w-]+): (\d+) requests from (\d+) properties/g)];
    const requests = lines.reduce((n, m) => n + Number(m[2]), 0);
    const properties = lines.reduce((n, m) => n + Number(m[3]), 0);
    const t = /Tests\s+(\d+) passed \((\d+)\)/.exec(out);
    const tests = t ? `${t[1]}/${t[2]}` : (/Tests\s+(.+?)\s*\n/.exec(out)?.[1]?.trim().replace(/\s+/g, '_') ?? '?');
    ctx.figures.fuzzRuns = FUZZ_RUNS;
    ctx.figures.requests = requests;
    ctx.figures.properties = properties;
    ctx.figures.files = lines.length;
    ctx.figures.tests = tests;
    ctx.figures.perFile = lines.map((m) => `${m[1]}:${m[2]}`).join(',');
    if (code !== 0) {
      const failing = out.split('\n').filter((l) => /FAIL|✗|×|AssertionError|Counterexample/.test(l)).slice(0, 3).join(' | ');
      ctx.violations.push({ invariant: 'fuzz passes', detail: `vitest exited ${code}: ${failing.slice(0, 600)}` });
    }
    if (lines.length === 0) ctx.violations.push({ invariant: 'fuzz passes', detail: 'no [fuzz] request count line in the output' });
    else if (requests < properties * FUZZ_RUNS) ctx.violations.push({ invariant: 'fuzz passes', detail: `${requests} requests, fewer than ${properties} properties × ${FUZZ_RUNS}` });
  },
};

/** How far past a job's start the sweeps below are run: after the stall limit (1 h), before the deadline (2 h). */
const SWEEP_LATER_MS = 90 * 60_000;

const actedThen5xx: Scenario = {
  name: '5xx-after-the-cloud-acted',
  budgetSeconds: 300,
  run: (ctx) =>
    runDrain(ctx, {
      servers: 300,
      maxInFlight: 50,
      during: async (d) => {
        await midDrain(d, 0.05, 'the faults');
        // Nova acts, and the answer is lost behind a 5xx: its own 500, a balancer's 502 or 504; or a
        // balancer answers 504 at once while Nova acts 1.5 s later (within the 3 s settle time).
        for (const fault of [
          { type: 'actThenFail', status: 500 },
          { type: 'actThenFail', status: 502 },
          { type: 'actThenFail', status: 504 },
          { type: 'actLate', ms: 1500 },
          { type: 'resetAfterProcessing' },
        ] as const) {
          d.sim.injectFault({ kind: 'rebuild', fault, times: 30 });
        }
      },
      after: async (d) => {
        const served = d.sim.requests().filter((r) => r.fault === 'actThenFail' || r.fault === 'actLate' || r.fault === 'resetAfterProcessing').length;
        ctx.figures.actedThenFailed = served;
        if (served !== 150) ctx.violations.push({ invariant: 'scenario', detail: `only ${served} of 150 faults were served` });
        ctx.figures.novaAsked = d.sim.requests().filter((r) => r.kind === 'actions').length;
      },
    }),
};

const skew: Scenario = {
  name: 'clock-skew-5min',
  budgetSeconds: 300,
  run: (ctx) =>
    runDrain(ctx, {
      servers: 300,
      maxInFlight: 30,
      // The cloud's clock five minutes behind ours; halfway, ten minutes forward: five minutes ahead.
      clockSkewMs: -300_000,
      during: async (d) => {
        await midDrain(d, 0.05, 'the first faults');
        d.sim.injectFault({ kind: 'rebuild', fault: { type: 'actThenFail', status: 504 }, times: 40 });
        d.sim.injectFault({ kind: 'rebuild', fault: { type: 'resetAfterProcessing' }, times: 40 });
        await midDrain(d, 0.5, 'the clock jump');
        d.sim.advanceClock(600_000);
        d.sim.injectFault({ kind: 'rebuild', fault: { type: 'actThenFail', status: 504 }, times: 40 });
        d.sim.injectFault({ kind: 'rebuild', fault: { type: 'resetAfterProcessing' }, times: 40 });
        ctx.figures.skew = '-5min then +5min';
      },
      after: async (d) => {
        ctx.figures.actedThenLost = d.sim.requests().filter((r) => r.fault === 'actThenFail' || r.fault === 'resetAfterProcessing').length;
      },
    }),
};

const twoJobs: Scenario = {
  name: 'server-in-two-jobs',
  budgetSeconds: 240,
  run: (ctx) =>
    runDrain(ctx, {
      servers: 200,
      maxInFlight: 20,
      during: async (d) => {
        await midDrain(d, 0.1, 'the second job');
        // Half the servers again, with others: refused whole, naming the live job.
        const extra = Array.from({ length: 10 }, () => d.sim.createServer().id);
        const overlap = d.serverIds.slice(100, 150);
        const res = await d.client.call('/rebuild-jobs', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ rebuildJob: { rebuild: { imageRef: IMAGE, adminPass: d.secrets.adminPass }, servers: [...extra, ...overlap].map((id) => ({ id })) } }),
        });
        ctx.figures.secondJob = res.status;
        const conflicts = (res.json as { conflictingRequest?: { conflicts?: { jobId: string }[]; conflictCount?: number } }).conflictingRequest;
        if (res.status !== 409) ctx.violations.push({ invariant: 'one job a server', detail: `a second job naming live servers answered ${res.status}` });
        else if (!conflicts?.conflicts?.every((c) => c.jobId === d.jobId)) ctx.violations.push({ invariant: 'one job a server', detail: 'the 409 does not name the live job' });
        ctx.figures.conflictsNamed = conflicts?.conflictCount ?? conflicts?.conflicts?.length ?? 0;
        const rebuiltExtra = extra.filter((id) => d.sim.rebuildCount(id) > 0);
        if (rebuiltExtra.length) ctx.violations.push({ invariant: 'one job a server', detail: `${rebuiltExtra.length} servers of the refused job were rebuilt` });
      },
    }),
};

const deadLetters: Scenario = {
  name: 'messages-dead-lettered',
  budgetSeconds: 300,
  run: (ctx) => {
    const crashing = new Set<string>();
    const moved = new Set<string>();
    return runDrain(ctx, {
      servers: 200,
      maxInFlight: 20,
      deadLettersExpected: true,
      // Ten servers whose every step crashes the worker: ended at their message's last delivery.
      crashPoint: (point, serverId) => {
        if (point === 'stepStart' && crashing.has(serverId)) throw new Error('the worker crashes on this server every time');
      },
      beforeSubmit: async (d) => {
        for (const id of d.serverIds.slice(0, 10)) crashing.add(id);
        // Ten waiting servers' next messages go to the dead-letter queue instead of the queue, as
        // after a runtime that died on them five times: nothing of theirs is left to deliver. They
        // are taken where the worker sends them, from the first waits after submission (a server
        // waiting for its slot or the preflight): picking them by receiving from the queue would
        // count as a delivery of every other message seen there, and could dead-letter those too.
        const sqs = new SQSClient({ region: d.stack.aws.region, credentials: d.stack.aws.credentials, endpoint: d.stack.aws.sqsEndpoint });
        const queue = d.stack.queue;
        const schedule = queue.schedule.bind(queue);
        queue.schedule = async (message, delaySeconds) => {
          const take = !isWatchMessage(message) && message.phase === 'attempt' && !crashing.has(message.serverId) && !moved.has(message.serverId) && moved.size < 10;
          if (!take) return schedule(message, delaySeconds);
          moved.add(message.serverId);
          await sqs.send(new SendMessageCommand({ QueueUrl: d.stack.sqs.dlqUrl, MessageBody: JSON.stringify(message) }));
          if (moved.size === 10) queue.schedule = schedule;
        };
        ctx.onCleanup('dead-letter client', () => sqs.destroy());
      },
      during: async (d) => {
        const until = Date.now() + 60_000;
        while (moved.size < 10 && Date.now() < until) await sleep(100, ctx.signal);
        ctx.figures.deadLettered = moved.size;
        // A scenario that could not set up its fault proves nothing about it.
        if (moved.size < 10) ctx.violations.push({ invariant: 'scenario', detail: `only ${moved.size} of 10 waiting servers' messages could be dead-lettered` });
        // The rest drains; then a sweep, later than the stall limit, finds the ten overdue.
        await d.client.until(d.jobId, 200, ctx.signal, (j) => (j.counts.SUCCEEDED ?? 0) + (j.counts.FAILED ?? 0) >= j.total - moved.size);
        const report = await d.stack.sweep(new Date(Date.now() + SWEEP_LATER_MS));
        ctx.figures.swept = report.ended;
      },
      expectFailed: () => new Map([...[...crashing].map((id) => [id, 'abandoned'] as const), ...[...moved].map((id) => [id, 'stalled'] as const)]),
    });
  },
};

const submitKilled: Scenario = {
  name: 'submit-killed-midway',
  budgetSeconds: 240,
  run: (ctx) => {
    const unsent = new Set<string>();
    return runDrain(ctx, {
      servers: 200,
      maxInFlight: 50,
      submit: async (d, body) => {
        // The submit function dies after sending half the messages: the caller gets a 500.
        const send = d.stack.queue.send.bind(d.stack.queue);
        d.stack.queue.send = async (messages) => {
          d.stack.queue.send = send;
          await send(messages.slice(0, 100));
          for (const m of messages.slice(100)) unsent.add(m.serverId);
          throw new Error('the submit function was killed');
        };
        const res = await d.client.call('/rebuild-jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        ctx.figures.submitAnswered = res.status;
        if (res.status !== 500) ctx.violations.push({ invariant: 'scenario', detail: `the killed submission answered ${res.status}` });
        const list = await d.client.call('/rebuild-jobs?limit=1');
        const [job] = (list.json as { rebuildJobs: { id: string; submission: { state: string } }[] }).rebuildJobs;
        if (!job) throw new Error('the killed submission left no job');
        ctx.figures.submission = job.submission.state;
        return job.id;
      },
      during: async (d) => {
        await d.client.until(d.jobId, 120, ctx.signal, (j) => (j.counts.SUCCEEDED ?? 0) >= 100);
        // Its messages never sent: the sweep finds the rest overdue and ends them.
        const report = await d.stack.sweep(new Date(Date.now() + SWEEP_LATER_MS));
        ctx.figures.swept = report.ended;
      },
      expectFailed: () => new Map([...unsent].map((id) => [id, 'stalled'] as const)),
    });
  },
};

const noGrant: Scenario = {
  name: 'caller-without-a-grant',
  budgetSeconds: 180,
  run: (ctx) =>
    runDrain(ctx, {
      servers: 100,
      maxInFlight: 50,
      during: async (d) => {
        // Another principal, granted nothing: every call refused, nothing written, nothing cancelled.
        const headers = { 'content-type': 'application/json', 'x-local-principal': 'arn:aws:iam::000000000000:user/intruder' };
        const calls: [string, RequestInit][] = [
          ['/rebuild-jobs', { method: 'POST', headers, body: JSON.stringify({ rebuildJob: { rebuild: { imageRef: IMAGE }, servers: [{ id: d.serverIds[0] }] } }) }],
          [`/servers/${d.serverIds[1]}/action`, { method: 'POST', headers, body: JSON.stringify({ rebuild: { imageRef: IMAGE } }) }],
          [`/rebuild-jobs/${d.jobId}/action`, { method: 'POST', headers, body: '{"cancel": null}' }],
          [`/rebuild-jobs/${d.jobId}`, { headers }],
          [`/rebuild-jobs/${d.jobId}/servers`, { headers }],
          ['/rebuild-jobs', { headers }],
        ];
        const statuses: number[] = [];
        for (const [path, init] of calls) statuses.push((await d.client.call(path, init)).status);
        ctx.figures.intruderAnswers = statuses.join(',');
        if (statuses.some((s) => s !== 403)) ctx.violations.push({ invariant: 'grants', detail: `an ungranted principal got ${statuses.join(', ')}` });
        const job = await d.client.job(d.jobId);
        if (job && (job as { stop?: unknown }).stop) ctx.violations.push({ invariant: 'grants', detail: 'the ungranted principal stopped the job' });
      },
    }),
};

const quotesSecrets: Scenario = {
  name: 'cloud-quotes-secrets',
  budgetSeconds: 180,
  run: (ctx) => {
    const quoted = new Set<string>();
    return runDrain(ctx, {
      servers: 100,
      maxInFlight: 50,
      beforeSubmit: async (d) => {
        // Nova's 400 quoting the request: the whole body (04b) for some, the file's contents (03i) for others.
        d.serverIds.slice(0, 20).forEach((id, i) => {
          d.sim.injectFault({ kind: 'rebuild', serverId: id, fault: { type: 'quoteRequest', recording: i % 2 ? '03i' : '04b' } });
          quoted.add(id);
        });
      },
      expectFailed: () => new Map([...quoted].map((id) => [id, 'badRequest'] as const)),
    });
  },
};

/**
 * A job by selection, planned first (select by name, options.confirm "manual"): the worker is
 * killed while the selection's list is on its way (held for 3 s), and again mid-drain. The
 * selection must be resolved once the watcher's message comes back, the plan built, nothing
 * rebuilt before the confirmation, and the confirmed job then drains under every invariant.
 */
const planningCrash: Scenario = {
  name: 'worker-killed-while-planning',
  budgetSeconds: 300,
  run: (ctx) =>
    runDrain(ctx, {
      servers: 200,
      maxInFlight: 20,
      externalWorker: true,
      submit: async (d, body) => {
        const worker = d.worker;
        if (!worker) throw new Error('no worker process');
        // The simulator's servers are the drain's, named sim-server-N: a selection by name takes
        // them all. A planned job's secrets are the shared ones, given again at the confirmation.
        const job = (body as { rebuildJob: { servers?: { id: string }[]; select?: unknown; options: Record<string, unknown> } }).rebuildJob;
        delete job.servers;
        job.select = { filters: { name: '^sim-server-' } };
        job.options.confirm = 'manual';
        d.sim.injectFault({ kind: 'list', fault: { type: 'delay', ms: 3000 } });
        const submitted = await d.client.submit(body);
        ctx.phase = 'killing the worker while the selection is listed';
        const seen = Date.now() + 30_000;
        while (!d.sim.requests().some((r) => r.kind === 'list') && Date.now() < seen) await sleep(20, ctx.signal);
        if (!d.sim.requests().some((r) => r.kind === 'list')) throw new Error('the selection was never listed');
        await worker.kill();
        ctx.figures.killedWhilePlanning = (await d.client.job(submitted.id))?.status ?? 'unknown';
        await worker.start();
        ctx.phase = 'waiting for the plan';
        const planned = await d.client.until(submitted.id, 60, ctx.signal, (j) => j.status === 'AWAITING_CONFIRMATION' || isEnded(j));
        if (planned.status !== 'AWAITING_CONFIRMATION') ctx.violations.push({ invariant: 'scenario', detail: `the plan ended ${planned.status}` });
        ctx.figures.selectionLists = d.sim.requests().filter((r) => r.kind === 'list').length;
        ctx.figures.matched = planned.selection?.matched ?? 0;
        if (planned.total !== d.serverIds.length) ctx.violations.push({ invariant: 'none lost', detail: `the selection resolved ${planned.total} of ${d.serverIds.length} servers` });
        const early = d.serverIds.filter((id) => d.sim.rebuildCount(id) > 0).length;
        if (early) ctx.violations.push({ invariant: 'plan first', detail: `${early} servers were rebuilt before the plan was confirmed` });
        const plan = await d.client.call(`/rebuild-jobs/${submitted.id}/plan?limit=1`);
        ctx.figures.plan = JSON.stringify((plan.json as { plan?: { summary?: unknown } }).plan?.summary ?? plan.status);
        const confirmed = await d.client.call(`/rebuild-jobs/${submitted.id}/action`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ confirm: { rebuild: { adminPass: d.secrets.adminPass, personality: d.secrets.personality } } }),
        });
        if (confirmed.status !== 202) throw new Error(`the confirmation answered ${confirmed.status}: ${confirmed.text.slice(0, 300)}`);
        return submitted.id;
      },
      during: async (d) => {
        await midDrain(d, 0.2, 'the second kill');
        await d.worker?.kill();
        await d.worker?.start();
        ctx.figures.workerStarts = d.worker?.starts ?? 0;
      },
    }),
};

/**
 * A redrive racing a late delivery: once the job ended PARTIAL, its failed servers are run again
 * while copies of their first run's messages (fenced by an older seq) arrive in the middle of it.
 * Each must be rebuilt once more, exactly: the late copies find another seq and are dropped.
 */
const redriveRace: Scenario = {
  name: 'redrive-racing-a-late-delivery',
  budgetSeconds: 240,
  run: (ctx) => {
    const failing = new Set<string>();
    return runDrain(ctx, {
      servers: 100,
      maxInFlight: 20,
      beforeSubmit: async (d) => {
        // Servers without secrets of their own (a redrive gives only the shared ones again),
        // refused once by Nova (a 400): FAILED in the first run, never rebuilt in it.
        for (const id of d.serverIds.filter((_, i) => i % 10 !== 0).slice(0, 10)) {
          d.sim.injectFault({ kind: 'rebuild', serverId: id, fault: { type: 'quoteRequest', recording: '04b' } });
          failing.add(id);
        }
      },
      expectFailed: () => new Map([...failing].map((id) => [id, 'badRequest'] as const)),
      after: async (d, first) => {
        if (first?.status !== 'PARTIAL') {
          ctx.violations.push({ invariant: 'scenario', detail: `the first run ended ${first?.status}, not PARTIAL` });
          return;
        }
        // The first run's messages of the failed servers, late: every seq they had, attempt and follow.
        const sqs = new SQSClient({ region: d.stack.aws.region, credentials: d.stack.aws.credentials, endpoint: d.stack.aws.sqsEndpoint });
        const late = [...failing].map((id) => ({ id }));
        let sent = 0;
        for (const v of late) {
          for (let seq = 0; seq <= 4; seq++) {
            for (const phase of ['attempt', 'follow'] as const) {
              const message = { v: 1, jobId: d.jobId, tenantId: d.sim.tenantId, serverId: v.id, microversion: '2.1', maxAttempts: 30, deadline: new Date(Date.now() + 3600_000).toISOString(), seq, phase, rebuild: { imageRef: IMAGE, adminPass: d.secrets.adminPass, personality: d.secrets.personality } };
              await sqs.send(new SendMessageCommand({ QueueUrl: d.stack.sqs.queueUrl, MessageBody: JSON.stringify(message), DelaySeconds: 1 + (sent % 3) }));
              sent++;
            }
          }
        }
        ctx.figures.lateCopies = sent;
        const redriven = await d.client.call(`/rebuild-jobs/${d.jobId}/action`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ redrive: { status: ['FAILED'], rebuild: { adminPass: d.secrets.adminPass, personality: d.secrets.personality } } }),
        });
        if (redriven.status !== 202) throw new Error(`the redrive answered ${redriven.status}: ${redriven.text.slice(0, 300)}`);
        const { job, ended } = await d.client.untilEnded(d.jobId, 90, ctx.signal);
        ctx.figures.secondRun = job?.status ?? 'none';
        if (!ended || job?.status !== 'SUCCEEDED') ctx.violations.push({ invariant: 'redrive', detail: `the redriven job ended ${job?.status ?? 'never'}` });
        // Refused in the first run, rebuilt once in the redrive, whatever the late copies.
        const wrong = [...failing].filter((id) => d.sim.rebuildCount(id) !== 1);
        if (wrong.length) ctx.violations.push({ invariant: 'exactly once', detail: `${wrong.length} redriven servers were not rebuilt exactly once more (${wrong.map((id) => d.sim.rebuildCount(id)).join(',')})` });
        const others = d.serverIds.filter((id) => !failing.has(id) && d.sim.rebuildCount(id) !== 1);
        if (others.length) ctx.violations.push({ invariant: 'exactly once', detail: `${others.length} servers outside the redrive were rebuilt again` });
        const counts = job?.counts ?? {};
        if ((counts.SUCCEEDED ?? 0) !== d.serverIds.length) ctx.violations.push({ invariant: 'counters', detail: `after the redrive: ${JSON.stringify(counts)}` });
      },
    });
  },
};

/** In the order they run: the fuzz suite last, so a slow machine reports the drains first. */
export const SCENARIOS: Scenario[] = [
  duplicates,
  workerKills,
  computeDown,
  stormWithRetryAfter,
  stormHtml,
  dynamoRestart,
  poison,
  actedThen5xx,
  skew,
  twoJobs,
  deadLetters,
  submitKilled,
  noGrant,
  quotesSecrets,
  planningCrash,
  redriveRace,
  fuzz,
];
