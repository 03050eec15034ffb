/**
 * `os-rebuild`: the operator's command line for the bulk rebuild API. Submit a job (ids, a file),
 * show, list, watch it with a live progress bar, act on it (cancel, pause, resume, update, redrive)
 * and fetch its report. Talks plain HTTP to `npm start`, or SigV4 to the deployed API.
 *
 * Exit codes: 0 success (for `submit --wait` and `watch`: only when the job ended SUCCEEDED);
 * 1 the API refused the call or the job ended otherwise; 2 a usage error.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ApiAnswerError, ApiClient } from './client.js';
import { type JobSnapshot, Rate, endedOf, progressLine } from './progress.js';

const USAGE = `os-rebuild <command> [options]

Commands:
  submit --image IMAGE (--server ID ... | --servers-file FILE | --filter KEY=VALUE ... [--exclude ID ...] [--max N])
         [--admin-pass-file FILE]
         [--max-in-flight N] [--max-attempts N] [--deadline-seconds N]
         [--canary N] [--wave-size N | --wave-percent P] [--rollout-pause afterCanary|betweenWaves|never]
         [--microversion 2.N] [--idempotency-key KEY] [--wait] [--plan]
                           servers start in the order given: the canary is the first N;
                           --plan: build a plan and send nothing until confirmed;
                           --filter: Nova's list filters (name=^web-, status=ACTIVE, tags=...), resolved by the service
  plan JOB                 what would happen to each server of a planned job
  confirm JOB [--admin-pass-file FILE]   send a planned job (its secrets given again)
  show JOB                 where a job stands
  list [--limit N]         the project's jobs, newest first
  watch JOB                a live progress bar until the job ends (plain lines when not a terminal)
  cancel JOB | pause JOB | resume JOB
  update JOB --max-in-flight N
  redrive JOB [--status FAILED,CANCELLED] [--admin-pass-file FILE]
  report JOB [--csv] [--out FILE]

Options:
  --endpoint URL    the API (env OS_REBUILD_ENDPOINT; default http://127.0.0.1:3000, npm start's)
  --project ID      the OpenStack project (env OS_PROJECT_ID)
  --region R        the Region to sign for (default: from the endpoint, or AWS_REGION)
  --sigv4 / --no-sigv4   sign or not (default: sign for execute-api endpoints); credentials come
                    from the AWS SDK's chain: environment, AWS_PROFILE, SSO, roles
  --output json     machine-readable output
  --interval S      watch: seconds between looks (default 2)
`;

class UsageError extends Error {}

const OPTIONS = {
  endpoint: { type: 'string' },
  project: { type: 'string' },
  region: { type: 'string' },
  sigv4: { type: 'boolean' },
  'no-sigv4': { type: 'boolean' },
  output: { type: 'string' },
  image: { type: 'string' },
  server: { type: 'string', multiple: true },
  'servers-file': { type: 'string' },
  'admin-pass-file': { type: 'string' },
  'max-in-flight': { type: 'string' },
  'max-attempts': { type: 'string' },
  'deadline-seconds': { type: 'string' },
  canary: { type: 'string' },
  'wave-size': { type: 'string' },
  'wave-percent': { type: 'string' },
  'rollout-pause': { type: 'string' },
  microversion: { type: 'string' },
  'idempotency-key': { type: 'string' },
  wait: { type: 'boolean' },
  plan: { type: 'boolean' },
  filter: { type: 'string', multiple: true },
  exclude: { type: 'string', multiple: true },
  max: { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  csv: { type: 'boolean' },
  out: { type: 'string' },
  interval: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

const FINAL = ['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED'];

function integer(values: Values, name: keyof Values): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new UsageError(`--${String(name)} must be an integer; it is "${String(raw)}"`);
  return n;
}

/** A secret from a file (never from the command line, which shell history and `ps` keep), trailing newline dropped. */
function secretFrom(path: string | undefined): string | undefined {
  return path === undefined ? undefined : readFileSync(path, 'utf8').replace(/\r?\n$/, '');
}

/** Server ids: --server, and a file of one id per line (# comments and blank lines skipped). */
function serverIds(values: Values): string[] {
  const fromFile = values['servers-file']
    ? readFileSync(values['servers-file'], 'utf8')
        .split(/\r?\n/)
        .map((l) => l.replace(/#.*/, '').trim())
        .filter(Boolean)
    : [];
  return [...(values.server ?? []), ...fromFile];
}

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  isTty: boolean;
  sleep: (ms: number) => Promise<void>;
}

function summary(job: JobSnapshot & Record<string, any>): string {
  const c = job.counts;
  return `job ${job.id} ${job.status}: ${c.SUCCEEDED ?? 0} succeeded, ${c.FAILED ?? 0} failed, ${c.CANCELLED ?? 0} cancelled of ${job.total}${job.completedAt ? ` (ended ${job.completedAt})` : ''}`;
}

/** Follows a job until it ends, drawing progress; returns the ended job. */
async function watch(client: ApiClient, id: string, values: Values, io: Io): Promise<JobSnapshot> {
  const interval = (integer(values, 'interval') ?? 2) * 1000;
  const rate = new Rate();
  let last = '';
  for (;;) {
    const job = (await client.get(`/rebuild-jobs/${encodeURIComponent(id)}`)).json.rebuildJob as JobSnapshot;
    const line = progressLine(job, rate.sample(job, Date.now()));
    if (values.output !== 'json') {
      if (io.isTty) io.out(`\r\x1b[2K${line}`);
      else if (`${job.status}${endedOf(job)}${JSON.stringify(job.counts)}` !== last) io.out(`${new Date().toISOString()} ${line}\n`);
      last = `${job.status}${endedOf(job)}${JSON.stringify(job.counts)}`;
    }
    if (FINAL.includes(job.status)) {
      if (io.isTty && values.output !== 'json') io.out('\n');
      return job;
    }
    await io.sleep(interval);
  }
}

export async function run(argv: string[], io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    io.err(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, jobId] = positionals;
  if (values.help || !command) {
    io.out(USAGE);
    return command ? 0 : 2;
  }
  const json = values.output === 'json';
  const print = (body: unknown, text: string) => io.out(json ? `${JSON.stringify(body, null, 2)}\n` : `${text}\n`);
  try {
    if (values.output !== undefined && values.output !== 'json' && values.output !== 'text') throw new UsageError('--output is json or text');
    const project = values.project ?? process.env.OS_PROJECT_ID;
    if (!project) throw new UsageError('the project is needed: --project ID or OS_PROJECT_ID');
    const client = new ApiClient({
      endpoint: values.endpoint ?? process.env.OS_REBUILD_ENDPOINT ?? 'http://127.0.0.1:3000',
      project,
      ...(values.sigv4 ? { sigv4: true } : values['no-sigv4'] ? { sigv4: false } : {}),
      ...(values.region ? { region: values.region } : {}),
    });
    const needJob = () => {
      if (!jobId) throw new UsageError(`${command} needs a job id`);
      return `/rebuild-jobs/${encodeURIComponent(jobId)}`;
    };
    const act = async (body: unknown) => {
      const job = (await client.post(`${needJob()}/action`, body)).json;
      print(job, summary(job.rebuildJob));
      return 0;
    };

    switch (command) {
      case 'submit': {
        if (!values.image) throw new UsageError('submit needs --image');
        const ids = serverIds(values);
        const filters = Object.fromEntries(
          (values.filter ?? []).map((f) => {
            const eq = f.indexOf('=');
            if (eq <= 0) throw new UsageError(`--filter takes KEY=VALUE; it is "${f}"`);
            const [key, value] = [f.slice(0, eq), f.slice(eq + 1)];
            // Nova's `locked` is a boolean in the API's schema; every other filter is text.
            return [key, key === 'locked' ? value === 'true' : value];
          }),
        );
        const selecting = Object.keys(filters).length > 0;
        if (selecting && ids.length > 0) throw new UsageError('submit takes servers or --filter, not both (leave servers out with --exclude)');
        if (!selecting && ids.length === 0) throw new UsageError('submit needs servers: --server ID (repeatable), --servers-file FILE, or --filter KEY=VALUE');
        const max = integer(values, 'max');
        const adminPass = secretFrom(values['admin-pass-file']);
        const defined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
        // The API judges the rollout (a canary below the job's size, one of size or percent...);
        // the CLI only passes it on.
        const rollout = defined({
          canary: integer(values, 'canary'),
          waveSize: integer(values, 'wave-size'),
          wavePercent: values['wave-percent'] === undefined ? undefined : Number(values['wave-percent']),
          pause: values['rollout-pause'],
        });
        const options = defined({
          maxInFlight: integer(values, 'max-in-flight'),
          maxAttempts: integer(values, 'max-attempts'),
          deadlineSeconds: integer(values, 'deadline-seconds'),
          microversion: values.microversion,
          ...(Object.keys(rollout).length ? { rollout } : {}),
          ...(values.plan ? { confirm: 'manual' } : {}),
        });
        const body = {
          rebuildJob: {
            rebuild: { imageRef: values.image, ...(adminPass !== undefined ? { adminPass } : {}) },
            ...(selecting ? { select: { filters, ...(values.exclude?.length ? { exclude: values.exclude } : {}), ...(max !== undefined ? { max } : {}) } } : { servers: ids.map((id) => ({ id })) }),
            ...(Object.keys(options).length ? { options } : {}),
          },
        };
        const answer = await client.post('/rebuild-jobs', body, values['idempotency-key'] ? { 'Idempotency-Key': values['idempotency-key'] } : {});
        const job = answer.json.rebuildJob as JobSnapshot;
        if (!values.wait || values.plan) {
          print(answer.json, `${summary(job)}\n${answer.headers.get('location') ?? ''}`);
          return 0;
        }
        if (!json) io.out(`job ${job.id} submitted: ${selecting ? 'servers by filter, being resolved' : `${job.total} servers`}\n`);
        const ended = await watch(client, job.id, values, io);
        print({ rebuildJob: ended }, summary(ended));
        return ended.status === 'SUCCEEDED' ? 0 : 1;
      }
      case 'show': {
        const job = (await client.get(needJob())).json;
        print(job, summary(job.rebuildJob));
        return 0;
      }
      case 'list': {
        const limit = integer(values, 'limit');
        const page = (await client.get('/rebuild-jobs', limit !== undefined ? { limit: String(limit) } : {})).json;
        print(page, (page.rebuildJobs as (JobSnapshot & Record<string, any>)[]).map((j) => `${j.id}  ${j.status.padEnd(9)} ${endedOf(j)}/${j.total}  ${j.createdAt}`).join('\n') || 'no jobs');
        return 0;
      }
      case 'watch': {
        needJob();
        const ended = await watch(client, jobId as string, values, io);
        print({ rebuildJob: ended }, summary(ended));
        return ended.status === 'SUCCEEDED' ? 0 : 1;
      }
      case 'cancel':
      case 'pause':
      case 'resume':
        return await act({ [command]: null });
      case 'update': {
        const n = integer(values, 'max-in-flight');
        if (n === undefined) throw new UsageError('update needs --max-in-flight N');
        return await act({ update: { maxInFlight: n } });
      }
      case 'plan': {
        const path = `${needJob()}/plan`;
        let answer = await client.get(path);
        const plan = answer.json.plan as { summary: Record<string, number>; expiresAt?: string; servers: { id: string; action: string; reason?: string }[]; images: { id: string; found: boolean; status?: string; unchecked?: string }[] };
        for (let next = client.next(answer, answer.json.servers_links); next; next = client.next(answer, answer.json.servers_links)) {
          answer = await client.request('GET', next);
          plan.servers.push(...(answer.json.plan.servers as typeof plan.servers));
        }
        const lines = [
          `${['rebuild', 'wait', 'fail', 'unknown'].map((k) => `${plan.summary[k] ?? 0} ${k}`).join(', ')}${plan.expiresAt ? `; confirm by ${plan.expiresAt}` : ''}`,
          ...plan.images.map((i) => `image ${i.id}: ${i.unchecked ? `not checked (${i.unchecked})` : i.found ? i.status : 'not in Glance'}`),
          ...plan.servers.filter((x) => x.action !== 'rebuild' || x.reason).map((x) => `${x.id}  ${x.action.padEnd(7)} ${x.reason ?? ''}`),
        ];
        print({ plan }, lines.join('\n'));
        return 0;
      }
      case 'confirm': {
        const adminPass = secretFrom(values['admin-pass-file']);
        return await act({ confirm: adminPass !== undefined ? { rebuild: { adminPass } } : null });
      }
      case 'redrive': {
        const adminPass = secretFrom(values['admin-pass-file']);
        const status = (values.status ?? 'FAILED,CANCELLED').split(',').map((s) => s.trim().toUpperCase());
        return await act({ redrive: { status, ...(adminPass !== undefined ? { rebuild: { adminPass } } : {}) } });
      }
      case 'report': {
        const path = `${needJob()}/report`;
        let answer = await client.get(path, { format: values.csv ? 'csv' : 'jsonl' });
        let body = answer.text;
        for (let next = client.next(answer); next; next = client.next(answer)) {
          answer = await client.request('GET', next);
          // A CSV part repeats the header line: keep the first.
          body += values.csv ? answer.text.split('\r\n').slice(1).join('\r\n') : answer.text;
        }
        if (values.out) {
          writeFileSync(values.out, body);
          if (!json) io.err(`wrote ${values.out}\n`);
        } else io.out(body);
        return 0;
      }
      default:
        throw new UsageError(`no such command: ${command}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof ApiAnswerError) {
      io.err(json ? `${JSON.stringify(err.answer.json ?? { status: err.answer.status }, null, 2)}\n` : `refused: ${err.message}\n`);
      return 1;
    }
    io.err(`${(err as Error).message}\n`);
    return 1;
  }
}

/** The process's own streams and clock (cli/os-rebuild.mjs runs `run` with these). */
export const processIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  isTty: process.stdout.isTTY === true,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};
