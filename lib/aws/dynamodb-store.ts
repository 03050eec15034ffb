/**
 * The job store on DynamoDB: the only file that imports the DynamoDB SDK.
 *
 * One table. A job and its servers share a partition (`pk = JOB#<id>`): the job item
 * (`sk = #JOB`) carries the per-state counters (`n_<STATE>`) that every server transition moves in
 * the same transaction, so the summary is one read whatever the job's size. Server items
 * (`sk = SERVER#<server id>`). Idempotency claims (`pk = IDEM#<scope hash>`). A GSI `byOwner`
 * (`gsi1pk = OWNER#<tenant>#<principal>`, `gsi1sk = <createdAt>#<job id>`) lists a caller's jobs
 * newest first. The job item's `inFlight` counts servers between
 * claim and end; a claim is conditional on it, so a job never has more than its maxInFlight.
 * `expiresAt` is the TTL attribute.
 */
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ConditionalCheckFailedException,
  ResourceInUseException,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  UpdateTimeToLiveCommand,
  type AttributeValue,
  type CreateTableCommandInput,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { BadRequestError, ConditionFailedError, StoreUnavailableError } from '../errors.js';
import { type Counts, IN_FLIGHT_STATES, type JobRecord, type JobStop, type ServerRecord, type ServerState, SERVER_STATES, type Submission } from '../jobs/model.js';
import { IdempotencyClaimedError, type IdempotencyRecord, type JobStore, type Page, SlotsFullError } from '../jobs/ports.js';
import { canonicalUuid } from '../request/nova-formats.js';

const JOB_SK = '#JOB';
const IDEM_SK = '#IDEM';
const SERVER_PREFIX = 'SERVER#';
export const OWNER_INDEX = 'byOwner';

/** BatchWriteItem's own limit per call. */
const BATCH_WRITE_SIZE = 25;
/**
 * Unprocessed items (DynamoDB's partial success under throttling) are retried here, the one
 * owner of that retry: up to 8 tries with full-jitter backoff from 50 ms, capped at 2 s — about
 * 6 s at worst, inside the API's 30 s. The SDK's own retries (3 tries) cover whole-call errors.
 */
const UNPROCESSED_TRIES = 8;
const UNPROCESSED_BASE_MS = 50;
const UNPROCESSED_CAP_MS = 2000;
/** Batch calls in flight at once: enough to hide latency, few enough not to self-throttle. */
const WRITE_CONCURRENCY = 8;

/** The table's key schema and index, shared by the local stack and checked against the CDK stack. */
export function tableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
      { AttributeName: 'gsi1pk', AttributeType: 'S' },
      { AttributeName: 'gsi1sk', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: OWNER_INDEX,
        KeySchema: [
          { AttributeName: 'gsi1pk', KeyType: 'HASH' },
          { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  };
}

/** The attribute DynamoDB's TTL reads. */
export const TTL_ATTRIBUTE = 'expiresAt';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = (attempt: number) => Math.random() * Math.min(UNPROCESSED_CAP_MS, UNPROCESSED_BASE_MS * 2 ** attempt);

function jobKey(jobId: string): Record<string, AttributeValue> {
  return { pk: { S: `JOB#${jobId}` }, sk: { S: JOB_SK } };
}

function ownerKey(tenantId: string, principal: string): string {
  return `OWNER#${tenantId}#${principal}`;
}

function jobToItem(job: JobRecord): Record<string, AttributeValue> {
  const { counts, ...rest } = job;
  const flat: Record<string, unknown> = {
    ...rest,
    pk: `JOB#${job.jobId}`,
    sk: JOB_SK,
    gsi1pk: ownerKey(job.tenantId, job.principal),
    gsi1sk: `${job.createdAt}#${job.jobId}`,
  };
  for (const s of SERVER_STATES) flat[`n_${s}`] = counts[s];
  return marshall(flat, { removeUndefinedValues: true });
}

function itemToJob(item: Record<string, AttributeValue>): JobRecord {
  const raw = unmarshall(item) as Record<string, unknown>;
  const counts = {} as Counts;
  for (const s of SERVER_STATES) {
    counts[s] = Number(raw[`n_${s}`] ?? 0);
    delete raw[`n_${s}`];
  }
  for (const k of ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'inFlight']) delete raw[k];
  return { ...(raw as unknown as Omit<JobRecord, 'counts'>), counts };
}

function serverToItem(s: ServerRecord): Record<string, AttributeValue> {
  return marshall({ ...s, pk: `JOB#${s.jobId}`, sk: `${SERVER_PREFIX}${s.serverId}` }, { removeUndefinedValues: true });
}

function itemToServer(item: Record<string, AttributeValue>): ServerRecord {
  const { pk: _pk, sk: _sk, ...rest } = unmarshall(item) as Record<string, unknown>;
  return rest as unknown as ServerRecord;
}

/** Where and how to reach DynamoDB; `endpoint` for the local stand-in. */
export interface DynamoStoreOptions {
  tableName: string;
  client?: DynamoDBClientConfig;
}

/** Creates the client (once per process, at module scope in the functions). */
export function createDynamoClient(config: DynamoDBClientConfig = {}): DynamoDBClient {
  const client = new DynamoDBClient(config);
  // Outages become the domain's StoreUnavailableError here, once, after the SDK's own retries,
  // so callers (the API answers 503, the worker leaves the message to come back) never look at
  // SDK error shapes. Conditional-check failures are answers, not outages, and pass through.
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (isOutage(err)) throw new StoreUnavailableError(`DynamoDB is unavailable (${(err as Error).name})`, { cause: err });
        throw err;
      }
    },
    { step: 'initialize', name: 'storeOutagesAsDomainErrors' },
  );
  return client;
}

/**
 * DynamoDB did not answer, or answered that it is overloaded: the SDK marks throttling
 * `$retryable` and server faults with a 5xx `$metadata`; a connection that failed carries a Node
 * error code and no HTTP status.
 */
function isOutage(err: unknown): boolean {
  const e = err as { $metadata?: { httpStatusCode?: number }; $retryable?: unknown; code?: string; name?: string } | undefined;
  if (!e || typeof e !== 'object') return false;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500;
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN'].includes(e.code ?? '')) return true;
  return ['TimeoutError', 'ThrottlingException', 'ProvisionedThroughputExceededException', 'RequestLimitExceeded'].includes(e.name ?? '');
}

/** The JobStore on a DynamoDB table. */
export class DynamoJobStore implements JobStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async createJob(job: JobRecord, idempotency?: IdempotencyRecord): Promise<void> {
    const jobPut = { TableName: this.tableName, Item: jobToItem(job), ConditionExpression: 'attribute_not_exists(pk)' };
    if (!idempotency) {
      await this.client.send(new PutItemCommand(jobPut));
      return;
    }
    try {
      await this.client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: jobPut },
            {
              Put: {
                TableName: this.tableName,
                Item: marshall({ ...idempotency, pk: `IDEM#${idempotency.scope}`, sk: IDEM_SK }),
                // An expired claim TTL has not yet deleted (that can take a day) counts as free.
                ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
                ExpressionAttributeValues: { ':now': { N: String(Math.floor(Date.now() / 1000)) } },
              },
            },
          ],
        }),
      );
    } catch (err) {
      const reasons = err instanceof TransactionCanceledException ? (err.CancellationReasons ?? []) : [];
      if (reasons[1]?.Code === 'ConditionalCheckFailed') {
        const existing = await this.getIdempotency(idempotency.scope);
        if (existing) throw new IdempotencyClaimedError(existing);
      }
      throw err;
    }
  }

  async putServers(servers: ServerRecord[]): Promise<void> {
    await this.batchWrite(servers.map((s) => ({ PutRequest: { Item: serverToItem(s) } })));
  }

  private async batchWrite(requests: WriteRequest[]): Promise<void> {
    const chunks: WriteRequest[][] = [];
    for (let i = 0; i < requests.length; i += BATCH_WRITE_SIZE) chunks.push(requests.slice(i, i + BATCH_WRITE_SIZE));
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++] as WriteRequest[];
        await this.writeChunk(chunk);
      }
    };
    await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, chunks.length) }, worker));
  }

  private async writeChunk(chunk: WriteRequest[]): Promise<void> {
    let pending = chunk;
    for (let attempt = 0; attempt < UNPROCESSED_TRIES; attempt++) {
      if (attempt > 0) await sleep(jitter(attempt));
      let out;
      try {
        out = await this.client.send(new BatchWriteItemCommand({ RequestItems: { [this.tableName]: pending } }));
      } catch (err) {
        throw new StoreUnavailableError(`DynamoDB refused a batch write: ${(err as Error).name}`, { cause: err });
      }
      pending = out.UnprocessedItems?.[this.tableName] ?? [];
      if (pending.length === 0) return;
    }
    throw new StoreUnavailableError(`DynamoDB left ${pending.length} items unprocessed after ${UNPROCESSED_TRIES} tries`);
  }

  async setSubmission(jobId: string, submission: Submission): Promise<void> {
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: jobKey(jobId),
        UpdateExpression: 'SET submission = :s, updatedAt = :u',
        ExpressionAttributeValues: marshall({ ':s': submission, ':u': new Date().toISOString() }, { removeUndefinedValues: true }),
      }),
    );
  }

  async markNotQueued(job: JobRecord, servers: ServerRecord[], faultName: string, message: string): Promise<void> {
    if (servers.length === 0) return;
    const now = new Date().toISOString();
    await this.batchWrite(
      servers.map((s) => ({
        PutRequest: { Item: serverToItem({ ...s, status: 'FAILED', faultName, faultMessage: message, updatedAt: now }) },
      })),
    );
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: jobKey(job.jobId),
        UpdateExpression: 'ADD n_QUEUED :minus, n_FAILED :plus SET updatedAt = :u',
        ExpressionAttributeValues: {
          ':minus': { N: String(-servers.length) },
          ':plus': { N: String(servers.length) },
          ':u': { S: now },
        },
      }),
    );
  }

  async getJob(jobId: string): Promise<JobRecord | undefined> {
    const out = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: jobKey(jobId), ConsistentRead: true }));
    return out.Item ? itemToJob(out.Item) : undefined;
  }

  async getIdempotency(scope: string): Promise<IdempotencyRecord | undefined> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: `IDEM#${scope}` }, sk: { S: IDEM_SK } }, ConsistentRead: true }),
    );
    if (!out.Item) return undefined;
    const { pk: _pk, sk: _sk, ...rest } = unmarshall(out.Item) as Record<string, unknown>;
    return rest as unknown as IdempotencyRecord;
  }

  async getServer(jobId: string, serverId: string): Promise<ServerRecord | undefined> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { pk: { S: `JOB#${jobId}` }, sk: { S: `${SERVER_PREFIX}${serverId}` } },
        ConsistentRead: true,
      }),
    );
    return out.Item ? itemToServer(out.Item) : undefined;
  }

  async transition(from: ServerRecord, to: ServerRecord, options: { maxInFlight?: number } = {}): Promise<void> {
    const update = transitionUpdate(to);
    const serverUpdate = {
      TableName: this.tableName,
      Key: { pk: { S: `JOB#${from.jobId}` }, sk: { S: `${SERVER_PREFIX}${from.serverId}` } },
      UpdateExpression: update.expression,
      ConditionExpression: '#seq = :fromSeq AND #st = :fromStatus',
      ExpressionAttributeNames: { ...update.names, '#seq': 'seq', '#st': 'status' },
      ExpressionAttributeValues: { ...update.values, ':fromSeq': { N: String(from.seq) }, ':fromStatus': { S: from.status } },
    };
    const slot = Number(IN_FLIGHT_STATES.includes(to.status)) - Number(IN_FLIGHT_STATES.includes(from.status));
    if (from.status === to.status && slot === 0) {
      try {
        await this.client.send(new UpdateItemCommand(serverUpdate));
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) throw new ConditionFailedError(`server ${from.serverId} is no longer ${from.status} at seq ${from.seq}`, { cause: err });
        throw err;
      }
      return;
    }
    const adds: string[] = [];
    const names: Record<string, string> = {};
    const values: Record<string, AttributeValue> = { ':u': { S: to.updatedAt } };
    if (from.status !== to.status) {
      adds.push('#from :minus', '#to :plus');
      Object.assign(names, { '#from': `n_${from.status}`, '#to': `n_${to.status}` });
      Object.assign(values, { ':minus': { N: '-1' }, ':plus': { N: '1' } });
    }
    if (slot !== 0) {
      adds.push('#inf :slot');
      names['#inf'] = 'inFlight';
      values[':slot'] = { N: String(slot) };
    }
    const guard = slot > 0 && options.maxInFlight !== undefined;
    if (guard) values[':max'] = { N: String(options.maxInFlight) };
    try {
      await this.client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Update: serverUpdate },
            {
              Update: {
                TableName: this.tableName,
                Key: jobKey(from.jobId),
                UpdateExpression: `ADD ${adds.join(', ')} SET updatedAt = :u`,
                ...(guard ? { ConditionExpression: 'attribute_not_exists(#inf) OR #inf < :max' } : {}),
                ExpressionAttributeNames: names,
                ExpressionAttributeValues: values,
              },
            },
          ],
        }),
      );
    } catch (err) {
      const reasons = err instanceof TransactionCanceledException ? (err.CancellationReasons ?? []) : [];
      if (reasons[0]?.Code === 'ConditionalCheckFailed') throw new ConditionFailedError(`server ${from.serverId} is no longer ${from.status} at seq ${from.seq}`, { cause: err });
      if (reasons[1]?.Code === 'ConditionalCheckFailed') throw new SlotsFullError(`job ${from.jobId} has ${options.maxInFlight} servers in flight`, { cause: err });
      throw err;
    }
  }

  async markCompleted(jobId: string, at: string): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
          UpdateExpression: 'SET completedAt = :at',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(completedAt)',
          ExpressionAttributeValues: { ':at': { S: at } },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async setStop(jobId: string, stop: JobStop): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
          UpdateExpression: 'SET #stop = :stop, updatedAt = :u',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#stop)',
          ExpressionAttributeNames: { '#stop': 'stop' },
          ExpressionAttributeValues: marshall({ ':stop': stop, ':u': stop.at }),
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async listServers(jobId: string, query: { limit: number; marker?: string; status?: ServerState }): Promise<Page<ServerRecord>> {
    let startKey: Record<string, AttributeValue> | undefined;
    if (query.marker !== undefined) {
      const marker = canonicalUuid(query.marker);
      if (!marker) throw new BadRequestError(`marker [${query.marker.slice(0, 64)}] not found`);
      startKey = { pk: { S: `JOB#${jobId}` }, sk: { S: `${SERVER_PREFIX}${marker}` } };
    }
    const items: ServerRecord[] = [];
    let more = false;
    // A status filter is applied after DynamoDB reads a page, so keep reading until the page is
    // full or the partition ends.
    do {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: {
            ':pk': { S: `JOB#${jobId}` },
            ':prefix': { S: SERVER_PREFIX },
            ...(query.status ? { ':st': { S: query.status } } : {}),
          },
          ...(query.status ? { FilterExpression: '#st = :st', ExpressionAttributeNames: { '#st': 'status' } } : {}),
          Limit: query.limit - items.length,
          ConsistentRead: true,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      items.push(...(out.Items ?? []).map(itemToServer));
      startKey = out.LastEvaluatedKey;
      more = startKey !== undefined;
    } while (more && items.length < query.limit);
    const last = items[items.length - 1];
    return { items, ...(more && last ? { nextMarker: last.serverId } : {}) };
  }

  async listJobs(tenantId: string, principal: string, query: { limit: number; marker?: string }): Promise<Page<JobRecord>> {
    let startKey: Record<string, AttributeValue> | undefined;
    if (query.marker !== undefined) {
      const markerId = canonicalUuid(query.marker);
      const markerJob = markerId ? await this.getJob(markerId) : undefined;
      if (!markerJob || markerJob.tenantId !== tenantId || markerJob.principal !== principal) {
        throw new BadRequestError(`marker [${query.marker.slice(0, 64)}] not found`);
      }
      const item = jobToItem(markerJob);
      startKey = { pk: item.pk as AttributeValue, sk: item.sk as AttributeValue, gsi1pk: item.gsi1pk as AttributeValue, gsi1sk: item.gsi1sk as AttributeValue };
    }
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: OWNER_INDEX,
        KeyConditionExpression: 'gsi1pk = :o',
        ExpressionAttributeValues: { ':o': { S: ownerKey(tenantId, principal) } },
        ScanIndexForward: false,
        Limit: query.limit,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    const items = (out.Items ?? []).map(itemToJob);
    const last = items[items.length - 1];
    return { items, ...(out.LastEvaluatedKey && last ? { nextMarker: last.jobId } : {}) };
  }
}

/** Attributes a transition writes in full (the rest of the record never changes after submission). */
const MUTABLE: (keyof ServerRecord)[] = [
  'status', 'seq', 'attempts', 'updatedAt', 'lastHttpStatus', 'faultName', 'faultMessage', 'computeRequestIds',
  'claimedUntil', 'attemptRequestId', 'attemptStartedAt', 'uncertain', 'nextCheckAt', 'novaState', 'acceptedAt', 'endedAt',
  'waitingForSlotSince',
];

/** The UpdateItem parts that set `to`'s mutable attributes and remove the ones it lacks. */
function transitionUpdate(to: ServerRecord): { expression: string; names: Record<string, string>; values: Record<string, AttributeValue> } {
  const names: Record<string, string> = {};
  const values: Record<string, AttributeValue> = {};
  const set: string[] = [];
  const remove: string[] = [];
  MUTABLE.forEach((attr, i) => {
    names[`#a${i}`] = attr;
    const v = to[attr];
    if (v === undefined) remove.push(`#a${i}`);
    else {
      set.push(`#a${i} = :a${i}`);
      values[`:a${i}`] = marshall({ v }, { removeUndefinedValues: true }).v as AttributeValue;
    }
  });
  return { expression: `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`, names, values };
}

/** Creates the table (and its TTL) if it does not exist: the local stack's set-up. */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return;
  } catch (err) {
    if ((err as Error).name !== 'ResourceNotFoundException') throw err;
  }
  try {
    await client.send(new CreateTableCommand(tableDefinition(tableName)));
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  await client.send(
    new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true } }),
  ).catch(() => {
    // DynamoDB Local accepts TTL settings but never expires items; nothing depends on it locally.
  });
}
