/**
 * The jobs table's shape: keys, indexes and TTL, read by the DynamoDB adapter, the local stack
 * (which creates it) and the CDK stack (which deploys it), so the three cannot drift apart. It
 * imports no SDK code (types only), so `cdk/` reads it without loading an adapter.
 *
 * One table, one partition per job (`pk = JOB#<id>`): the job item (`sk = #JOB`) with its
 * per-state counters (`n_<STATE>`), `remaining` and `inFlight`, and one item per server
 * (`sk = SERVER#<server id>`), and the preflight's findings (`sk = #PREFLIGHT#<chunk>`). Beside them: idempotency claims (`pk = IDEM#<scope hash>`) and server
 * locks (`pk = LOCK#<project>#<server id>`: which live job holds a server).
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/** A project's jobs, newest first: `gsi1pk = PROJECT#<project>`, `gsi1sk = <createdAt>#<job id>`. */
export const PROJECT_INDEX = 'byProject';
/**
 * Jobs that have not ended, for the sweeper: `gsi2pk = LIVE`, `gsi2sk = <deadline>#<job id>`.
 * Sparse: the write that ends a job removes both, so the index only ever holds live jobs.
 */
export const LIVE_INDEX = 'byLive';
/** The attribute DynamoDB's TTL reads. */
export const TTL_ATTRIBUTE = 'expiresAt';

export const JOB_SK = '#JOB';
export const SERVER_PREFIX = 'SERVER#';
export const IDEM_SK = '#IDEM';
export const LOCK_SK = '#LOCK';
export const LIVE = 'LIVE';
/** The preflight's findings, in chunks of the job's servers: `sk = #PREFLIGHT#<chunk>` in the job's partition. */
export const PREFLIGHT_PREFIX = '#PREFLIGHT#';

export const jobPk = (jobId: string) => `JOB#${jobId}`;
export const projectKey = (tenantId: string) => `PROJECT#${tenantId}`;
export const lockPk = (tenantId: string, serverId: string) => `LOCK#${tenantId}#${serverId}`;

/** The table's key schema and indexes. */
export function tableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
      { AttributeName: 'gsi1pk', AttributeType: 'S' },
      { AttributeName: 'gsi1sk', AttributeType: 'S' },
      { AttributeName: 'gsi2pk', AttributeType: 'S' },
      { AttributeName: 'gsi2sk', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    // Every write's item before and after: the notifier reads a job's status changes from them
    // (lib/jobs/events.ts), so no code that moves a job has to tell anyone.
    StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    GlobalSecondaryIndexes: [
      {
        IndexName: PROJECT_INDEX,
        KeySchema: [
          { AttributeName: 'gsi1pk', KeyType: 'HASH' },
          { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
      {
        IndexName: LIVE_INDEX,
        KeySchema: [
          { AttributeName: 'gsi2pk', KeyType: 'HASH' },
          { AttributeName: 'gsi2sk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  };
}
