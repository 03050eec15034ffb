/**
 * The worker behind the SQS event source: each record is one step for one server, or one look of a
 * job's watcher, handled on its own, and reported back as a partial batch response so one bad
 * message never fails its batch.
 * Built from its dependencies so the Lambda entry, the local poller and the tests share it.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { ZodError } from 'zod';
import { RetryLaterError } from '../lib/errors.js';
import { isWatchMessage, parseQueueMessage } from '../lib/jobs/message.js';
import { type WorkerDeps, handleRebuildMessage } from '../lib/worker/step.js';
import { handleWatchMessage } from '../lib/worker/watch.js';

export type WorkerHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

/** Builds the SQS handler around the worker's dependencies; `maxReceiveCount` is the queue's redrive setting. */
export function createWorker(deps: WorkerDeps & { logger: Logger }, maxReceiveCount: number): WorkerHandler {
  const record = async (r: SQSRecord) => {
    let msg;
    try {
      msg = parseQueueMessage(r.body);
    } catch (err) {
      // A poison message: left to fail until the queue's redrive moves it to the dead-letter
      // queue. Its body may hold secrets, so only where it is wrong is logged.
      const where = err instanceof ZodError ? err.issues.map((i) => i.path.join('.') || '(root)').slice(0, 5) : ['not JSON'];
      deps.logger.warn('poison message', { messageId: r.messageId, receiveCount: r.attributes?.ApproximateReceiveCount, invalid: where });
      deps.metrics?.record('PoisonMessages', 1, 'Count');
      throw new Error('poison message');
    }
    const lastDelivery = Number(r.attributes?.ApproximateReceiveCount ?? 1) >= maxReceiveCount;
    if (isWatchMessage(msg)) {
      try {
        const result = await handleWatchMessage(deps, msg);
        deps.logger.info('watch', { jobId: msg.jobId, gen: msg.gen, tick: msg.tick, result });
      } catch (err) {
        // A watcher message that fails on its last delivery is let go, not dead-lettered: the
        // servers' safety nets (and the sweeper) start a new generation.
        if (lastDelivery) {
          deps.logger.warn('watch failed on its last delivery: the servers start a new watcher', { jobId: msg.jobId, errorName: (err as Error)?.name });
          return;
        }
        if (!(err instanceof RetryLaterError)) deps.logger.warn('watch failed', { jobId: msg.jobId, gen: msg.gen, tick: msg.tick, errorName: (err as Error)?.name });
        throw err;
      }
      return;
    }
    try {
      const result = await handleRebuildMessage(deps, msg, { lastDelivery });
      deps.logger.info('step', { jobId: msg.jobId, serverId: msg.serverId, seq: msg.seq, phase: msg.phase, result });
    } catch (err) {
      if (!(err instanceof RetryLaterError)) {
        // The error's text may quote the cloud, which may quote the request: only its name is logged here.
        deps.logger.warn('step failed', { jobId: msg.jobId, serverId: msg.serverId, seq: msg.seq, errorName: (err as Error)?.name });
      }
      throw err;
    }
  };
  return async (event) => {
    // One processor per invocation: the local poller runs several invocations in one process.
    const processor = new BatchProcessor(EventType.SQS);
    return processPartialResponse(event, record, processor, { throwOnFullBatchFailure: false });
  };
}
