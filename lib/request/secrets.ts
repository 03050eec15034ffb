/**
 * What is secret in a rebuild request, and keeping it out of everything but the queue message:
 * the redacted copy that may be stored and shown, and the scrubber that takes the request's
 * secret values out of any text that comes back from the cloud — Nova's schema 400 quotes the
 * whole request body (recording 04b), its base64 400 quotes the contents (03i) — in every form it
 * may quote them: as sent, as Python's repr writes them, JSON-escaped, base64, decoded, with
 * whitespace collapsed, HTML-escaped.
 */
import type { RebuildRequest } from './rebuild-schema.js';
import { pythonBase64DecodedLength, pythonRepr } from './nova-formats.js';

/** Fields that are secret: never stored, logged or echoed; they travel only in the queue message. */
export const SECRET_FIELDS = ['adminPass', 'personality', 'user_data'] as const;

/** What stands where a secret was. */
export const REDACTED = '***';

/**
 * What may be stored and shown of a rebuild body: secrets replaced by a marker, personality by
 * paths and sizes, user_data by its size.
 */
export function redactRebuild(body: Partial<RebuildRequest>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  if (body.adminPass !== undefined) out.adminPass = REDACTED;
  if (body.personality) {
    out.personality = body.personality.map((f) => ({ path: f.path, contents: REDACTED, bytes: pythonBase64DecodedLength(f.contents) ?? 0 }));
  }
  if (typeof body.user_data === 'string') out.user_data = `${REDACTED} (${pythonBase64DecodedLength(body.user_data) ?? 0} bytes)`;
  return out;
}

/** The secret values of a request: adminPass, every personality file's contents, user_data. */
export function secretValues(body: Partial<RebuildRequest>): string[] {
  const values: string[] = [];
  if (typeof body.adminPass === 'string') values.push(body.adminPass);
  for (const f of body.personality ?? []) values.push(f.contents);
  if (typeof body.user_data === 'string') values.push(body.user_data);
  return values.filter((v) => v !== '');
}

/** Printable single-line text: control characters and runs of whitespace become one space (what fault messages go through). */
export function collapseWhitespace(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\s]+/g, ' ').trim();
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** The decoded text of a base64 value, when it is UTF-8 text (Nova may quote what a file or user_data says). */
function decodedText(value: string): string | undefined {
  if (pythonBase64DecodedLength(value) === undefined) return undefined;
  const bytes = Buffer.from(value.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return text.trim() === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

/** Every form in which a secret value may come back. */
function formsOf(value: string): string[] {
  const base = [value, Buffer.from(value, 'utf8').toString('base64')];
  const decoded = decodedText(value);
  if (decoded !== undefined) base.push(decoded);
  const forms = new Set<string>();
  for (const v of base) {
    for (const f of [v, pythonRepr(v).slice(1, -1), JSON.stringify(v).slice(1, -1), escapeHtml(v)]) {
      forms.add(f);
      forms.add(collapseWhitespace(f));
    }
  }
  forms.delete('');
  return [...forms];
}

/**
 * Takes a request's secret values out of text from the cloud. Build one per request (from the
 * queue message's body) and pass every fault message, server fault and error text through it
 * before it is stored, logged, counted or returned.
 */
export class SecretScrubber {
  /** Longest first, so a form that contains another is replaced whole. */
  private readonly forms: string[];

  constructor(values: readonly string[]) {
    this.forms = [...new Set(values.flatMap(formsOf))].sort((a, b) => b.length - a.length);
  }

  /** A scrubber for a rebuild request's secrets. */
  static forRequest(body: Partial<RebuildRequest>): SecretScrubber {
    return new SecretScrubber(secretValues(body));
  }

  /** The text with every form of every secret replaced by ***. A secret of a character or two garbles the text but never leaks. */
  scrub(text: string): string {
    let out = text;
    for (const f of this.forms) if (out.includes(f)) out = out.split(f).join(REDACTED);
    return out;
  }
}
