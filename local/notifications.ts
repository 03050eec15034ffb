/**
 * The notifier on a laptop: reads DynamoDB Local's stream of the jobs table, as Lambda's event source
 * reads the table's stream in the cloud, and hands the records to the same code (lib/aws/job-stream.ts).
 * Its outlets are what a user can see: each event a line in `<dir>/events.jsonl` (and on the
 * terminal, through `onEvent`), each ended job's report a file under `<dir>/reports/`. Without a
 * directory (the tests) both are kept in memory, where a test reads them.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  type DynamoDBStreamsClientConfig,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type Shard,
  type ShardIteratorType,
} from '@aws-sdk/client-dynamodb-streams';
import { tellRecords } from '../lib/aws/job-stream.js';
import type { EventSink, JobStatusEvent, ReportArchive } from '../lib/jobs/events.js';
import type { JobStore } from '../lib/jobs/ports.js';

/**
 * How often an idle stream is read: a quarter of a second keeps an event within a second of its
 * change (Lambda's event source polls a stream four times a second too), for one local call each.
 */
const POLL_MS = 250;
/** A failed telling is tried again after this: the outlets are local files, so a failure is rare and brief. */
const RETRY_MS = 1000;
/** At stop, how long the notifier may still read what the stream holds: a few reads, bounded so a stop never hangs. */
const DRAIN_MS = 3000;

export interface LocalNotifierOptions {
  /** Where events.jsonl and reports/ are written; without it they are kept in memory only. */
  dir?: string;
  /** Called with each event as it is told (npm start prints a line). */
  onEvent?: (event: JobStatusEvent) => void;
  /** Called when a change could not be told (it is tried again). */
  onError?: (err: unknown) => void;
}

export interface LocalNotifier {
  /** Every event told, in order. */
  events: JobStatusEvent[];
  /** Every report kept, by where it was put (the event's `report`: a file, or `memory:<key>`). */
  reports: Map<string, string>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts reading the table's stream from now on (what happened before was told when it happened). */
export async function startLocalNotifier(
  dynamodb: DynamoDBClient,
  streamsConfig: DynamoDBStreamsClientConfig,
  tableName: string,
  store: Pick<JobStore, 'listServers'>,
  options: LocalNotifierOptions = {},
): Promise<LocalNotifier> {
  const streams = new DynamoDBStreamsClient(streamsConfig);
  let streamArn = '';
  const events: JobStatusEvent[] = [];
  const reports = new Map<string, string>();
  const eventSink: EventSink = {
    publish: async (event) => {
      if (options.dir) {
        mkdirSync(options.dir, { recursive: true });
        appendFileSync(join(options.dir, 'events.jsonl'), `${JSON.stringify(event)}\n`);
      }
      events.push(event);
      options.onEvent?.(event);
    },
  };
  const archive: ReportArchive = {
    put: async (key, body) => {
      let where = `memory:${key}`;
      if (options.dir) {
        where = join(options.dir, key);
        mkdirSync(dirname(where), { recursive: true });
        writeFileSync(where, body);
      }
      reports.set(where, body);
      return where;
    },
  };

  const shards = async (): Promise<Shard[]> => {
    const all: Shard[] = [];
    let start: string | undefined;
    do {
      const out = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn, ...(start ? { ExclusiveStartShardId: start } : {}) }));
      all.push(...(out.StreamDescription?.Shards ?? []));
      start = out.StreamDescription?.LastEvaluatedShardId;
    } while (start);
    return all;
  };
  const iterator = async (shardId: string, type: ShardIteratorType, sequence?: string) =>
    (await streams.send(new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shardId, ShardIteratorType: type, ...(sequence ? { SequenceNumber: sequence } : {}) })))
      .ShardIterator;

  /** Each open shard's iterator. */
  let open = new Map<string, string | undefined>();
  const seen = new Set<string>();
  /** The last record told of each shard: where to read on after an expired iterator or an outage. */
  const last = new Map<string, string>();
  /** Where to read a shard from: after the last record told; else from now, or from its start for a shard opened since we began. */
  const position = async (shardId: string, isNew: boolean) => {
    const from = last.get(shardId);
    if (from) {
      try {
        return await iterator(shardId, 'AFTER_SEQUENCE_NUMBER', from);
      } catch {
        // The shard no longer holds that record (trimmed, or the table was made again): read it
        // from its start. At least once: a change told twice rather than one never told.
        return iterator(shardId, 'TRIM_HORIZON');
      }
    }
    return iterator(shardId, isNew ? 'TRIM_HORIZON' : 'LATEST');
  };
  /**
   * (Re)reads the stream and places an iterator on each open shard: at the start from now (what
   * happened before was told when it happened), after an error (DynamoDB Local restarted, say)
   * from the last record told. Nothing is written while the table is down, so nothing is skipped.
   */
  const resume = async (initial: boolean) => {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    if (!Table?.LatestStreamArn) throw new Error(`table ${tableName} has no stream`);
    streamArn = Table.LatestStreamArn;
    const next = new Map<string, string | undefined>();
    for (const s of await shards()) {
      if (!s.ShardId || s.SequenceNumberRange?.EndingSequenceNumber) continue;
      next.set(s.ShardId, await position(s.ShardId, !initial && !seen.has(s.ShardId)));
      seen.add(s.ShardId);
    }
    open = next;
  };
  /** A shard closed (DynamoDB rolls them over): its children carry on, from their start. */
  const discover = async () => {
    for (const s of await shards()) {
      if (!s.ShardId || seen.has(s.ShardId)) continue;
      seen.add(s.ShardId);
      open.set(s.ShardId, await iterator(s.ShardId, 'TRIM_HORIZON'));
    }
  };
  await resume(true);

  let stopping = false;
  /** Set by stop(): the loop tells what the stream still holds, then ends (within DRAIN_MS). */
  let drainingSince: number | undefined;
  const loop = (async () => {
    while (!stopping) {
      let busy = false;
      try {
        for (const [shardId, it] of [...open]) {
          if (!it) {
            open.delete(shardId);
            continue;
          }
          let out;
          try {
            out = await streams.send(new GetRecordsCommand({ ShardIterator: it }));
          } catch (err) {
            if ((err as Error).name !== 'ExpiredIteratorException') throw err;
            open.set(shardId, await position(shardId, false));
            continue;
          }
          const records = out.Records ?? [];
          if (records.length) {
            busy = true;
            const { failedAt } = await tellRecords(records, { store, events: eventSink, reports: archive }, options.onError);
            if (failedAt !== undefined) {
              // Read again from the record that failed: the ones before it were told.
              open.set(shardId, await iterator(shardId, 'AT_SEQUENCE_NUMBER', failedAt));
              await sleep(RETRY_MS);
              continue;
            }
            const newest = records.at(-1)?.dynamodb?.SequenceNumber;
            if (newest) last.set(shardId, newest);
          }
          if (out.NextShardIterator) open.set(shardId, out.NextShardIterator);
          else {
            open.delete(shardId);
            await discover();
          }
        }
      } catch (err) {
        if (stopping) break;
        options.onError?.(err);
        await sleep(RETRY_MS);
        await resume(false).catch(() => undefined); // still down: the next round fails and tries again
      }
      if (drainingSince !== undefined && (!busy || Date.now() - drainingSince > DRAIN_MS)) break;
      if (!busy) await sleep(POLL_MS);
    }
  })();

  return {
    events,
    reports,
    stop: async () => {
      // The worker and the API stopped first: what they wrote last is told before the table goes.
      drainingSince = Date.now();
      await Promise.race([loop, sleep(DRAIN_MS + POLL_MS)]);
      stopping = true;
      await loop;
      streams.destroy();
    },
  };
}
