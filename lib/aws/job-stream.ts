/**
 * The jobs table's stream, read as job changes: the notifier's input in the cloud (a Lambda event
 * source) and locally (local/notifications.ts polls DynamoDB Local's stream). Both hand their
 * records here, in the order the stream gives them, so what is told and when a batch is retried are
 * the same in both.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { type JobChange, type JobStatusEvent, type NotifierDeps, tell } from '../jobs/events.js';
import { itemToJob } from './dynamodb-store.js';
import { JOB_SK } from './table.js';

type Image = Record<string, unknown>;

/** A stream record as Lambda's event and the DynamoDB Streams API both shape it. */
export interface StreamRecordLike {
  eventName?: string;
  dynamodb?: { Keys?: Image; OldImage?: Image; NewImage?: Image; SequenceNumber?: string };
}

/** The job change a record holds; undefined for servers, locks, claims and the preflight. */
export function jobChangeOf(record: StreamRecordLike): JobChange | undefined {
  const keys = record.dynamodb?.Keys as { sk?: { S?: string } } | undefined;
  if (keys?.sk?.S !== JOB_SK) return undefined;
  const { OldImage, NewImage } = record.dynamodb ?? {};
  return {
    ...(OldImage ? { before: itemToJob(OldImage as Record<string, AttributeValue>) } : {}),
    ...(NewImage ? { after: itemToJob(NewImage as Record<string, AttributeValue>) } : {}),
  };
}

/**
 * Tells the records' job changes in order. On the first that fails it stops and returns its
 * sequence number: Lambda's event source runs the batch again from that record (and, locally, the
 * poller does), so no change is skipped and none is told out of order.
 */
export async function tellRecords(
  records: readonly StreamRecordLike[],
  deps: NotifierDeps,
  onError: (err: unknown) => void = () => undefined,
): Promise<{ told: JobStatusEvent[]; failedAt?: string }> {
  const told: JobStatusEvent[] = [];
  for (const record of records) {
    try {
      // Inside the try: a record that cannot be read fails alone, named, not the batch around it.
      const change = jobChangeOf(record);
      if (!change) continue;
      const event = await tell(change, deps);
      if (event) told.push(event);
    } catch (err) {
      onError(err);
      return { told, failedAt: record.dynamodb?.SequenceNumber ?? '' };
    }
  }
  return { told };
}
