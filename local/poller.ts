/**
 * A local stand-in for Lambda's SQS event source: long-polls the queue, hands batches to the
 * worker handler as SQS events, deletes what it reports done and leaves the rest to come back
 * after the visibility timeout (and, past maxReceiveCount, to the queue's redrive to the
 * dead-letter queue). An invocation that throws is a crashed function: nothing is deleted.
 */
import type { SQSEvent } from 'aws-lambda';
import type { SqsConsumer } from '../lib/aws/sqs-queue.js';
import type { WorkerHandler } from '../functions/worker-app.js';

/** SQS's longest long poll, which Lambda's event source uses. */
const LONG_POLL_SECONDS = 20;

export interface PollerOptions {
  /** Messages per invocation (Lambda: 1–10 for this setup). */
  batchSize: number;
  /** Longest wait to fill a batch, in seconds (Lambda's batching window; SQS long polling caps it at 20). */
  batchingWindowSeconds: number;
  /** Invocations running at once (the event source's maximum concurrency): the knob that protects the cloud. */
  maxConcurrency: number;
  /** Called when an invocation throws (a crash); the messages stay in the queue. */
  onCrash?: (err: unknown) => void;
}

export interface Poller {
  /** Invocations so far, and how many crashed. */
  stats: { invocations: number; crashes: number; messages: number };
  stop(): Promise<void>;
}

/** Starts `maxConcurrency` polling loops that feed `handler`. */
export function startPoller(consumer: SqsConsumer, handler: WorkerHandler, options: PollerOptions): Poller {
  const stats = { invocations: 0, crashes: 0, messages: 0 };
  const abort = new AbortController();
  let running = true;

  const loop = async () => {
    while (running) {
      let received;
      try {
        // Lambda long-polls (20 s), then keeps gathering up to the batching window or a full batch.
        received = await consumer.receive(options.batchSize, LONG_POLL_SECONDS, abort.signal);
        const until = Date.now() + options.batchingWindowSeconds * 1000;
        while (received.length > 0 && received.length < options.batchSize && Date.now() < until) {
          const more = await consumer.receive(options.batchSize - received.length, Math.max(0, Math.min(LONG_POLL_SECONDS, Math.floor((until - Date.now()) / 1000))), abort.signal);
          if (more.length === 0) break;
          received.push(...more);
        }
      } catch {
        if (!running) return;
        // The queue is unreachable (restarting?): try again shortly rather than spin.
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (received.length === 0) continue;
      const event: SQSEvent = {
        Records: received.map((m) => ({
          messageId: m.messageId,
          receiptHandle: m.receiptHandle,
          body: m.body,
          attributes: {
            ApproximateReceiveCount: String(m.receiveCount),
            SentTimestamp: String(m.sentTimestamp),
            SenderId: 'local',
            ApproximateFirstReceiveTimestamp: String(Date.now()),
          },
          messageAttributes: {},
          md5OfBody: '',
          eventSource: 'aws:sqs',
          eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:local',
          awsRegion: 'us-east-1',
        })),
      };
      stats.invocations++;
      stats.messages += received.length;
      let failed: Set<string>;
      try {
        const res = await handler(event);
        failed = new Set(res.batchItemFailures.map((f) => f.itemIdentifier));
      } catch (err) {
        stats.crashes++;
        options.onCrash?.(err);
        continue;
      }
      const done = received.filter((m) => !failed.has(m.messageId)).map((m) => m.receiptHandle);
      try {
        await consumer.delete(done);
      } catch {
        // Not deleted: they come back after the visibility timeout, which the worker tolerates.
      }
    }
  };

  const loops = Array.from({ length: options.maxConcurrency }, () => loop());
  return {
    stats,
    stop: async () => {
      running = false;
      abort.abort();
      await Promise.allSettled(loops);
    },
  };
}
