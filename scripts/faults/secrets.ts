/**
 * Recognisable secrets for a scenario's requests, a logger whose every line is kept, and the
 * places a secret must never reach: the table, the logs, the API's answers.
 */
import { randomBytes } from 'node:crypto';
import { type AttributeValue, DynamoDBClient, ScanCommand, type ScanCommandOutput } from '@aws-sdk/client-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import type { LocalStack } from '../../local/stack.js';
import { LOCAL_TABLE } from '../../local/stack.js';

/** What a scenario puts in its requests, and the strings that must appear nowhere but the queue. */
export interface Secrets {
  adminPass: string;
  /** One injected file; `contents` is base64 of bytes that begin with `fileMarker`. */
  personality: { path: string; contents: string }[];
  /** Every string whose presence means a leak. */
  needles: string[];
}

/** Fresh secrets: adminPass `FAULT-SECRET-<hex>`, and a personality file whose decoded text starts with `FAULT-FILE-<hex>`. */
export function newSecrets(): Secrets {
  const tag = randomBytes(6).toString('hex');
  const adminPass = `FAULT-SECRET-${tag}`;
  // 24 characters: a multiple of 3, so the marker's base64 is a prefix of the contents' base64.
  const fileMarker = `FAULT-FILE-${tag}-`.padEnd(24, 'X');
  const contents = Buffer.from(`${fileMarker}\nsecret-config=1\n`).toString('base64');
  const markerB64 = Buffer.from(fileMarker).toString('base64');
  return {
    adminPass,
    personality: [{ path: '/etc/fault-marker.conf', contents }],
    needles: [adminPass, `FAULT-SECRET-`, fileMarker, contents, markerB64],
  };
}

/** Where each needle was found in `text`, as short excerpts without the secret itself. */
export function findLeaks(text: string, needles: string[]): string[] {
  const out: string[] = [];
  for (const n of needles) {
    const at = text.indexOf(n);
    if (at >= 0) out.push(`"${n.slice(0, 14)}…" at ${at}: …${text.slice(Math.max(0, at - 80), at).replace(/\s+/g, ' ')}[SECRET]…`);
  }
  return out;
}

/** A Powertools Logger at DEBUG (the widest net) whose lines are kept in `lines`; the API and the in-process worker both log through it. */
export function capturingLogger(serviceName: string): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = new Logger({ serviceName, logLevel: 'DEBUG' });
  const sink = (...a: unknown[]) => {
    lines.push(a.map(String).join(' '));
  };
  (logger as unknown as { console: object }).console = { log: sink, info: sink, warn: sink, error: sink, debug: sink, trace: sink };
  return { logger, lines };
}

/** Every item of the table, as JSON text. */
export async function scanTable(stack: LocalStack): Promise<{ items: number; text: string }> {
  const ddb = new DynamoDBClient({ region: stack.aws.region, credentials: stack.aws.credentials, endpoint: stack.aws.dynamoEndpoint });
  try {
    const items: Record<string, AttributeValue>[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out: ScanCommandOutput = await ddb.send(new ScanCommand({ TableName: LOCAL_TABLE, ...(start ? { ExclusiveStartKey: start } : {}) }));
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return { items: items.length, text: JSON.stringify(items) };
  } finally {
    ddb.destroy();
  }
}
