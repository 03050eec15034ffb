/**
 * The notifier's two outlets in the cloud: job status events on an EventBridge bus and ended jobs'
 * reports in an S3 bucket. The only files that import the EventBridge and S3 SDKs.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { EVENT_SOURCE, type EventSink, type JobStatusEvent, type ReportArchive, STATUS_CHANGE } from '../jobs/events.js';

/** Publishes each event as one entry; a failed entry (EventBridge's partial failure) is an error, so the change is told again. */
export class EventBridgeSink implements EventSink {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async publish(event: JobStatusEvent): Promise<void> {
    const out = await this.client.send(
      new PutEventsCommand({
        Entries: [{ Source: EVENT_SOURCE, DetailType: STATUS_CHANGE, Detail: JSON.stringify(event), EventBusName: this.busName, Time: new Date(event.at) }],
      }),
    );
    if (out.FailedEntryCount) {
      const failed = out.Entries?.find((e) => e.ErrorCode);
      throw new Error(`EventBridge refused the event: ${failed?.ErrorCode ?? 'unknown'} ${failed?.ErrorMessage ?? ''}`.trim());
    }
  }
}

/** Puts each report as one object; the bucket's default encryption and lifecycle apply. */
export class S3ReportArchive implements ReportArchive {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async put(key: string, body: string, contentType: string): Promise<string> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }));
    return `s3://${this.bucket}/${key}`;
  }
}

export function createEventBridgeClient(): EventBridgeClient {
  return new EventBridgeClient({});
}

export function createS3Client(): S3Client {
  return new S3Client({});
}
