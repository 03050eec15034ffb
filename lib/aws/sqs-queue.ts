/**
 * The rebuild queue on SQS: the only file that imports the SQS SDK.
 */
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SQSClient,
  type SQSClientConfig,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { QueueUnavailableError } from '../errors.js';
import type { RebuildQueue } from '../jobs/ports.js';
import type { QueueMessage, RebuildMessage } from '../jobs/message.js';

/** SendMessageBatch's own limits: 10 entries, 256 KiB of bodies in all. */
const BATCH_ENTRIES = 10;
const BATCH_BYTES = 256 * 1024;
/**
 * Entries SQS fails inside a successful call (its partial failure) are retried here, the one
 * owner of that retry: 5 tries with full-jitter backoff from 100 ms, capped at 2 s — a few
 * seconds at worst, inside the API's 30 s. Whole-call errors are the SDK's (3 tries).
 */
const ENTRY_TRIES = 5;
const ENTRY_BASE_MS = 100;
const ENTRY_CAP_MS = 2000;
/** Batches in flight at once: 1,000 servers are 100 batches, sent in ten waves. */
const SEND_CONCURRENCY = 10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates the client (once per process, at module scope in the functions). */
export function createSqsClient(config: SQSClientConfig = {}): SQSClient {
  return new SQSClient(config);
}

/** Groups messages into batches that respect both SendMessageBatch limits. */
function toBatches(bodies: { serverId: string; body: string }[]): { serverId: string; body: string }[][] {
  const batches: { serverId: string; body: string }[][] = [];
  let current: { serverId: string; body: string }[] = [];
  let bytes = 0;
  for (const m of bodies) {
    const size = Buffer.byteLength(m.body, 'utf8');
    if (current.length === BATCH_ENTRIES || (current.length > 0 && bytes + size > BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length) batches.push(current);
  return batches;
}

export class SqsRebuildQueue implements RebuildQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(messages: RebuildMessage[]): Promise<void> {
    await this.sendBodies(messages.map((m) => ({ serverId: m.serverId, body: JSON.stringify(m) })));
  }

  /** Sends bodies as they are (the local stack restoring a queue snapshot). */
  async sendRaw(bodies: string[]): Promise<void> {
    await this.sendBodies(bodies.map((body, i) => ({ serverId: String(i), body })));
  }

  private async sendBodies(items: { serverId: string; body: string }[]): Promise<void> {
    const batches = toBatches(items);
    const sent = new Set<string>();
    let failure: Error | undefined;
    let next = 0;
    const worker = async () => {
      while (next < batches.length && !failure) {
        const batch = batches[next++] as { serverId: string; body: string }[];
        try {
          await this.sendBatch(batch, sent);
        } catch (err) {
          failure = err as Error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(SEND_CONCURRENCY, batches.length) }, worker));
    if (failure) {
      throw new QueueUnavailableError(`SQS did not take every message: ${failure.message}`, sent, { cause: failure });
    }
  }

  /** Sends one batch, retrying failed entries; adds the server ids sent to `sent`, or throws. */
  private async sendBatch(batch: { serverId: string; body: string }[], sent: Set<string>): Promise<void> {
    let pending: SendMessageBatchRequestEntry[] = batch.map((m, i) => ({ Id: String(i), MessageBody: m.body }));
    for (let attempt = 0; attempt < ENTRY_TRIES; attempt++) {
      if (attempt > 0) await sleep(Math.random() * Math.min(ENTRY_CAP_MS, ENTRY_BASE_MS * 2 ** attempt));
      let out;
      try {
        out = await this.client.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }));
      } catch (err) {
        throw new Error(`SendMessageBatch failed (${(err as Error).name})`, { cause: err });
      }
      for (const ok of out.Successful ?? []) sent.add((batch[Number(ok.Id)] as { serverId: string }).serverId);
      const failed = out.Failed ?? [];
      const permanent = failed.find((f) => f.SenderFault);
      if (permanent) throw new Error(`SQS refused a message: ${permanent.Code}`);
      const retry = new Set(failed.map((f) => f.Id));
      pending = pending.filter((e) => retry.has(e.Id));
      if (pending.length === 0) return;
    }
    throw new Error(`SQS failed ${pending.length} entries after ${ENTRY_TRIES} tries`);
  }

  async schedule(message: QueueMessage, delaySeconds: number): Promise<void> {
    await this.client.send(
      new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(message), DelaySeconds: delaySeconds }),
    );
  }
}

/** A received message, as an event source hands it to a function. */
export interface ReceivedMessage {
  messageId: string;
  receiptHandle: string;
  body: string;
  receiveCount: number;
  sentTimestamp: number;
}

/** Receives and deletes messages: what Lambda's event source does, for the local poller. */
export class SqsConsumer {
  constructor(
    private readonly client: SQSClient,
    readonly queueUrl: string,
  ) {}

  async receive(max: number, waitSeconds: number, signal?: AbortSignal): Promise<ReceivedMessage[]> {
    const out = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: waitSeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
      }),
      signal ? { abortSignal: signal } : {},
    );
    return (out.Messages ?? []).map((m) => ({
      messageId: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
      sentTimestamp: Number(m.Attributes?.SentTimestamp ?? 0),
    }));
  }

  async delete(receiptHandles: string[]): Promise<void> {
    for (let i = 0; i < receiptHandles.length; i += BATCH_ENTRIES) {
      const chunk = receiptHandles.slice(i, i + BATCH_ENTRIES);
      await this.client.send(
        new DeleteMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: chunk.map((h, j) => ({ Id: String(j), ReceiptHandle: h })) }),
      );
    }
  }
}
