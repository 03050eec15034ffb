/**
 * The CLI end to end against the local stack (its real HTTP API, worker and the Compute API
 * simulator): submit and wait, watch, report, act, and its exit codes; the installed entry run as
 * a process; and SigV4 signing with credentials from the AWS SDK's chain.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingHttpHeaders, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../cdk/bundling.js';
import { ApiClient } from '../../cli/client.js';
import { type Io, run } from '../../cli/main.js';
import type { ComputeSimulator } from '../../local/sim/index.js';
import { type LocalStack, startLocalStack } from '../../local/stack.js';

const IMAGE = '70a599e0-31e7-49b7-b260-868f441e862b';
const FAST = { WATCH_FIRST_LOOK_SECONDS: '1', WATCH_MAX_PACE_SECONDS: '1', BACKOFF_BASE_SECONDS: '1', BACKOFF_CAP_SECONDS: '2' };

let stack: LocalStack;
let sim: ComputeSimulator;
let next = 0;
const servers = (n: number) => sim.serverIds.slice(next, (next += n));
const dir = mkdtempSync(join(tmpdir(), 'cli-test-'));

beforeAll(async () => {
  stack = await startLocalStack({ env: FAST, worker: { sweepEverySeconds: 0, simulator: { serverCount: 30 } } });
  sim = stack.sim as ComputeSimulator;
});
afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI in this process with captured streams, as a pipe (not a terminal) sees it. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => (out += t), err: (t) => (err += t), isTty: false, sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 300))) };
  const code = await run([...args, '--endpoint', stack.apiUrl, '--project', sim.tenantId, '--interval', '1'], io);
  return { code, out, err };
}

describe('os-rebuild against the local stack', () => {
  it('submits from a file of ids with the password from a file, waits, and exits 0 only on SUCCEEDED', async () => {
    const ids = servers(3);
    writeFileSync(join(dir, 'ids.txt'), `# tonight's web tier\n${ids.join('\n')}\n\n`);
    writeFileSync(join(dir, 'pass'), 's3cr3t-from-file\n', { mode: 0o600 });
    const res = await cli('submit', '--image', IMAGE, '--servers-file', join(dir, 'ids.txt'), '--admin-pass-file', join(dir, 'pass'), '--max-in-flight', '2', '--wait', '--output', 'json');
    expect(res.code, res.err).toBe(0);
    const job = JSON.parse(res.out).rebuildJob;
    expect(job).toMatchObject({ status: 'SUCCEEDED', total: 3, options: expect.objectContaining({ maxInFlight: 2 }), rebuild: { imageRef: IMAGE, adminPass: '***' } });
    expect(ids.map((id) => sim.rebuildCount(id))).toEqual([1, 1, 1]);
    expect(res.out + res.err).not.toContain('s3cr3t-from-file');
  });

  it('submits a rollout behind a canary; the API refuses one it cannot run and the CLI exits 1 with its fault', async () => {
    const ids = servers(3);
    const args = ['submit', '--image', IMAGE, ...ids.flatMap((s) => ['--server', s])];
    const res = await cli(...args, '--canary', '1', '--wave-percent', '50', '--rollout-pause', 'never', '--wait', '--output', 'json');
    expect(res.code, res.err).toBe(0);
    const job = JSON.parse(res.out).rebuildJob;
    expect(job.options.rollout).toEqual({ canary: 1, waveSize: 2, pause: 'never' });
    expect(job.rollout).toEqual({ wave: 1, open: 3 });
    const refused = await cli(...args, '--canary', '3');
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("is not less than the job's 3 servers");
  });

  it('submits a plan, shows it, and confirms it with the password from a file', async () => {
    const ids = servers(2);
    writeFileSync(join(dir, 'pass2'), 'plan-pass\n', { mode: 0o600 });
    const args = ['submit', '--image', IMAGE, ...ids.flatMap((s) => ['--server', s]), '--admin-pass-file', join(dir, 'pass2'), '--plan', '--output', 'json'];
    const submitted = await cli(...args);
    expect(submitted.code, submitted.err).toBe(0);
    const id = JSON.parse(submitted.out).rebuildJob.id as string;
    let plan = await cli('plan', id);
    for (let i = 0; plan.code !== 0 && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      plan = await cli('plan', id);
    }
    expect(plan.code, plan.err).toBe(0);
    expect(plan.out).toMatch(/^2 rebuild, 0 wait, 0 fail, 0 unknown; confirm by /);
    expect(plan.out).toContain(`image ${IMAGE}: active`);
    expect(ids.map((s) => sim.rebuildCount(s))).toEqual([0, 0]);
    const confirmed = await cli('confirm', id, '--admin-pass-file', join(dir, 'pass2'));
    expect(confirmed.code, confirmed.err).toBe(0);
    const watched = await cli('watch', id);
    expect(watched.code, watched.err).toBe(0);
    expect(ids.map((s) => sim.rebuildCount(s))).toEqual([1, 1]);
    expect(submitted.out + plan.out + confirmed.out + watched.out).not.toContain('plan-pass');
  });

  it('submits by filter, with an exclusion, and waits for the end', async () => {
    const ids = [1, 2, 3].map((i) => sim.createServer({ name: `cli-sel-${i}` }).id);
    const res = await cli('submit', '--image', IMAGE, '--filter', 'name=^cli-sel-', '--filter', 'status=ACTIVE', '--exclude', ids[2] as string, '--max', '10', '--wait', '--output', 'json');
    expect(res.code, res.err).toBe(0);
    expect(JSON.parse(res.out).rebuildJob).toMatchObject({ status: 'SUCCEEDED', total: 2, selection: { matched: 2, excluded: 1 } });
    expect(ids.map((id) => sim.rebuildCount(id))).toEqual([1, 1, 0]);
    expect((await cli('submit', '--image', IMAGE, '--filter', 'name')).code).toBe(2);
  });

  it('watches in plain lines when not on a terminal, and exits 1 when the job ends otherwise', async () => {
    const ids = servers(2);
    sim.failNextRebuild(ids[1] as string, 'No valid host was found.');
    const submitted = await cli('submit', '--image', IMAGE, '--server', ids[0] as string, '--server', ids[1] as string);
    expect(submitted.code, submitted.err).toBe(0);
    const id = /job (\S+) /.exec(submitted.out)?.[1] as string;
    const watched = await cli('watch', id);
    expect(watched.code).toBe(1);
    const lines = watched.out.trim().split('\n');
    expect(lines.at(-1)).toBe(`job ${id} PARTIAL: 1 succeeded, 1 failed, 0 cancelled of 2 (ended ${JSON.parse((await cli('show', id, '--output', 'json')).out).rebuildJob.completedAt})`);
    expect(lines.at(-2)).toMatch(/^\d{4}-\d\d-\d\dT\S+ \[#{24}\] 2\/2 PARTIAL {2}ok 1 {2}failed 1$/);
    // No terminal control codes in a log.
    expect(watched.out).not.toMatch(/\x1b|\r/);
  });

  it('writes the report as CSV to a file and as JSON lines to stdout', async () => {
    const ids = servers(2);
    const id = JSON.parse((await cli('submit', '--image', IMAGE, '--server', ids[0] as string, '--server', ids[1] as string, '--wait', '--output', 'json')).out).rebuildJob.id;
    expect((await cli('report', id, '--csv', '--out', join(dir, 'r.csv'))).code).toBe(0);
    const csv = readFileSync(join(dir, 'r.csv'), 'utf8').trim().split('\r\n');
    expect(csv[0]).toMatch(/^id,index,status,/);
    expect(csv).toHaveLength(3);
    const jsonl = (await cli('report', id)).out.trim().split('\n').map((l) => JSON.parse(l) as { id: string; status: string });
    expect(jsonl.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
  });

  it('acts on a job: pause, update, resume, cancel; a refused action exits 1 with the fault; misuse exits 2', async () => {
    const ids = servers(6);
    sim.setServerState(ids[0] as string, { taskState: 'rebooting' });
    const id = JSON.parse((await cli('submit', '--image', IMAGE, ...ids.flatMap((s) => ['--server', s]), '--max-in-flight', '1', '--output', 'json')).out).rebuildJob.id;
    expect((await cli('pause', id)).out).toContain('PAUSED');
    expect((await cli('update', id, '--max-in-flight', '3', '--output', 'json')).out).toContain('"maxInFlight": 3');
    expect((await cli('resume', id)).code).toBe(0);
    expect((await cli('cancel', id)).code).toBe(0);
    sim.setServerState(ids[0] as string, { taskState: null });
    const again = await cli('resume', id);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/^refused: 409: /);
    expect((await cli('list', '--limit', '2')).out).toContain(id);
    expect((await cli('frobnicate')).code).toBe(2);
    expect((await cli('submit', '--image', IMAGE)).err).toContain('submit needs servers');
    expect((await cli('show', '--bogus')).code).toBe(2);
  });

  it('runs as the installed command, its exit code the process status', async () => {
    const exec = promisify(execFile);
    const { stdout } = await exec(process.execPath, [join(PROJECT_ROOT, 'cli', 'os-rebuild.mjs'), 'list', '--endpoint', stack.apiUrl, '--project', sim.tenantId, '--output', 'json'], { cwd: PROJECT_ROOT });
    expect(Array.isArray(JSON.parse(stdout).rebuildJobs)).toBe(true);
    await expect(exec(process.execPath, [join(PROJECT_ROOT, 'cli', 'os-rebuild.mjs'), 'show', 'no-such-job', '--endpoint', stack.apiUrl, '--project', sim.tenantId], { cwd: PROJECT_ROOT })).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('refused: 404') });
  });
});

describe('SigV4', () => {
  it('signs for execute-api in the endpoint\'s Region with the credentials of the SDK chain (here the environment)', async () => {
    let seen: IncomingHttpHeaders = {};
    const server = createServer((req, res) => {
      seen = req.headers;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"rebuildJobs": [], "rebuildJobs_links": []}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', AWS_SESSION_TOKEN: 'session-token-example' });
    delete process.env.AWS_PROFILE;
    try {
      const client = new ApiClient({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, project: 'p1', sigv4: true, region: 'eu-west-1' });
      await client.get('/rebuild-jobs', { limit: '5' });
    } finally {
      process.env = saved;
      server.close();
    }
    expect(seen.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/);
    expect(seen['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(seen['x-amz-security-token']).toBe('session-token-example');
  });

  it('signs an execute-api endpoint by default, in the Region its host names', () => {
    expect(() => new ApiClient({ endpoint: 'https://abcd1234.execute-api.eu-west-1.amazonaws.com', project: 'p' })).not.toThrow();
    const saved = { ...process.env };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    try {
      expect(() => new ApiClient({ endpoint: 'https://api.example.com', project: 'p', sigv4: true })).toThrow(/SigV4 needs a Region/);
    } finally {
      process.env = saved;
    }
  });
});
