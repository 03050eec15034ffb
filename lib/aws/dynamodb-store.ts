/**
 * The job store on DynamoDB: the only file that imports the DynamoDB SDK. The table's shape is in
 * `table.ts`. A server's transition is one transaction of the server's conditional update and the
 * job item's counters, so the summary is one read whatever the job's size and the counts stay
 * exact under concurrency and duplicate deliveries.
 */
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ResourceInUseException,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  type TransactWriteItemsCommandInput,
  UpdateItemCommand,
  type UpdateItemCommandInput,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  type AttributeValue,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { BadRequestError, IdempotencyClaimedError, JobMovedError, MoveLostError, SlotsFullError, StoreUnavailableError } from '../errors.js';
import { type Counts, type JobPlan, type JobRecord, type JobSelection, type JobStop, type PreflightEntry, type RolloutState, type ServerRecord, type ServerState, SERVER_STATES, type Submission, type WatchState } from '../jobs/model.js';
import type { IdempotencyRecord, JobStore, Page, ServerLock, StoredTransition } from '../jobs/ports.js';
import { canonicalUuid } from '../request/nova-formats.js';
import {
  IDEM_SK,
  JOB_SK,
  LIVE,
  LIVE_INDEX,
  LOCK_SK,
  PREFLIGHT_PREFIX,
  PROJECT_INDEX,
  SERVER_PREFIX,
  TTL_ATTRIBUTE,
  jobPk,
  lockPk,
  projectKey,
  tableDefinition,
} from './table.js';

/** BatchWriteItem's own limit per call. */
const BATCH_WRITE_SIZE = 25;
/** BatchGetItem's own limit per call. */
const BATCH_GET_SIZE = 100;
/** TransactWriteItems' own limit: the locks of 100 servers a call. */
const TRANSACT_SIZE = 100;
/**
 * Unprocessed items (DynamoDB's partial success under throttling) are retried here, the one
 * owner of that retry: up to 8 tries with full-jitter backoff from 50 ms, capped at 2 s — about
 * 6 s at worst, inside the API's 30 s. The SDK's own retries (3 tries) cover whole-call errors.
 */
const UNPROCESSED_TRIES = 8;
const UNPROCESSED_BASE_MS = 50;
const UNPROCESSED_CAP_MS = 2000;
/**
 * A transaction cancelled because another transaction touched the same job item at that instant
 * (`TransactionConflict`: many servers of one job moving at once) is retried here, the one owner of
 * that retry: the SDK does not retry it. Up to 6 tries with full jitter from 20 ms capped at 500 ms:
 * the conflicting writes take milliseconds, so a few short waits clear it.
 */
const CONFLICT_TRIES = 6;
const CONFLICT_BASE_MS = 20;
const CONFLICT_CAP_MS = 500;
/** Calls in flight at once for batches and locks: enough to hide latency, few enough not to self-throttle. */
const WRITE_CONCURRENCY = 8;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = (attempt: number, base: number, cap: number) => Math.random() * Math.min(cap, base * 2 ** attempt);

function jobKey(jobId: string): Record<string, AttributeValue> {
  return { pk: { S: jobPk(jobId) }, sk: { S: JOB_SK } };
}

function serverKey(jobId: string, serverId: string): Record<string, AttributeValue> {
  return { pk: { S: jobPk(jobId) }, sk: { S: `${SERVER_PREFIX}${serverId}` } };
}

function lockKey(tenantId: string, serverId: string): Record<string, AttributeValue> {
  return { pk: { S: lockPk(tenantId, serverId) }, sk: { S: LOCK_SK } };
}

function jobToItem(job: JobRecord): Record<string, AttributeValue> {
  const { counts, ...rest } = job;
  const flat: Record<string, unknown> = {
    ...rest,
    pk: jobPk(job.jobId),
    sk: JOB_SK,
    gsi1pk: projectKey(job.tenantId),
    gsi1sk: `${job.createdAt}#${job.jobId}`,
    ...(job.finalStatus ? {} : { gsi2pk: LIVE, gsi2sk: `${job.deadline}#${job.jobId}` }),
  };
  for (const s of SERVER_STATES) flat[`n_${s}`] = counts[s];
  return marshall(flat, { removeUndefinedValues: true });
}

/** The job item as the table holds it (a stream image too), as a record. */
export function itemToJob(item: Record<string, AttributeValue>): JobRecord {
  const raw = unmarshall(item) as Record<string, unknown>;
  const counts = {} as Counts;
  for (const s of SERVER_STATES) {
    counts[s] = Number(raw[`n_${s}`] ?? 0);
    delete raw[`n_${s}`];
  }
  for (const k of ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk']) delete raw[k];
  return { ...(raw as unknown as Omit<JobRecord, 'counts'>), counts };
}

function serverToItem(s: ServerRecord): Record<string, AttributeValue> {
  return marshall({ ...s, pk: jobPk(s.jobId), sk: `${SERVER_PREFIX}${s.serverId}` }, { removeUndefinedValues: true });
}

function itemToServer(item: Record<string, AttributeValue>): ServerRecord {
  const { pk: _pk, sk: _sk, ...rest } = unmarshall(item) as Record<string, unknown>;
  return rest as unknown as ServerRecord;
}

function itemToLock(item: Record<string, AttributeValue>): ServerLock {
  const { pk: _pk, sk: _sk, ...rest } = unmarshall(item) as Record<string, unknown>;
  return rest as unknown as ServerLock;
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

/**
 * Every attribute of a server record, and whether a transition writes it (true) or it never changes
 * after submission (false). A Record over all keys, so a field added to ServerRecord does not
 * compile until it is placed here — a field left out would be silently dropped by every write.
 */
const WRITTEN_BY_TRANSITIONS: Record<keyof ServerRecord, boolean> = {
  jobId: false, serverId: false, tenantId: false, index: false, imageId: false, rebuild: false, createdAt: false, expiresAt: false,
  status: true, seq: true, attempts: true, tries: true, updatedAt: true, lastHttpStatus: true, faultName: true, faultMessage: true,
  computeRequestIds: true, claimedUntil: true, attemptRequestId: true, attemptStartedAt: true, projectChecked: true,
  baselineUpdated: true, uncertain: true, everUncertain: true, nextCheckAt: true, novaState: true, acceptedAt: true, holdUntil: true, endedAt: true,
  waitingForSlotSince: true, runs: true,
};
/** Attributes a transition writes in full (the rest of the record never changes after submission). */
const MUTABLE = (Object.keys(WRITTEN_BY_TRANSITIONS) as (keyof ServerRecord)[]).filter((k) => WRITTEN_BY_TRANSITIONS[k]);

/** The UpdateItem parts that set `to`'s mutable attributes and remove the ones it lacks. */
function recordUpdate(to: ServerRecord): { expression: string; names: Record<string, string>; values: Record<string, AttributeValue> } {
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
    await inParallel(chunks, WRITE_CONCURRENCY, (chunk) => this.writeChunk(chunk));
  }

  private async writeChunk(chunk: WriteRequest[]): Promise<void> {
    let pending = chunk;
    for (let attempt = 0; attempt < UNPROCESSED_TRIES; attempt++) {
      if (attempt > 0) await sleep(jitter(attempt, UNPROCESSED_BASE_MS, UNPROCESSED_CAP_MS));
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
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: marshall({ ':s': submission, ':u': new Date().toISOString() }, { removeUndefinedValues: true }),
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
    const out = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: serverKey(jobId, serverId), ConsistentRead: true }));
    return out.Item ? itemToServer(out.Item) : undefined;
  }

  async applyTransition(t: StoredTransition): Promise<void> {
    const { moves, job } = t;
    const serverUpdates = moves.map(({ from, to }) => {
      const record = recordUpdate(to);
      return {
        TableName: this.tableName,
        Key: serverKey(from.jobId, from.serverId),
        UpdateExpression: record.expression,
        ConditionExpression: '#seq = :fromSeq AND #st = :fromStatus',
        ExpressionAttributeNames: { ...record.names, '#seq': 'seq', '#st': 'status' },
        ExpressionAttributeValues: { ...record.values, ':fromSeq': { N: String(from.seq) }, ':fromStatus': { S: from.status } },
      };
    });
    const lost = (index: number, cause?: unknown) => {
      const from = moves[index]?.from;
      return new MoveLostError(`server ${from?.serverId} is no longer ${from?.status} at seq ${from?.seq}`, index, { cause });
    };
    const deltas = Object.entries(job.counts).filter(([, d]) => d !== 0) as [ServerState, number][];
    const [only] = serverUpdates;
    if (serverUpdates.length === 1 && only && deltas.length === 0 && job.inFlight === 0 && !job.end && !job.add && !job.reopen && t.releaseLocks.length === 0) {
      try {
        await this.client.send(new UpdateItemCommand(only));
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) throw lost(0, err);
        throw err;
      }
      return;
    }

    const adds: string[] = [];
    const sets: string[] = ['updatedAt = :u'];
    const removes: string[] = [];
    const conditions: string[] = ['attribute_exists(pk)'];
    const names: Record<string, string> = {};
    const values: Record<string, AttributeValue> = { ':u': { S: moves[0]?.to.updatedAt ?? new Date().toISOString() } };
    deltas.forEach(([state, delta], i) => {
      adds.push(`#n${i} :d${i}`);
      names[`#n${i}`] = `n_${state}`;
      values[`:d${i}`] = { N: String(delta) };
    });
    if (job.inFlight !== 0) {
      adds.push('inFlight :slot');
      values[':slot'] = { N: String(job.inFlight) };
    }
    if (job.maxInFlight !== undefined) {
      conditions.push('inFlight < :max');
      values[':max'] = { N: String(job.maxInFlight) };
    }
    if (job.add) {
      adds.push('remaining :added');
      values[':added'] = { N: String(job.add) };
    }
    if (job.reopen) {
      conditions.push('finalStatus = :reopenFrom');
      values[':reopenFrom'] = { S: job.reopen.from };
      values[':deadline'] = { S: job.reopen.deadline };
      values[':live'] = { S: LIVE };
      values[':liveKey'] = { S: `${job.reopen.deadline}#${job.jobId}` };
      values[':one'] = { N: '1' };
      names['#stop'] = 'stop';
      sets.push('deadline = :deadline', 'gsi2pk = :live', 'gsi2sk = :liveKey');
      adds.push('redrives :one');
      removes.push('finalStatus', 'completedAt', '#stop', 'paused');
    }
    if (job.end) {
      adds.push('remaining :ending');
      values[':ending'] = { N: String(-job.end.servers) };
      values[':k'] = { N: String(job.end.servers) };
      const final = job.end.final;
      if (!final) {
        conditions.push('remaining > :k');
      } else {
        conditions.push('remaining = :k', final.stopBy === null ? 'attribute_not_exists(#stop)' : '#stop.#by = :stopBy');
        names['#stop'] = 'stop';
        if (final.stopBy !== null) {
          names['#by'] = 'by';
          values[':stopBy'] = { S: final.stopBy };
        }
        sets.push('finalStatus = :final', 'completedAt = :completed');
        values[':final'] = { S: final.status };
        values[':completed'] = { S: final.completedAt };
        // Leaving the sparse index of live jobs is part of the same write.
        removes.push('gsi2pk', 'gsi2sk');
      }
    }
    const input: TransactWriteItemsCommandInput = {
      TransactItems: [
        ...serverUpdates.map((Update) => ({ Update })),
        ...t.releaseLocks.map((l) => ({ Delete: { TableName: this.tableName, Key: lockKey(l.tenantId, l.serverId) } })),
        {
          Update: {
            TableName: this.tableName,
            Key: jobKey(job.jobId),
            UpdateExpression: `SET ${sets.join(', ')}${adds.length ? ` ADD ${adds.join(', ')}` : ''}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
            ConditionExpression: conditions.join(' AND '),
            ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
            ExpressionAttributeValues: values,
          },
        },
      ],
    };
    const jobIndex = serverUpdates.length + t.releaseLocks.length;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.send(new TransactWriteItemsCommand(input));
        return;
      } catch (err) {
        const reasons = err instanceof TransactionCanceledException ? (err.CancellationReasons ?? []) : [];
        const lostAt = reasons.findIndex((r, i) => i < jobIndex && r.Code === 'ConditionalCheckFailed');
        if (lostAt >= 0) throw lost(lostAt, err);
        if (reasons[jobIndex]?.Code === 'ConditionalCheckFailed') {
          if (job.maxInFlight !== undefined) throw new SlotsFullError(`job ${job.jobId} has ${job.maxInFlight} servers in flight`, { cause: err });
          throw new JobMovedError(`job ${job.jobId} moved since it was read`, { cause: err });
        }
        if (reasons.some((r) => r.Code === 'TransactionConflict') && attempt + 1 < CONFLICT_TRIES) {
          await sleep(jitter(attempt, CONFLICT_BASE_MS, CONFLICT_CAP_MS));
          continue;
        }
        throw err;
      }
    }
  }

  /** One conditional update of the job item: false when its condition did not hold (someone moved the job first). */
  private async updateJobIf(jobId: string, update: Omit<UpdateItemCommandInput, 'TableName' | 'Key'>): Promise<boolean> {
    try {
      await this.client.send(new UpdateItemCommand({ TableName: this.tableName, Key: jobKey(jobId), ...update }));
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async setStop(jobId: string, stop: JobStop, options: { onlyAwaiting?: boolean } = {}): Promise<boolean> {
    return this.updateJobIf(jobId, {
      UpdateExpression: 'SET #stop = :stop, updatedAt = :u',
      ConditionExpression: `attribute_exists(pk) AND attribute_not_exists(#stop) AND attribute_not_exists(finalStatus)${options.onlyAwaiting ? ' AND attribute_exists(awaiting)' : ''}`,
      ExpressionAttributeNames: { '#stop': 'stop' },
      ExpressionAttributeValues: marshall({ ':stop': stop, ':u': stop.at }),
    });
  }

  async setPaused(jobId: string, paused: { at: string; by: string } | null): Promise<boolean> {
    return this.updateJobIf(jobId, {
      UpdateExpression: paused ? 'SET paused = :p, updatedAt = :u' : 'REMOVE paused SET updatedAt = :u',
      ConditionExpression: `attribute_exists(pk) AND attribute_not_exists(finalStatus) AND ${paused ? 'attribute_not_exists(paused)' : 'attribute_exists(paused)'}`,
      ExpressionAttributeValues: marshall({ ...(paused ? { ':p': paused } : {}), ':u': paused?.at ?? new Date().toISOString() }),
    });
  }

  async openWave(jobId: string, from: RolloutState, to: RolloutState, paused?: { at: string; by: string }): Promise<boolean> {
    return this.updateJobIf(jobId, {
      UpdateExpression: `SET rollout = :to, updatedAt = :u${paused ? ', paused = if_not_exists(paused, :p)' : ''}`,
      ConditionExpression: 'attribute_exists(pk) AND rollout.#open = :from AND attribute_not_exists(#stop) AND attribute_not_exists(finalStatus)',
      ExpressionAttributeNames: { '#open': 'open', '#stop': 'stop' },
      ExpressionAttributeValues: marshall({ ':to': to, ':from': from.open, ':u': paused?.at ?? new Date().toISOString(), ...(paused ? { ':p': paused } : {}) }),
    });
  }

  async setPlan(jobId: string, plan: JobPlan): Promise<boolean> {
    return this.updateJobIf(jobId, {
      UpdateExpression: 'SET #plan = :plan, updatedAt = :u',
      ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#plan) AND attribute_not_exists(finalStatus)',
      ExpressionAttributeNames: { '#plan': 'plan' },
      ExpressionAttributeValues: marshall({ ':plan': plan, ':u': plan.builtAt }, { removeUndefinedValues: true }),
    });
  }

  async confirmPlan(jobId: string, confirmedAt: string, deadline: string, submission: Submission): Promise<boolean> {
    return this.updateJobIf(jobId, {
      UpdateExpression: 'REMOVE awaiting SET confirmedAt = :u, deadline = :d, gsi2sk = :liveKey, submission = :s, updatedAt = :u',
      ConditionExpression: 'attribute_exists(awaiting) AND attribute_exists(#plan) AND attribute_not_exists(#stop) AND attribute_not_exists(finalStatus)',
      ExpressionAttributeNames: { '#plan': 'plan', '#stop': 'stop' },
      ExpressionAttributeValues: marshall({ ':d': deadline, ':liveKey': `${deadline}#${jobId}`, ':s': submission, ':u': confirmedAt }, { removeUndefinedValues: true }),
    });
  }

  async advanceSelection(jobId: string, from: JobSelection['state'], to: JobSelection['state'], fields: { matched?: number; total?: number; rollout?: RolloutState } = {}): Promise<boolean> {
    const sets = ['selection.#state = :to', 'updatedAt = :u'];
    const values: Record<string, unknown> = { ':from': from, ':to': to, ':u': new Date().toISOString() };
    if (fields.matched !== undefined) {
      sets.push('selection.matched = :m');
      values[':m'] = fields.matched;
    }
    if (fields.total !== undefined) {
      sets.push('#total = :n', '#remaining = :n', 'n_QUEUED = :n');
      values[':n'] = fields.total;
    }
    if (fields.rollout) {
      sets.push('rollout = :r');
      values[':r'] = fields.rollout;
    }
    return this.updateJobIf(jobId, {
      UpdateExpression: `SET ${sets.join(', ')}`,
      ConditionExpression: 'selection.#state = :from AND attribute_not_exists(#stop) AND attribute_not_exists(finalStatus)',
      // TOTAL is one of DynamoDB's reserved words.
      ExpressionAttributeNames: { '#state': 'state', '#stop': 'stop', ...(fields.total !== undefined ? { '#total': 'total', '#remaining': 'remaining' } : {}) },
      ExpressionAttributeValues: marshall(values),
    });
  }

  async claimSelection(jobId: string, now: string, until: string): Promise<boolean> {
    return this.updateJobIf(jobId, {
      UpdateExpression: 'SET selection.claimedUntil = :until',
      ConditionExpression:
        'selection.#state IN (:resolving, :listed, :ready) AND attribute_not_exists(finalStatus) AND (attribute_not_exists(selection.claimedUntil) OR selection.claimedUntil < :now)',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: marshall({ ':until': until, ':now': now, ':resolving': 'resolving', ':listed': 'listed', ':ready': 'ready' }),
    });
  }

  async failSelection(jobId: string, from: JobSelection['state'], reason: string, at: string, status: 'FAILED' | 'CANCELLED' = 'FAILED'): Promise<boolean> {
    return this.updateJobIf(jobId, {
      UpdateExpression: "SET selection.#state = :failed, selection.reason = :why, finalStatus = :f, completedAt = :at, updatedAt = :at REMOVE gsi2pk, gsi2sk",
      ConditionExpression: 'selection.#state = :from AND attribute_not_exists(finalStatus)',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: marshall({ ':from': from, ':failed': 'failed', ':why': reason, ':f': status, ':at': at }),
    });
  }

  async setMaxInFlight(jobId: string, maxInFlight: number): Promise<boolean> {
    return this.updateJobIf(jobId, {
      UpdateExpression: 'SET #o.#m = :m, updatedAt = :u',
      ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(finalStatus)',
      ExpressionAttributeNames: { '#o': 'options', '#m': 'maxInFlight' },
      ExpressionAttributeValues: { ':m': { N: String(maxInFlight) }, ':u': { S: new Date().toISOString() } },
    });
  }

  async listServers(jobId: string, query: { limit: number; marker?: string; status?: ServerState }): Promise<Page<ServerRecord>> {
    let startKey: Record<string, AttributeValue> | undefined;
    if (query.marker !== undefined) {
      const marker = canonicalUuid(query.marker);
      if (!marker) throw new BadRequestError(`marker [${query.marker.slice(0, 64)}] not found`);
      startKey = serverKey(jobId, marker);
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
            ':pk': { S: jobPk(jobId) },
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

  async listJobs(tenantId: string, query: { limit: number; marker?: string }): Promise<Page<JobRecord>> {
    let startKey: Record<string, AttributeValue> | undefined;
    if (query.marker !== undefined) {
      const markerId = canonicalUuid(query.marker);
      const markerJob = markerId ? await this.getJob(markerId) : undefined;
      if (!markerJob || markerJob.tenantId !== tenantId) throw new BadRequestError(`marker [${query.marker.slice(0, 64)}] not found`);
      const item = jobToItem(markerJob);
      startKey = { pk: item.pk as AttributeValue, sk: item.sk as AttributeValue, gsi1pk: item.gsi1pk as AttributeValue, gsi1sk: item.gsi1sk as AttributeValue };
    }
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: PROJECT_INDEX,
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': { S: projectKey(tenantId) } },
        ScanIndexForward: false,
        Limit: query.limit,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    const items = (out.Items ?? []).map(itemToJob);
    const last = items[items.length - 1];
    return { items, ...(out.LastEvaluatedKey && last ? { nextMarker: last.jobId } : {}) };
  }

  async listLiveJobs(query: { limit: number; marker?: string }): Promise<Page<JobRecord>> {
    let startKey: Record<string, AttributeValue> | undefined;
    if (query.marker !== undefined) {
      const markerJob = await this.getJob(query.marker);
      if (markerJob && !markerJob.finalStatus) {
        startKey = { ...jobKey(markerJob.jobId), gsi2pk: { S: LIVE }, gsi2sk: { S: `${markerJob.deadline}#${markerJob.jobId}` } };
      }
    }
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: LIVE_INDEX,
        KeyConditionExpression: 'gsi2pk = :live',
        ExpressionAttributeValues: { ':live': { S: LIVE } },
        Limit: query.limit,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    // The index is eventually consistent: a job that just ended may still show; callers read it again.
    const items = (out.Items ?? []).map(itemToJob);
    const last = items[items.length - 1];
    return { items, ...(out.LastEvaluatedKey && last ? { nextMarker: last.jobId } : {}) };
  }

  async lockServers(tenantId: string, jobId: string, serverIds: string[], takenAt: string, expiresAt: number): Promise<ServerLock[]> {
    const held: ServerLock[] = [];
    const chunks: string[][] = [];
    for (let i = 0; i < serverIds.length; i += TRANSACT_SIZE) chunks.push(serverIds.slice(i, i + TRANSACT_SIZE));
    await inParallel(chunks, WRITE_CONCURRENCY, async (chunk) => {
      let pending = chunk;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= CONFLICT_TRIES) throw new StoreUnavailableError(`the locks of ${pending.length} servers could not be taken after ${CONFLICT_TRIES} tries`);
        if (attempt > 0) await sleep(jitter(attempt, CONFLICT_BASE_MS, CONFLICT_CAP_MS));
        try {
          // One transaction of up to 100 locks: all taken, or none and the reasons say which are held.
          await this.client.send(
            new TransactWriteItemsCommand({
              TransactItems: pending.map((serverId) => ({
                Put: {
                  TableName: this.tableName,
                  Item: marshall({ tenantId, serverId, jobId, takenAt, expiresAt, pk: lockPk(tenantId, serverId), sk: LOCK_SK }),
                  ConditionExpression: 'attribute_not_exists(pk) OR jobId = :job',
                  ExpressionAttributeValues: { ':job': { S: jobId } },
                  ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
                },
              })),
            }),
          );
          return;
        } catch (err) {
          if (!(err instanceof TransactionCanceledException)) throw err;
          const reasons = err.CancellationReasons ?? [];
          const refused = pending.flatMap((serverId, i) => (reasons[i]?.Code === 'ConditionalCheckFailed' ? [{ serverId, item: reasons[i]?.Item }] : []));
          // Nothing refused: a conflict with another transaction at that instant, or throttling; the same again.
          if (refused.length === 0) continue;
          const holders = new Set<string>();
          for (const { serverId, item } of refused) {
            const found = item ?? (await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: lockKey(tenantId, serverId), ConsistentRead: true }))).Item;
            // A lock released between the refusal and our read is taken on the next try.
            if (!found) continue;
            held.push(itemToLock(found));
            holders.add(serverId);
          }
          pending = pending.filter((id) => !holders.has(id));
        }
      }
    });
    return held;
  }

  async takeOverServerLock(stale: ServerLock, jobId: string, takenAt: string, expiresAt: number): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({ tenantId: stale.tenantId, serverId: stale.serverId, jobId, takenAt, expiresAt, pk: lockPk(stale.tenantId, stale.serverId), sk: LOCK_SK }),
          ConditionExpression: 'jobId = :stale AND takenAt = :staleAt',
          ExpressionAttributeValues: { ':stale': { S: stale.jobId }, ':staleAt': { S: stale.takenAt } },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async releaseServerLock(tenantId: string, serverId: string, jobId: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: lockKey(tenantId, serverId),
          ConditionExpression: 'jobId = :job',
          ExpressionAttributeValues: { ':job': { S: jobId } },
        }),
      );
    } catch (err) {
      // Not ours (any more): another job took it over, or it was released already.
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }

  async getServers(jobId: string, serverIds: string[]): Promise<ServerRecord[]> {
    const found: ServerRecord[] = [];
    const chunks: string[][] = [];
    for (let i = 0; i < serverIds.length; i += BATCH_GET_SIZE) chunks.push(serverIds.slice(i, i + BATCH_GET_SIZE));
    await inParallel(chunks, WRITE_CONCURRENCY, async (chunk) => {
      let keys: Record<string, AttributeValue>[] = chunk.map((id) => serverKey(jobId, id));
      // Unprocessed keys (throttling) are asked for again, as unprocessed writes are (same owner, same numbers).
      for (let attempt = 0; keys.length > 0; attempt++) {
        if (attempt >= UNPROCESSED_TRIES) throw new StoreUnavailableError(`DynamoDB left ${keys.length} reads unprocessed after ${UNPROCESSED_TRIES} tries`);
        if (attempt > 0) await sleep(jitter(attempt, UNPROCESSED_BASE_MS, UNPROCESSED_CAP_MS));
        const out = await this.client.send(new BatchGetItemCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }));
        found.push(...(out.Responses?.[this.tableName] ?? []).map(itemToServer));
        keys = out.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    });
    return found;
  }

  async setWatch(jobId: string, expect: { gen: number; tick: number } | null, watch: WatchState, options: { idle?: boolean } = {}): Promise<boolean> {
    const conditions = ['attribute_exists(pk)', 'attribute_not_exists(finalStatus)'];
    const names: Record<string, string> = { '#w': 'watch' };
    const values: Record<string, AttributeValue> = { ':w': marshall({ w: watch }, { removeUndefinedValues: true }).w as AttributeValue };
    if (expect === null) conditions.push('attribute_not_exists(#w)');
    else {
      conditions.push('#w.#gen = :gen', '#w.#tick = :tick');
      names['#gen'] = 'gen';
      names['#tick'] = 'tick';
      values[':gen'] = { N: String(expect.gen) };
      values[':tick'] = { N: String(expect.tick) };
    }
    if (options.idle) {
      conditions.push('n_ACCEPTED = :zero', 'n_REBUILDING = :zero');
      values[':zero'] = { N: '0' };
    }
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: jobKey(jobId),
          UpdateExpression: 'SET #w = :w',
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async putPreflight(jobId: string, chunk: number, entries: Record<string, PreflightEntry>, expiresAt: number): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall({ pk: jobPk(jobId), sk: `${PREFLIGHT_PREFIX}${chunk}`, entries, [TTL_ATTRIBUTE]: expiresAt }, { removeUndefinedValues: true }),
      }),
    );
  }

  async getPreflight(jobId: string, chunk: number): Promise<Record<string, PreflightEntry> | undefined> {
    const out = await this.client.send(
      // Consistent: a step reads it right after the job said the preflight is done.
      new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: jobPk(jobId) }, sk: { S: `${PREFLIGHT_PREFIX}${chunk}` } }, ConsistentRead: true }),
    );
    if (!out.Item) return undefined;
    return (unmarshall(out.Item) as { entries?: Record<string, PreflightEntry> }).entries ?? {};
  }
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight; the first failure is thrown after all settle. */
async function inParallel<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < items.length && failure === undefined) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failure !== undefined) throw failure;
}

/** Creates the table (and its TTL) if it does not exist: the local stack's set-up. */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const def = tableDefinition(tableName);
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    // A table made before the notifier existed (a laptop's .local-data) gets its stream now.
    if (!Table?.StreamSpecification?.StreamEnabled) await client.send(new UpdateTableCommand({ TableName: tableName, StreamSpecification: def.StreamSpecification }));
    return;
  } catch (err) {
    if ((err as Error).name !== 'ResourceNotFoundException') throw err;
  }
  try {
    await client.send(new CreateTableCommand(def));
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  await client
    .send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true } }))
    .catch(() => {
      // DynamoDB Local accepts TTL settings but never expires items; nothing depends on it locally.
    });
}
