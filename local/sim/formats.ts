/**
 * The `format` checkers Nova's validator runs (nova/api/validation/validators.py, jsonschema 4.10
 * as packaged for Zed), reproduced down to their leniencies: the UUID check ignores case, hyphens,
 * braces and a `urn:uuid:` prefix; the base64 check is `base64.decodebytes`, which skips characters
 * outside the alphabet (07a: the seed's contents with spaces are accepted); the ipv4/ipv6 checks
 * are Python's `ipaddress` module. The uuid and base64 rules are the service's own
 * (lib/request/nova-formats.ts), so the two cannot disagree.
 */
import { canonicalUuid, pythonBase64DecodedLength } from '../../lib/request/nova-formats.js';

/** oslo_utils.uuidutils.is_uuid_like. */
export function isUuidLike(value: unknown): boolean {
  return typeof value === 'string' && canonicalUuid(value) !== undefined;
}

/** Nova's base64 format check; a value that is not a string counts as valid (`type` reports it). */
export function isPythonBase64(value: unknown): boolean {
  return typeof value !== 'string' || pythonBase64DecodedLength(value) !== undefined;
}


/** ipaddress.IPv4Address: four ASCII decimal octets, each ≤ 255 and without leading zeros. */
export function isPythonIPv4(value: unknown): boolean {
  if (typeof value !== 'string') return true; // jsonschema's checker ignores non-strings
  return parseIPv4(value) !== null;
}

function parseIPv4(s: string): number | null {
  const octets = s.split('.');
  if (octets.length !== 4) return null;
  let result = 0;
  for (const octet of octets) {
    if (!/^[0-9]{1,3}$/.test(octet)) return null;
    if (octet.length > 1 && octet.startsWith('0')) return null;
    const n = Number(octet);
    if (n > 255) return null;
    result = result * 256 + n;
  }
  return result;
}

/** ipaddress.IPv6Address, then jsonschema 4.10's refusal of a scope id (`fe80::1%eth0`). */
export function isPythonIPv6(value: unknown): boolean {
  if (typeof value !== 'string') return true;
  if (value.includes('%')) return false;
  const parts = value.split(':');
  if (parts.length < 3) return false;
  const last = parts[parts.length - 1] ?? '';
  if (last.includes('.')) {
    const v4 = parseIPv4(last);
    if (v4 === null) return false;
    parts.pop();
    parts.push(Math.floor(v4 / 65536).toString(16), (v4 % 65536).toString(16));
  }
  if (parts.length > 9) return false;
  let skipIndex: number | null = null;
  for (let i = 1; i < parts.length - 1; i++) {
    if (parts[i] === '') {
      if (skipIndex !== null) return false;
      skipIndex = i;
    }
  }
  if (skipIndex !== null) {
    let hi = skipIndex;
    let lo = parts.length - skipIndex - 1;
    if (parts[0] === '') {
      hi -= 1;
      if (hi) return false;
    }
    if (parts[parts.length - 1] === '') {
      lo -= 1;
      if (lo) return false;
    }
    if (8 - (hi + lo) < 1) return false;
    return parts.every((p, i) => (p === '' && (i === 0 || i === skipIndex || i === parts.length - 1)) || isHextet(p));
  }
  if (parts.length !== 8) return false;
  return parts.every(isHextet);
}

function isHextet(p: string): boolean {
  return /^[0-9a-fA-F]{1,4}$/.test(p);
}

// Nova's "printable": not Unicode category C*, and Z* only as Zs; only the BMP below U+FFFF exists
// in its generated character ranges.
const PRINTABLE = /^[^\p{C}\p{Zl}\p{Zp}]$/u;
const SPACE_OR_UNPRINTABLE = /^[\p{C}\p{Z}]$/u;

function isNovaPrintable(ch: string): boolean {
  const code = ch.codePointAt(0) ?? 0;
  return code < 0xffff && PRINTABLE.test(ch);
}

function isEdgeForbidden(ch: string): boolean {
  const code = ch.codePointAt(0) ?? 0;
  return code >= 0xffff || SPACE_OR_UNPRINTABLE.test(ch);
}

/**
 * parameter_types.valid_name_regex, `^(?![ws])[printable]*(?<![ws])$` with Python's `$`.
 * Returns the reason Nova's InvalidName carries, or null when the name is valid.
 */
export function checkNovaName(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const matches = (s: string): boolean => {
    const chars = [...s];
    if (chars.length === 0) return true;
    if (!chars.every(isNovaPrintable)) return false;
    return !isEdgeForbidden(chars[0] ?? '') && !isEdgeForbidden(chars[chars.length - 1] ?? '');
  };
  if (matches(value) || (value.endsWith('\n') && matches(value.slice(0, -1)))) return null;
  return 'printable characters. Can not start or end with whitespace.';
}

/** parameter_types.valid_description_regex, `^[printable]*$`. */
export const descriptionPattern = {
  source: '^[<printable characters>]*$',
  test: (s: string): boolean =>
    [...s].every(isNovaPrintable) || (s.endsWith('\n') && [...s.slice(0, -1)].every(isNovaPrintable)),
};
