/**
 * `npm start`: the whole service on this machine, no AWS account and no Docker. Ctrl-C stops
 * everything it started. `npm start -- --clean` starts from an empty table and queue.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { LOCAL_PRINCIPAL } from './gateway.js';
import { DEFAULT_IMAGES, optionsFromEnv } from './sim/index.js';
import { CloudsYamlError, cloudsYamlEnv } from './clouds-yaml.js';
import { startLocalStack } from './stack.js';
import { ConfigError } from '../lib/errors.js';
import { type LocalSettings, localFromEnv } from '../lib/settings.js';

const clean = process.argv.includes('--clean');

let cloudEnv: Record<string, string>;
let local: LocalSettings;
try {
  local = localFromEnv(process.env);
  cloudEnv = cloudsYamlEnv(process.env);
} catch (err) {
  if (!(err instanceof CloudsYamlError || err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}
const { dataDir } = local;

const stack = await startLocalStack({
  apiPort: local.apiPort,
  dynamoPort: local.dynamoPort,
  sqsPort: local.sqsPort,
  dataDir,
  clean,
  // The worker's own defaults, against the simulator as against a real cloud: its watcher adapts its
  // pace to what the rebuilds take. OS_CLOUD reads clouds.yaml as the openstack CLI does.
  env: { ...process.env, ...cloudEnv },
  logger: new Logger({ serviceName: 'rebuild-local', logLevel: local.logLevel }),
  // What EventBridge carries in the cloud: one line per job status change (all of it in events.jsonl).
  onEvent: (e) =>
    process.stdout.write(
      `job ${e.jobId} ${e.from ?? 'new'} -> ${e.to}: ${e.counts.SUCCEEDED} of ${e.total} succeeded, ${e.counts.FAILED} failed, ${e.counts.CANCELLED} cancelled${e.report ? `; report ${e.report}` : ''}\n`,
    ),
  // The worker in a process of its own, as Lambda runs it beside the API: a drain never slows an answer.
  worker: { simulator: { port: 8775, ...optionsFromEnv(process.env) }, process: true },
});

const sim = stack.sim;
const tenant = sim?.tenantId ?? 'YOUR_PROJECT_ID';
const [s1 = 'SERVER_ID', s2 = 'SERVER_ID_2'] = sim?.serverIds ?? [];
const api = `${stack.apiUrl}/v2/${tenant}`;
process.stdout.write(`
Bulk rebuild service running locally.
  API        ${stack.apiUrl}   (every call made as ${LOCAL_PRINCIPAL})
  DynamoDB   ${stack.aws.dynamoEndpoint}   table rebuild-jobs, data in ${dataDir}${clean ? ' (started clean)' : ''}
  SQS        ${stack.aws.sqsEndpoint}   ${stack.sqs.queueUrl}
  Events     ${dataDir}/events.jsonl (a line here too), reports of ended jobs in ${dataDir}/reports/
  Compute    ${sim ? `simulator ${sim.url}: project ${sim.tenantId}, servers ${sim.serverIds.join(' ')}, images ${DEFAULT_IMAGES.map((i) => i.id).join(' ')}` : (stack.workerEnv.COMPUTE_URL ?? stack.workerEnv.OS_AUTH_URL)}

Try:
  API=${api}
  curl -si -X POST $API/servers/${s1}/action -H 'Content-Type: application/json' --data @test/fixtures/seed-rebuild.json
  curl -si -X POST $API/servers/${s1}/action -H 'Content-Type: application/xml' --data-binary @test/fixtures/seed-rebuild.xml
  curl -si -X POST $API/rebuild-jobs -H 'Content-Type: application/json' -H 'Idempotency-Key: night-1' \\
       -d '{"rebuildJob": {"rebuild": {"imageRef": "70a599e0-31e7-49b7-b260-868f441e862b", "adminPass": "seekr3t"},
            "servers": [{"id": "${s1}"}, {"id": "${s2}", "rebuild": {"name": "web-2"}}]}}'
  curl -s $API/rebuild-jobs
  curl -s $API/rebuild-jobs/JOB_ID
  curl -s "$API/rebuild-jobs/JOB_ID/servers?limit=50&status=SUCCEEDED"
  curl -s $API/rebuild-jobs/JOB_ID/report -H 'Accept: text/csv'
  curl -si -X POST $API/rebuild-jobs/JOB_ID/action -H 'Content-Type: application/json' -d '{"cancel": null}'

Ctrl-C stops everything.
`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  process.stdout.write('\nStopping...\n');
  await stack.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
