/**
 * Lambda entry of the notifier, run by the jobs table's stream (job items only, by the event
 * source's filter): an EventBridge event on every job status change, and the report in S3 when a
 * job ends (lib/jobs/events.ts). A change that could not be told is retried from that record on,
 * the ones before it are not told again.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { tellRecords } from '../lib/aws/job-stream.js';
import { notifierParts } from './wiring.js';

const logger = new Logger({ serviceName: 'rebuild-notifier' });
const deps = notifierParts(process.env);

export const handler = middy(async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
  const { told, failedAt } = await tellRecords(event.Records, deps, (err) =>
    logger.error('a job change could not be told; it is retried', { errorName: (err as Error)?.name, errorMessage: (err as Error)?.message }),
  );
  for (const e of told) logger.info('job status', { jobId: e.jobId, tenantId: e.tenantId, from: e.from, to: e.to, ...(e.report ? { report: e.report } : {}) });
  return { batchItemFailures: failedAt !== undefined ? [{ itemIdentifier: failedAt }] : [] };
}).use(injectLambdaContext(logger, { resetKeys: true }));
