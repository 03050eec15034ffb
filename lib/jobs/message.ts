/**
 * The queue messages: one per server, and one chain per job for its watcher (worker/watch.ts).
 * They are the only place the secrets of a request (adminPass, personality contents, user_data)
 * travel: a server's message carries its whole rebuild body, validated with the same rebuild schema
 * when the worker consumes it; the watcher's carries the job's shared secrets, only to take them out
 * of the cloud's text.
 */
import * as z from 'zod';
import { parseMicroversion } from '../request/microversion.js';
import { rebuildSchemaFor, type RebuildRequest } from '../request/rebuild-schema.js';

export const MESSAGE_VERSION = 1;

const envelope = z.strictObject({
  v: z.literal(MESSAGE_VERSION),
  jobId: z.uuid(),
  tenantId: z.string().min(1).max(255),
  // Any 32 hex digits, as Nova's uuid format takes them (z.uuid() would refuse ids that are not RFC 4122 versions).
  serverId: z.guid(),
  microversion: z.string(),
  maxAttempts: z.number().int().min(1),
  deadline: z.iso.datetime(),
  rebuild: z.record(z.string(), z.unknown()),
  /** The server record's `seq` this message was sent for: see ServerRecord.seq. */
  seq: z.number().int().min(0),
  /** What the message asks for: an attempt (or its check), or a follow-up of an accepted rebuild. */
  phase: z.enum(['attempt', 'follow']),
  /** Not to be acted on before this time: for waits longer than SQS's 900 s delay. */
  notBefore: z.iso.datetime().optional(),
});

export type RebuildMessage = Omit<z.infer<typeof envelope>, 'rebuild'> & { rebuild: RebuildRequest };

/** The secret fields of a rebuild body, as the watcher's message carries them (request/secrets.ts SECRET_FIELDS). */
const secrets = z.strictObject({
  adminPass: z.string().optional(),
  personality: z.array(z.strictObject({ path: z.string(), contents: z.string() })).optional(),
  user_data: z.string().nullable().optional(),
});

const watchEnvelope = z.strictObject({
  v: z.literal(MESSAGE_VERSION),
  kind: z.literal('watch'),
  jobId: z.uuid(),
  tenantId: z.string().min(1).max(255),
  microversion: z.string(),
  deadline: z.iso.datetime(),
  /** The watcher's generation and tick this message was sent for: see WatchState. */
  gen: z.number().int().min(1),
  tick: z.number().int().min(0),
  /**
   * The job's shared secret values, to scrub the cloud's text with. Absent when the watcher was
   * started by the sweeper (which never holds secrets) or from a server whose own secrets differ:
   * the cloud's text about a server of a job with secrets is then withheld, never shown unscrubbed.
   */
  secrets: secrets.optional(),
});

export type WatchMessage = z.infer<typeof watchEnvelope>;
export type QueueMessage = RebuildMessage | WatchMessage;

export function isWatchMessage(m: QueueMessage): m is WatchMessage {
  return 'kind' in m && m.kind === 'watch';
}

/** Parses a message body; throws a ZodError or SyntaxError when it is not one of ours. */
export function parseQueueMessage(body: string): QueueMessage {
  const json: unknown = JSON.parse(body);
  if (json && typeof json === 'object' && (json as { kind?: unknown }).kind === 'watch') return watchEnvelope.parse(json);
  const raw = envelope.parse(json);
  const rebuild = rebuildSchemaFor(parseMicroversion(raw.microversion)).full.parse(raw.rebuild);
  return { ...raw, rebuild };
}

/** Parses a server's message; throws when the body is anything else. */
export function parseRebuildMessage(body: string): RebuildMessage {
  const m = parseQueueMessage(body);
  if (isWatchMessage(m)) throw new TypeError('a watcher message, not a server message');
  return m;
}
