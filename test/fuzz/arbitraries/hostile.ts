/**
 * Hostile inputs: random and schema-shaped JSON, deep nesting, huge strings and collections,
 * bytes that are not UTF-8, truncated JSON, oversized bodies — each with what the service must
 * answer, where that is knowable without asking it.
 */
import fc from 'fast-check';
import { SECRET_MARK } from '../harness.js';
import { type Body, TIMELESS_FIELDS, bulkRequestArb, canonicalUuid, singleRequestArb } from './rebuild.js';
import { type RawRequest, rawOf } from './requests.js';

const UUID = '70a599e0-31e7-49b7-b260-868f441e862b';
export const TENANT = 'tenant-a';
export const SINGLE_PATH = `/v2/${TENANT}/servers/${UUID}/action`;
export const BULK_PATH = `/v2/${TENANT}/rebuild-jobs`;
const JSON_TYPE = { 'Content-Type': 'application/json' };

/** A small valid request (fields every microversion takes), seed call or bulk job. */
export const smallValidArb = fc.oneof(singleRequestArb(TIMELESS_FIELDS), bulkRequestArb(3, TIMELESS_FIELDS));

// ---------------------------------------------------------------------------------------------
// Random JSON

const VOCABULARY = [
  'rebuild', 'rebuildJob', 'servers', 'options', 'id', 'imageRef', 'name', 'adminPass', 'metadata', 'personality', 'path',
  'contents', 'preserve_ephemeral', 'OS-DCF:diskConfig', 'accessIPv4', 'accessIPv6', 'description', 'key_name', 'user_data',
  'trusted_image_certificates', 'hostname', 'microversion', 'maxAttempts', 'deadlineSeconds', 'maxFailurePercentage', 'maxInFlight',
];

const leafArb: fc.Arbitrary<unknown> = fc.oneof(
  canonicalUuid,
  fc.constantFrom('AUTO', 'MANUAL', 'true', 'yes', '2.1', '2.57', '2.96', 'latest', '1.2.3.4', '::1', 'aGk=', 'web-1', '', ' ', UUID.toUpperCase()),
  fc.constantFrom(0, 1, -1, 60, 100, 1.5, 86_400, 1e300, -0, null, true, false),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.double(),
);

/** JSON built from the schema's own words, so that it reaches past the first check (and sometimes is valid). */
export const schemaShapedArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; object: Record<string, unknown>; array: unknown[] }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leafArb, tie('object'), tie('array')),
  object: fc.dictionary(fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...VOCABULARY) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }), tie('value'), { maxKeys: 5, noNullPrototype: true }),
  array: fc.array(tie('value'), { maxLength: 4 }),
})).value;

/** Any JSON value at all. */
export const anyJsonArb: fc.Arbitrary<unknown> = fc.oneof(fc.jsonValue({ maxDepth: 6 }), schemaShapedArb);

export function jsonRequest(path: string, body: unknown): RawRequest {
  return { method: 'POST', path, headers: JSON_TYPE, body: JSON.stringify(body) ?? 'undefined' };
}

// ---------------------------------------------------------------------------------------------
// Deep nesting

/** A value nested `depth` levels deep (text, built without recursion). */
export function nested(depth: number, shape: 'array' | 'object' | 'mixed', inner: string): string {
  const open = shape === 'array' ? '[' : shape === 'object' ? '{"a":' : '[{"a":';
  const close = shape === 'array' ? ']' : shape === 'object' ? '}' : '}]';
  return open.repeat(depth) + inner + close.repeat(depth);
}

/** Where a deep value is put: every place is one no valid request has a nested value in. */
const DEEP_PLACES: [string, 'single' | 'bulk', (deep: string) => string][] = [
  ['the body', 'single', (d) => d],
  ['the body', 'bulk', (d) => d],
  ['rebuild', 'single', (d) => `{"rebuild":${d}}`],
  ['rebuild.name', 'single', (d) => `{"rebuild":{"imageRef":"${UUID}","name":${d}}}`],
  ['rebuild.imageRef', 'single', (d) => `{"rebuild":{"imageRef":${d}}}`],
  ['rebuild.adminPass', 'single', (d) => `{"rebuild":{"imageRef":"${UUID}","adminPass":${d}}}`],
  ['rebuild.metadata value', 'single', (d) => `{"rebuild":{"imageRef":"${UUID}","metadata":{"k":${d}}}}`],
  ['rebuild.personality', 'single', (d) => `{"rebuild":{"imageRef":"${UUID}","personality":[${d}]}}`],
  ['an unknown key', 'single', (d) => `{"rebuild":{"imageRef":"${UUID}","deep":${d}}}`],
  ['rebuildJob', 'bulk', (d) => `{"rebuildJob":${d}}`],
  ['servers', 'bulk', (d) => `{"rebuildJob":{"servers":${d}}}`],
  ['a server', 'bulk', (d) => `{"rebuildJob":{"servers":[${d}]}}`],
  ['a server id', 'bulk', (d) => `{"rebuildJob":{"servers":[{"id":${d}}]}}`],
  ['options', 'bulk', (d) => `{"rebuildJob":{"servers":[{"id":"${UUID}"}],"rebuild":{"imageRef":"${UUID}"},"options":${d}}}`],
  ['shared metadata', 'bulk', (d) => `{"rebuildJob":{"rebuild":{"imageRef":"${UUID}","metadata":{"k":${d}}},"servers":[{"id":"${UUID}"}]}}`],
];

export const deepArb: fc.Arbitrary<{ request: RawRequest; what: string }> = fc
  .record({
    depth: fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 3000, max: 33_000 }), fc.constantFrom(16, 17, 1000, 5000, 10_000, 32_000)),
    shape: fc.constantFrom('array' as const, 'object' as const, 'mixed' as const),
    inner: fc.constantFrom('1', '"x"', 'null', '', '{}', '[]'),
    place: fc.constantFrom(...DEEP_PLACES),
  })
  .map(({ depth, shape, inner, place: [where, kind, wrap] }) => {
    // An empty innermost value is only well-formed inside an array.
    const innermost = inner === '' && shape !== 'array' ? '1' : inner;
    return {
      request: { method: 'POST', path: kind === 'single' ? SINGLE_PATH : BULK_PATH, headers: JSON_TYPE, body: wrap(nested(depth, shape, innermost)) },
      what: `${shape} ${depth} deep in ${where}`,
    };
  });

// ---------------------------------------------------------------------------------------------
// Huge strings and collections

/** A long string: one character repeated, a pattern repeated, or brackets (depth as a string). */
function hugeString(length: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom('x', 'é', '\u{1f600}', ' ', '\u0000', '"', '\\').map((c) => c.repeat(length)),
    // At least `length` code points, whatever the pattern's characters.
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 }).map((p) => [...p.repeat(length)].slice(0, length).join('')),
    fc.constant('['.repeat(length)),
  );
}

export interface Sized {
  request: RawRequest;
  /** The status when the body is within the limit. */
  status: number;
  what: string;
}

const lengthArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 256, max: 4096 }) },
  { weight: 1, arbitrary: fc.integer({ min: 4096, max: 70_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(256, 10_000, 65_000, 65_536, 70_000) },
);

/** A huge value where the schema bounds it (400), where it does not (adminPass: 202), or past the body limit (413). */
export const hugeArb: fc.Arbitrary<Sized> = fc.oneof(
  fc.tuple(lengthArb, fc.constantFrom('name', 'description', 'metadata value', 'metadata key', 'imageRef', 'unknown key', 'hostname', 'key_name', 'accessIPv6')).chain(([n, field]) =>
    hugeString(n).map((s): Sized => {
      const rebuild: Body = { imageRef: UUID };
      const headers: Record<string, string> = { ...JSON_TYPE };
      if (field === 'name' || field === 'accessIPv6') rebuild[field] = s;
      if (field === 'imageRef') rebuild.imageRef = s;
      if (field === 'metadata value') rebuild.metadata = { k: s };
      if (field === 'metadata key') rebuild.metadata = { [s]: 'v' };
      if (field === 'unknown key') rebuild[s] = 1;
      if (field === 'description' || field === 'key_name' || field === 'hostname') {
        rebuild[field] = s;
        headers['X-OpenStack-Nova-API-Version'] = '2.96';
      }
      return { request: { method: 'POST', path: SINGLE_PATH, headers, body: JSON.stringify({ rebuild }) }, status: 400, what: `${n}-character ${field}` };
    }),
  ),
  fc.tuple(lengthArb, fc.constantFrom('x', 'é', '\u{1f600}')).map(([n, c]): Sized => ({
    request: jsonRequest(SINGLE_PATH, { rebuild: { imageRef: UUID, adminPass: `${SECRET_MARK}:${c.repeat(n)}` } }),
    status: 202,
    what: `${n}-character adminPass`,
  })),
  fc.tuple(lengthArb, fc.constantFrom('tenant', 'server id')).chain(([n, where]) =>
    hugeString(n).map((s): Sized => {
      const seg = encodeURIComponent(s);
      const path = where === 'tenant' ? `/v2/${seg}/servers/${UUID}/action` : `/v2/${TENANT}/servers/${seg}/action`;
      return { request: { method: 'POST', path, headers: JSON_TYPE, body: JSON.stringify({ rebuild: { imageRef: UUID } }) }, status: 400, what: `${n}-character ${where} in the path` };
    }),
  ),
  fc.integer({ min: 129, max: 6000 }).map((n): Sized => ({
    request: jsonRequest(SINGLE_PATH, { rebuild: { imageRef: UUID, metadata: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v'])) } }),
    status: 403,
    what: `${n} metadata items`,
  })),
  fc.integer({ min: 51, max: 6000 }).map((n): Sized => ({
    request: {
      method: 'POST',
      path: SINGLE_PATH,
      headers: { ...JSON_TYPE, 'X-OpenStack-Nova-API-Version': '2.63' },
      body: JSON.stringify({ rebuild: { imageRef: UUID, trusted_image_certificates: Array.from({ length: n }, (_, i) => `c${i}`) } }),
    },
    status: 400,
    what: `${n} trusted certificates`,
  })),
  fc.integer({ min: 41, max: 3000 }).map((n): Sized => ({
    request: jsonRequest(BULK_PATH, { rebuildJob: { rebuild: { imageRef: UUID }, servers: Array.from({ length: n }, (_, i) => ({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` })) } }),
    status: 413,
    what: `${n} servers`,
  })),
  fc.integer({ min: 2, max: 3000 }).map((n): Sized => ({
    request: jsonRequest(BULK_PATH, { rebuildJob: { rebuild: { imageRef: UUID }, servers: Array.from({ length: n }, () => ({ id: UUID })) } }),
    status: n > 40 ? 413 : 400,
    what: `one server listed ${n} times`,
  })),
  fc.tuple(lengthArb, fc.constantFrom('Idempotency-Key', 'X-OpenStack-Nova-API-Version', 'OpenStack-API-Version')).chain(([n, name]) =>
    hugeString(n)
      .filter((s) => s.trim().toLowerCase() !== 'latest')
      .map((s): Sized => ({
        // In OpenStack-API-Version whitespace and commas separate; a version is one token.
        request: { method: 'POST', path: SINGLE_PATH, headers: { ...JSON_TYPE, [name]: name === 'OpenStack-API-Version' ? `compute ${s.replace(/[\s,]/g, 'x')}` : s }, body: JSON.stringify({ rebuild: { imageRef: UUID } }) },
        status: 400,
        what: `${n}-character ${name}`,
      })),
  ),
);

// ---------------------------------------------------------------------------------------------
// Bytes that are not UTF-8

/** Sequences no UTF-8 text contains, wherever they are put. */
const INVALID_UTF8: number[][] = [
  [0xff],
  [0xfe],
  [0xc0, 0x80],
  [0xc1, 0xbf],
  [0x80],
  [0xbf],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xef, 0xbf],
];

/** A valid body's bytes with an invalid UTF-8 sequence inserted anywhere. */
export const notUtf8Arb: fc.Arbitrary<{ request: RawRequest; what: string }> = fc.oneof(
  fc.tuple(smallValidArb, fc.constantFrom(...INVALID_UTF8), fc.nat(), fc.integer({ min: 1, max: 3 })).map(([req, seq, at, times]) => {
    const bytes = Buffer.from(JSON.stringify(req.body), 'utf8');
    const i = at % (bytes.length + 1);
    const bad = Buffer.from(Array.from({ length: times }, () => seq).flat());
    return {
      request: { ...rawOf(req), body: Buffer.concat([bytes.subarray(0, i), bad, bytes.subarray(i)]) },
      what: `${bad.toString('hex')} at byte ${i}`,
    };
  }),
  fc.uint8Array({ minLength: 1, maxLength: 2000 }).filter((b) => !isUtf8(b)).map((b) => ({
    request: { method: 'POST', path: SINGLE_PATH, headers: JSON_TYPE, body: Buffer.from(b) },
    what: `${b.length} random bytes`,
  })),
  // UTF-16 with its byte order mark: what a Windows client might send.
  smallValidArb.map((req) => ({
    request: { ...rawOf(req), body: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(JSON.stringify(req.body), 'utf16le')]) },
    what: 'UTF-16LE with a BOM',
  })),
);

/** Where `ch` first stands outside a string in JSON text; -1 if it never does. */
function structuralIndex(text: string, ch: string): number {
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === ch) return i;
    if (c === '"') inString = true;
  }
  return -1;
}

function isUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Malformed JSON

/** A valid body cut short (as text or as bytes, possibly inside a character), or with something after it. */
export const malformedJsonArb: fc.Arbitrary<{ request: RawRequest; what: string }> = fc.oneof(
  fc.tuple(smallValidArb, fc.nat(), fc.boolean()).map(([req, at, asBytes]) => {
    const text = JSON.stringify(req.body);
    const bytes = Buffer.from(text, 'utf8');
    const cut = at % (asBytes ? bytes.length : text.length);
    return {
      request: { ...rawOf(req), body: asBytes ? bytes.subarray(0, cut) : text.slice(0, cut) },
      what: `cut at ${asBytes ? 'byte' : 'character'} ${cut} of ${asBytes ? bytes.length : text.length}`,
    };
  }),
  fc.tuple(smallValidArb, fc.constantFrom('x', '}', ',', '{}', ']', '"', 'null', '\u0000', '/* */', '// c')).map(([req, tail]) => ({
    request: { ...rawOf(req), body: JSON.stringify(req.body) + tail },
    what: `followed by ${JSON.stringify(tail)}`,
  })),
  fc
    .tuple(smallValidArb, fc.constantFrom<[string, string]>(['"', "'"], [':', '='], [',', ',,'], ['{', '{{'], ['}', '']))
    .map(([req, [from, to]]) => ({ text: JSON.stringify(req.body), req, from, to }))
    .filter(({ text, from }) => structuralIndex(text, from) >= 0)
    .map(({ text, req, from, to }) => {
      const i = structuralIndex(text, from);
      return { request: { ...rawOf(req), body: text.slice(0, i) + to + text.slice(i + 1) }, what: `the first ${from} outside a string written ${JSON.stringify(to)}` };
    }),
  fc.constantFrom('', ' ', '\n\t ', '\ufeff', 'undefined', 'NaN', '{"rebuild": {"imageRef": "x",}}', "{'rebuild': {}}", '{"rebuild" {}}').map((body) => ({
    request: { method: 'POST', path: SINGLE_PATH, headers: JSON_TYPE, body },
    what: `body ${JSON.stringify(body)}`,
  })),
);

// ---------------------------------------------------------------------------------------------
// Oversized bodies

/** A seed call whose adminPass pads the body to `limit + delta` bytes. */
export function paddedToArb(limit: number): fc.Arbitrary<{ request: RawRequest; bytes: number }> {
  return fc
    .tuple(
      fc.oneof(fc.integer({ min: -4, max: 4 }), fc.integer({ min: -limit / 2, max: limit * 4 }), fc.constantFrom(0, 1, limit * 16)),
      fc.constantFrom('x', 'é', '\u{1f600}'),
      fc.boolean(),
    )
    .map(([delta, pad, binary]) => {
      const head = `{"rebuild":{"imageRef":"${UUID}","adminPass":"${SECRET_MARK}:`;
      const tail = '"}}';
      const room = Math.max(0, limit + delta - Buffer.byteLength(head + tail));
      const unit = Buffer.byteLength(pad);
      // Fill with the multi-byte character, then single bytes up to the exact size.
      const text = head + pad.repeat(Math.floor(room / unit)) + 'x'.repeat(room % unit) + tail;
      return { request: { method: 'POST', path: SINGLE_PATH, headers: JSON_TYPE, body: binary ? Buffer.from(text) : text }, bytes: Buffer.byteLength(text) };
    });
}
