import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENTRIES } from '../bundling.js';
import { ServiceFunction } from './service-function.js';

/**
 * API Gateway gives up on an integration after 30 s; the function stops a second earlier so its
 * own answer (or Lambda's timeout error) is what the gateway sees.
 */
export const API_TIMEOUT = Duration.seconds(29);

/**
 * One step of one server makes at most one Compute API request of consequence, whose worst case is
 * the client's timeouts: connect 5 s + response headers 30 s + body 15 s = 50 s. Sixty seconds
 * leaves ten for the table and queue writes around it. A step that still runs out (a token fetch
 * and a slow request in one step) is cut off: its claim lapses (CLAIM_LEASE_SECONDS ≥ this), the
 * message comes back after the visibility timeout, and the next worker asks Nova before sending
 * anything again.
 */
export const WORKER_TIMEOUT = Duration.seconds(60);

/** How long a worker's claim on an attempt holds: longer than the worker can run (60 s) plus clock skew. */
export const CLAIM_LEASE_SECONDS = 90;

/** Powertools service names; the functions' metrics carry them as the `service` dimension. */
export const API_SERVICE_NAME = 'rebuild-api';
export const WORKER_SERVICE_NAME = 'rebuild-worker';

export interface ApiFunctionProps {
  table: ITable;
  queue: IQueue;
  /** The job limits and microversion cap (NOVA_MAX_MICROVERSION, MAX_SERVERS_PER_JOB, DEFAULT_*). */
  jobLimits: Record<string, string>;
  /** @default RetentionDays.ONE_MONTH */
  logRetention?: RetentionDays;
  /**
   * A submission validates up to 2,000 servers' bodies (up to 5 MiB of JSON) and writes them in
   * parallel batches: CPU-bound for a second or two. Lambda's CPU grows with memory, and 1 GB
   * halves the time of 512 MB for about the same price per request.
   * @default 1024
   */
  memorySize?: number;
}

/** The HTTP API's function: submits, lists and cancels jobs. */
export class ApiFunction extends ServiceFunction {
  constructor(scope: Construct, id: string, props: ApiFunctionProps) {
    super(scope, id, {
      entry: ENTRIES.api,
      description: 'Bulk rebuild HTTP API: accepts rebuild jobs and reports on them',
      serviceName: API_SERVICE_NAME,
      memorySize: props.memorySize ?? 1024,
      timeout: API_TIMEOUT,
      environment: props.jobLimits,
      ...(props.logRetention !== undefined ? { logRetention: props.logRetention } : {}),
    });
    this.bindTable(props.table);
    this.bindQueue(props.queue, { send: true });
  }
}

export interface WorkerFunctionProps {
  table: ITable;
  queue: IQueue;
  /** The secret with the OpenStack credentials (a JSON object of their variable names). */
  secret: ISecret;
  /** Where Nova is: COMPUTE_URL, or OS_AUTH_URL with OS_INTERFACE, OS_USER_DOMAIN_NAME, OS_REGION_NAME. */
  openStack: Record<string, string>;
  /**
   * Most worker instances at once (the event source's maximum concurrency): each has up to
   * `batchSize` servers' steps in flight against the Compute API.
   */
  maxConcurrency: number;
  /** The queue's receives before a message is dead-lettered: on the last one, a failing step ends its server instead. */
  maxReceiveCount: number;
  /** @default RetentionDays.ONE_MONTH */
  logRetention?: RetentionDays;
  /**
   * The worker waits on the network (Keystone, Nova, DynamoDB, SQS) with ten messages at a time;
   * 512 MB is CPU enough to parse their JSON and cheap for the minutes it waits.
   * @default 512
   */
  memorySize?: number;
}

/** The event source's settings; the local poller (local/stack.ts, LOCAL_POLLER) uses the same. */
export const EVENT_SOURCE = {
  /** Ten messages a batch: SQS's largest receive, one call for ten servers' steps. */
  batchSize: 10,
  /**
   * No wait to fill a batch: every step is a wait the queue already timed (a retry's backoff, a
   * slot freed, the watcher's next look), and a second more on each would be a second more on
   * each server's rebuild. A job's first messages still come ten to a batch: they are all there.
   */
  maxBatchingWindow: Duration.seconds(0),
} as const;

/** The queue's consumer: drives each server's rebuild one step per message. */
export class WorkerFunction extends ServiceFunction {
  constructor(scope: Construct, id: string, props: WorkerFunctionProps) {
    super(scope, id, {
      entry: ENTRIES.worker,
      description: 'Bulk rebuild worker: drives each server rebuild through the Compute API',
      serviceName: WORKER_SERVICE_NAME,
      memorySize: props.memorySize ?? 512,
      timeout: WORKER_TIMEOUT,
      environment: { ...props.openStack, CLAIM_LEASE_SECONDS: String(CLAIM_LEASE_SECONDS), MAX_RECEIVE_COUNT: String(props.maxReceiveCount) },
      // The event source never runs more than maxConcurrency instances; reserving as many means
      // nothing else in the account — the API under a flood of calls, say — can take them away.
      reservedConcurrency: props.maxConcurrency,
      // The worker waits by sending itself delayed messages: one server's retries and follow-ups
      // are a chain of dozens of worker → queue → worker hops, which Lambda's recursive-loop
      // detection would cut after 16 (dropping the server's next step) unless allowed. Runaways
      // are bounded by the job itself: maxAttempts, the deadline, and the claim's fencing token.
      allowRecursiveLoop: true,
      ...(props.logRetention !== undefined ? { logRetention: props.logRetention } : {}),
    });
    if (CLAIM_LEASE_SECONDS < WORKER_TIMEOUT.toSeconds()) throw new Error('CLAIM_LEASE_SECONDS must not be shorter than the worker timeout');
    this.bindTable(props.table);
    // It sends too: every wait is a new delayed message to its own queue.
    this.bindQueue(props.queue, { send: true, consume: true });
    this.bindOpenStackSecret(props.secret);
    this.fn.addEventSource(
      new SqsEventSource(props.queue, {
        ...EVENT_SOURCE,
        maxConcurrency: props.maxConcurrency,
        // One message that fails is retried alone; the rest of its batch is deleted.
        reportBatchItemFailures: true,
      }),
    );
  }
}

/**
 * A sweep reads every live job and asks the cloud about a few servers at a time: minutes at most,
 * so a five-minute timeout with a four-minute budget (the next sweep goes on where this one stopped).
 */
export const SWEEPER_TIMEOUT = Duration.minutes(5);
/** How often the sweeper runs: a stalled server or a passed deadline is acted on within this. */
export const SWEEP_RATE = Duration.minutes(5);
export const SWEEPER_SERVICE_NAME = 'rebuild-sweeper';

export interface SweeperFunctionProps {
  table: ITable;
  queue: IQueue;
  secret: ISecret;
  /** Where Nova is (as for the worker). */
  openStack: Record<string, string>;
  /** @default RetentionDays.ONE_MONTH */
  logRetention?: RetentionDays;
}

/**
 * The sweeper: on a schedule, ends every server that would otherwise wait forever (a job past its
 * deadline, a stopped job's unsent servers, a server whose message was lost), after asking the
 * cloud about those it may have rebuilt. One instance at a time.
 */
export class SweeperFunction extends ServiceFunction {
  constructor(scope: Construct, id: string, props: SweeperFunctionProps) {
    super(scope, id, {
      entry: ENTRIES.sweeper,
      description: 'Bulk rebuild sweeper: ends servers past their job\'s deadline or whose messages were lost; restarts lost watchers',
      serviceName: SWEEPER_SERVICE_NAME,
      memorySize: 512,
      timeout: SWEEPER_TIMEOUT,
      environment: { ...props.openStack },
      reservedConcurrency: 1,
      ...(props.logRetention !== undefined ? { logRetention: props.logRetention } : {}),
    });
    this.bindTable(props.table);
    // It sends one kind of message: a job's watcher, started again when its messages were lost
    // (lib/worker/sweeper.ts); everything else it does in place.
    this.bindQueue(props.queue, { send: true });
    this.bindOpenStackSecret(props.secret);
    new Rule(this, 'Schedule', { schedule: Schedule.rate(SWEEP_RATE), targets: [new LambdaFunction(this.fn, { retryAttempts: 0 })] });
  }
}
