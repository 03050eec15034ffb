/**
 * Nova and Keystone are Python: their messages embed `repr()` of the offending value and their
 * bodies are `json.dumps()` output. These helpers reproduce both so the simulator's bytes match
 * the recordings (e.g. `Value: {'imageRef': '...', 'flavorRef': '1'}` in 03j).
 */
import { pythonRepr } from '../../lib/request/nova-formats.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** True for a plain JSON object (a Python dict after `json.loads`). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `repr(s)` of a Python str (the service's own rule, lib/request/nova-formats.ts). */
export const pyReprString = pythonRepr;

/** `repr(value)` of what Python's `json.loads` would have produced. */
export function pyRepr(value: JsonValue): string {
  if (value === null) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  // JSON.parse cannot tell 1 from 1.0; both print like Python's int 1 (a known, harmless deviation).
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return pyReprString(value);
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  const items = Object.entries(value).map(([k, v]) => `${pyReprString(k)}: ${pyRepr(v)}`);
  return `{${items.join(', ')}}`;
}

/** `str(value)`: like repr, except a str prints bare (Nova's "Value: %(value)s"). */
export function pyStr(value: JsonValue): string {
  return typeof value === 'string' ? value : pyRepr(value);
}

/** Printable ASCII without a quote or backslash: json.dumps writes it as it is. */
const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function dumpsString(s: string): string {
  // The common case (ids, names, timestamps, links), without the per-character walk: lists of
  // thousands of servers are mostly such strings.
  if (PLAIN_ASCII.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    const ch = s[i] ?? '';
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    // ensure_ascii=True: everything outside ' '..'~' as \uXXXX (UTF-16 units, like Python).
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out + '"';
}

/** `json.dumps(value)` with Python's default separators (", " and ": ") and ensure_ascii. */
export function pyDumps(value: JsonValue | undefined): string {
  if (value === undefined || value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (typeof value === 'string') return dumpsString(value);
  // Plain loops and concatenation: a detailed list of a thousand servers is dumped every few seconds.
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ', ') + pyDumps(value[i]);
    return out + ']';
  }
  let out = '{';
  let first = true;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    out += (first ? '' : ', ') + dumpsString(key) + ': ' + pyDumps(value[key]);
    first = false;
  }
  return out + '}';
}

/**
 * Python's `re.search` treats `$` as "end, or just before a final newline"; JavaScript's `$`
 * (without the m flag) is only the end. Retrying without the final newline closes that gap.
 */
export function pySearch(regex: RegExp, s: string): boolean {
  if (regex.test(s)) return true;
  return s.endsWith('\n') && regex.test(s.slice(0, -1));
}
