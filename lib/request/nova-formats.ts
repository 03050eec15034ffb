/**
 * Nova's own rules, in one place for the service and the Compute API simulator (local/sim) alike:
 * the two formats its validator is lenient about (what one accepts, the other accepts), and how
 * its messages quote a string (Python's repr).
 */

/**
 * Nova's `uuid` format, oslo_utils `is_uuid_like`: `urn:` and `uuid:` removed wherever they stand,
 * braces stripped from both ends (not from the middle: `70a599e0{31e7-…` is no UUID), hyphens
 * removed, case ignored. Returns the canonical lower-case hyphenated form, or undefined.
 */
export function canonicalUuid(value: string): string | undefined {
  const hex = value
    .replaceAll('urn:', '')
    .replaceAll('uuid:', '')
    .replace(/^[{}]+|[{}]+$/g, '')
    .replaceAll('-', '')
    .toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return undefined;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** True for A–Z, a–z, 0–9, '+' and '/', by character code (this runs over every byte of every file). */
function isBase64Char(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47;
}

/**
 * Nova's `base64` format, CPython's non-strict `base64.decodebytes`: characters outside the
 * alphabet are skipped (the seed's own example has spaces inside its contents, 07a), data ends at
 * complete padding, and a dangling partial quantum is an error ("Incorrect padding", 03i).
 * Returns the decoded length, or undefined when Python would raise.
 */
export function pythonBase64DecodedLength(value: string): number | undefined {
  let quad = 0;
  let pads = 0;
  let dataChars = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 61 /* = */) {
      if (quad >= 2 && quad + ++pads >= 4) {
        return ((dataChars - quad) / 4) * 3 + (quad - 1);
      }
      continue;
    }
    if (!isBase64Char(c)) continue;
    dataChars++;
    quad = (quad + 1) % 4;
    pads = 0;
  }
  return quad === 0 ? (dataChars / 4) * 3 : undefined;
}

// Python's str.isprintable: false for categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs other than the space.
const PY_NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** CPython's `repr(s)` of a str, quotes included: how Nova's messages quote a value inside a dict or list. */
export function pythonRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c < 0x7f || ch === ' ' || !PY_NOT_PRINTABLE.test(ch)) out += ch;
    else if (c <= 0xff) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c <= 0xffff) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += `\\U${c.toString(16).padStart(8, '0')}`;
  }
  return out + quote;
}
