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

function dumpsString(s: string): string {
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
  if (Array.isArray(value)) return `[${value.map((v) => pyDumps(v)).join(', ')}]`;
  const items = Object.entries(value).map(([k, v]) => `${dumpsString(k)}: ${pyDumps(v)}`);
  return `{${items.join(', ')}}`;
}

/**
 * Python's `re.search` treats `$` as "end, or just before a final newline"; JavaScript's `$`
 * (without the m flag) is only the end. Retrying without the final newline closes that gap.
 */
export function pySearch(regex: RegExp, s: string): boolean {
  if (regex.test(s)) return true;
  return s.endsWith('\n') && regex.test(s.slice(0, -1));
}
