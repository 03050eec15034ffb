/**
 * The queue message: one per server. It is the only place the secrets of a request (adminPass,
 * personality contents, user_data) travel, and it is validated with the same rebuild schema when
 * the worker consumes it.
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

/** Parses a message body; throws a ZodError or SyntaxError when it is not one of ours. */
export function parseRebuildMessage(body: string): RebuildMessage {
  const raw = envelope.parse(JSON.parse(body));
  const rebuild = rebuildSchemaFor(parseMicroversion(raw.microversion)).full.parse(raw.rebuild);
  return { ...raw, rebuild };
}
