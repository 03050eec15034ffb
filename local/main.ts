/**
 * `npm start`: the whole service on this machine, no AWS account and no Docker. Ctrl-C stops
 * everything it started. `npm start -- --clean` starts from an empty table and queue.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { startLocalStack } from './stack.js';

const clean = process.argv.includes('--clean');
const port = Number(process.env.PORT ?? 3000);
const dataDir = process.env.LOCAL_DATA_DIR ?? '.local-data';

const stack = await startLocalStack({
  apiPort: port,
  dynamoPort: Number(process.env.DYNAMODB_PORT ?? 8000),
  sqsPort: Number(process.env.SQS_PORT ?? 4566),
  dataDir,
  clean,
  env: process.env,
  logger: new Logger({ serviceName: 'rebuild-api', logLevel: (process.env.LOG_LEVEL ?? 'INFO') as 'INFO' }),
});

const api = stack.apiUrl;
const tenant = 'demo-project';
process.stdout.write(`
Bulk rebuild service running locally.
  API         ${api}          (as ${'arn:aws:iam::000000000000:user/local-operator'})
  DynamoDB    ${stack.aws.dynamoEndpoint}   table rebuild-jobs   data in ${dataDir}${clean ? ' (started clean)' : ''}
  SQS         ${stack.aws.sqsEndpoint}   queue ${stack.sqs.queueUrl}

Try:
  curl -si -X POST ${api}/v2/${tenant}/servers/075e40fe-9f03-4652-ba8e-5f8e2547899a/action \\
       -H 'Content-Type: application/json' --data @test/fixtures/seed-rebuild.json
  curl -si -X POST ${api}/v2/${tenant}/servers/075e40fe-9f03-4652-ba8e-5f8e2547899a/action \\
       -H 'Content-Type: application/xml' --data-binary @test/fixtures/seed-rebuild.xml
  curl -si -X POST ${api}/v2/${tenant}/rebuild-jobs -H 'Content-Type: application/json' -H 'Idempotency-Key: night-1' \\
       -d '{"rebuildJob": {"rebuild": {"imageRef": "70a599e0-31e7-49b7-b260-868f441e862b", "adminPass": "seekr3t"},
            "servers": [{"id": "075e40fe-9f03-4652-ba8e-5f8e2547899a"}, {"id": "b9d262ee-902b-4020-8eab-7d99cf420fa3", "rebuild": {"name": "web-2"}}]}}'
  curl -s ${api}/v2/${tenant}/rebuild-jobs
  curl -s ${api}/v2/${tenant}/rebuild-jobs/JOB_ID
  curl -s '${api}/v2/${tenant}/rebuild-jobs/JOB_ID/servers?limit=50&status=FAILED'

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
