import { Duration } from 'aws-cdk-lib';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULT_MAX_RECEIVE_COUNT } from '../../lib/settings.js';

export interface RebuildQueueProps {
  /** The timeout of the function that consumes the queue; the visibility timeout is derived from it. */
  consumerTimeout: Duration;
  /**
   * Receives of one message before it is moved to the dead-letter queue.
   * @default 5
   */
  maxReceiveCount?: number;
}

/** AWS's advice for Lambda event sources: visibility at least six times the function's timeout. */
export const VISIBILITY_PER_CONSUMER_TIMEOUT = 6;

/**
 * The rebuild queue (one message per server step) and its dead-letter queue.
 *
 * Messages carry the rebuild's secrets (`adminPass`, personality, `user_data`): they are the only
 * place those live, so both queues are encrypted (SSE-SQS) and refuse anything but TLS.
 */
export class RebuildQueue extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  /** Receives of one message before it is dead-lettered; the worker is told the same number. */
  readonly maxReceiveCount: number;

  constructor(scope: Construct, id: string, props: RebuildQueueProps) {
    super(scope, id);
    this.maxReceiveCount = props.maxReceiveCount ?? DEFAULT_MAX_RECEIVE_COUNT;
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // SQS's longest: two weeks to notice the alarm, look at the message and redrive it.
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // While Lambda retries a batch that failed or was throttled, its messages must stay
      // invisible, or SQS hands them to another worker at the same time; AWS's rule for Lambda
      // event sources is six times the function's timeout (with the 60 s worker: 6 minutes).
      visibilityTimeout: Duration.seconds(props.consumerTimeout.toSeconds() * VISIBILITY_PER_CONSUMER_TIMEOUT),
      // A step waits at most 900 s per message (longer waits chain messages), and a job's deadline
      // is at most 24 h: four days (SQS's default) is room for an outage of the worker.
      retentionPeriod: Duration.days(4),
      deadLetterQueue: {
        queue: this.deadLetterQueue,
        // This cannot use up a server's retry budget: the worker waits for Nova by sending a NEW
        // delayed message and acknowledging the old one, never by failing a message. A message is
        // received again only when a worker crashed or timed out on it, or a step had to be left
        // for later (a claim still held by another worker); five such receives mean the message
        // itself is the problem (a poison message), and it goes to the dead-letter queue.
        maxReceiveCount: this.maxReceiveCount,
      },
    });
  }
}
