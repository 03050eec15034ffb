/**
 * Valid rebuild requests, generated from the rebuild schema as Nova documents it (the table in
 * /work/shared/nova-reference/README.md), not from the service's own zod schema: each generator
 * says what a valid field is, and carries what Nova must be sent for it, so the oracle does not
 * ask the code under test what it thinks.
 */
import fc from 'fast-check';
import { DEFAULT_OPTIONS, MAX_MICROVERSION, SECRET_MARK } from '../harness.js';

export type Body = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Characters

const range = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => String.fromCodePoint(from + i));

/** Printable, not whitespace: ASCII, Latin-1 (without the soft hyphen, a format character), Greek, CJK, emoji (two UTF-16 units each). */
const VISIBLE = {
  ascii: range(0x21, 0x7e),
  latin: range(0xa1, 0xff).filter((c) => c !== '\u00ad'),
  greek: range(0x3b1, 0x3c9),
  cjk: range(0x4e00, 0x4e3f),
  emoji: range(0x1f600, 0x1f64f),
};
/** Space separators (Unicode Zs): printable, but not at the edges of a name. */
const BLANKS = [' ', '\u00a0', '\u3000'];

export const visibleChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...VISIBLE.ascii) },
  { weight: 1, arbitrary: fc.constantFrom(...VISIBLE.latin) },
  { weight: 1, arbitrary: fc.constantFrom(...VISIBLE.greek) },
  { weight: 1, arbitrary: fc.constantFrom(...VISIBLE.cjk) },
  { weight: 1, arbitrary: fc.constantFrom(...VISIBLE.emoji) },
);
const printableChar: fc.Arbitrary<string> = fc.oneof({ weight: 9, arbitrary: visibleChar }, { weight: 1, arbitrary: fc.constantFrom(...BLANKS) });

/** A length in [min, max], often small, sometimes exactly at either bound. */
export function lengthIn(min: number, max: number): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min, max: Math.min(max, min + 16) }) },
    { weight: 2, arbitrary: fc.integer({ min, max }) },
    { weight: 1, arbitrary: fc.constant(min) },
    { weight: 1, arbitrary: fc.constant(max) },
  );
}

/**
 * A size: mostly up to `small`, now and then anywhere up to `max` or exactly `max`. Large values
 * are costly to generate and to check, and one in a few dozen finds what a size limit gets wrong.
 */
export function rarelyLarge(small: number, max: number): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 40, arbitrary: fc.integer({ min: 0, max: small }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max }) },
    { weight: 1, arbitrary: fc.constant(max) },
  );
}

/** A string of `min`..`max` code points drawn from `chars`. */
export function stringOf(chars: fc.Arbitrary<string>, min: number, max: number): fc.Arbitrary<string> {
  return lengthIn(min, max).chain((n) => fc.array(chars, { minLength: n, maxLength: n }).map((cs) => cs.join('')));
}

/** Nova's `name` format: 1–255 printable characters, no whitespace at either end. */
export function novaName(max = 255): fc.Arbitrary<string> {
  return lengthIn(1, max).chain((n) =>
    n === 1
      ? visibleChar
      : fc
          .tuple(visibleChar, fc.array(printableChar, { minLength: n - 2, maxLength: n - 2 }), visibleChar)
          .map(([first, middle, last]) => first + middle.join('') + last),
  );
}

// ---------------------------------------------------------------------------------------------
// UUIDs

export type UuidStyle = 'canonical' | 'upper' | 'mixed' | 'hyphenless' | 'braces' | 'urn' | 'stray-hyphens';
const UUID_STYLES: UuidStyle[] = ['canonical', 'upper', 'mixed', 'hyphenless', 'braces', 'urn', 'stray-hyphens'];

/** The canonical (lower-case, hyphenated) UUID, any version. */
export const canonicalUuid: fc.Arbitrary<string> = fc.uuid();

/** A UUID as Nova's lenient check reads it (oslo `is_uuid_like`): case and hyphens do not matter. */
export function renderUuid(uuid: string, style: UuidStyle, seed: number): string {
  const hex = uuid.replace(/-/g, '');
  switch (style) {
    case 'canonical':
      return uuid;
    case 'upper':
      return uuid.toUpperCase();
    case 'mixed':
      return [...uuid].map((c, i) => ((seed >> i % 30) & 1 ? c.toUpperCase() : c)).join('');
    case 'hyphenless':
      return seed & 1 ? hex.toUpperCase() : hex;
    case 'braces':
      return `{${uuid}}`;
    case 'urn':
      return `urn:uuid:${uuid}`;
    case 'stray-hyphens':
      return [...hex].map((c, i) => ((seed >> i % 30) & 1 && i > 0 ? `-${c}` : c)).join('');
  }
}

/** A server id as a caller may write it, with its canonical form. */
export const serverIdArb: fc.Arbitrary<{ id: string; rendered: string }> = fc
  .tuple(canonicalUuid, fc.constantFrom(...UUID_STYLES), fc.nat())
  .map(([id, style, seed]) => ({ id, rendered: renderUuid(id, style, seed) }));

/** An imageRef: a UUID written any lenient way, or an image URL whose last segment is one; with the image id Nova is sent. */
export const imageRefArb: fc.Arbitrary<{ ref: string; imageId: string }> = fc
  .tuple(
    canonicalUuid,
    fc.constantFrom(...UUID_STYLES),
    fc.nat(),
    fc.constantFrom(
      'none',
      'https://glance.example.test:9292/v2/images/',
      'http://openstack.example.com/v1.1/32278/images/',
      'https://cloud.example.test/image/v2/images/',
    ),
    fc.constantFrom('', '/', '?version=2', '#frag'),
  )
  .map(([imageId, style, seed, prefix, suffix]) => {
    if (prefix === 'none') return { ref: renderUuid(imageId, style, seed), imageId };
    // In a URL the UUID is a path segment: no braces, no urn prefix.
    const inUrl = style === 'braces' || style === 'urn' ? imageId : renderUuid(imageId, style, seed);
    return { ref: `${prefix}${inUrl}${suffix}`, imageId };
  });

// ---------------------------------------------------------------------------------------------
// Secrets

/** An adminPass: any string, with the marker the secret checks look for. */
export const adminPassArb: fc.Arbitrary<string> = fc.string({ unit: 'binary', maxLength: 40 }).map((s) => `${SECRET_MARK}:${s}`);

/** Base64 of secret bytes (beginning with the marker), `decodedBytes` long in all. */
export function secretBase64(decodedBytes: fc.Arbitrary<number>, options: { wrap?: boolean } = {}): fc.Arbitrary<string> {
  return decodedBytes
    .chain((n) => fc.tuple(fc.uint8Array({ minLength: n, maxLength: n }), options.wrap ? fc.constantFrom(0, 0, 4, 60, 76) : fc.constant(0)))
    .map(([random, wrapAt]) => {
      const bytes = Buffer.from(random);
      Buffer.from(SECRET_MARK).copy(bytes, 0, 0, Math.min(SECRET_MARK.length, bytes.length));
      const text = bytes.toString('base64');
      if (!wrapAt || text.length <= 16) return text;
      // Python's base64 decoder skips what is not in the alphabet (the seed wraps its contents).
      const head = text.slice(0, 16);
      const rest = text.slice(16).match(new RegExp(`.{1,${wrapAt}}`, 'g')) ?? [];
      return [head, ...rest].join(wrapAt === 4 ? ' ' : '\n');
    });
}

// ---------------------------------------------------------------------------------------------
// Fields

/** The microversions at which each rebuild field is allowed (README table). */
export const FIELD_WINDOWS = {
  imageRef: [1, MAX_MICROVERSION],
  name: [1, MAX_MICROVERSION],
  adminPass: [1, MAX_MICROVERSION],
  metadata: [1, MAX_MICROVERSION],
  preserve_ephemeral: [1, MAX_MICROVERSION],
  'OS-DCF:diskConfig': [1, MAX_MICROVERSION],
  accessIPv4: [1, MAX_MICROVERSION],
  accessIPv6: [1, MAX_MICROVERSION],
  personality: [1, 56],
  description: [19, MAX_MICROVERSION],
  key_name: [54, MAX_MICROVERSION],
  user_data: [57, MAX_MICROVERSION],
  trusted_image_certificates: [63, MAX_MICROVERSION],
  hostname: [90, MAX_MICROVERSION],
} as const satisfies Record<string, readonly [number, number]>;
export type Field = keyof typeof FIELD_WINDOWS;
export const FIELDS = Object.keys(FIELD_WINDOWS) as Field[];

export function allowedAt(field: Field, minor: number): boolean {
  const [from, to] = FIELD_WINDOWS[field];
  return minor >= from && minor <= to;
}

/** Nova's quotas at their defaults (the harness keeps them). */
export const QUOTAS = { metadataItems: 128, files: 5, fileContentBytes: 10240, filePathBytes: 255 } as const;

/** Nova's `parameter_types.boolean`: JSON booleans and exactly these spellings. */
export const NOVA_BOOLEAN_STRINGS = ['True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no'];

const METADATA_KEY_CHARS = [...range(0x61, 0x7a), ...range(0x41, 0x5a), ...range(0x30, 0x39), '-', '_', ':', '.', ' '];
/**
 * Keys that are also names of Object.prototype members: valid metadata keys all the same. They
 * have a property of their own (prototype-keys.test.ts), so a failure there does not hide
 * everything else the broad properties find.
 */
export const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'];

export const metadataKeyArb: fc.Arbitrary<string> = stringOf(fc.constantFrom(...METADATA_KEY_CHARS), 1, 255).filter((k) => !PROTOTYPE_KEYS.includes(k));
/** Metadata values are any string of at most 255 characters (code points). */
export const metadataValueArb: fc.Arbitrary<string> = lengthIn(0, 255).chain((n) => fc.string({ unit: 'binary', minLength: n, maxLength: n }));

/** An object with these own keys, built so that a `__proto__` key is an own property, as JSON.parse makes it. */
export function objectOf(entries: [string, unknown][]): Body {
  return Object.fromEntries(entries) as Body;
}

function metadataArb(maxItems: number): fc.Arbitrary<Body> {
  return fc
    .uniqueArray(fc.tuple(metadataKeyArb, metadataValueArb), { selector: ([k]) => k, maxLength: maxItems })
    .map(objectOf);
}

/** Exactly `QUOTAS.metadataItems` short items: the quota's edge. */
const fullMetadataArb: fc.Arbitrary<Body> = fc.nat().map((seed) => objectOf(Array.from({ length: QUOTAS.metadataItems }, (_, i) => [`k${seed}.${i}`, `v${i}`])));

const filePathArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: stringOf(visibleChar, 1, 60).map((p) => `/etc/${p}`) },
  // The quota counts bytes: 255 ASCII bytes, or 63 four-byte characters (252 bytes) plus a slash.
  { weight: 1, arbitrary: fc.constant(`/${'p'.repeat(QUOTAS.filePathBytes - 1)}`) },
  { weight: 1, arbitrary: fc.constant(`/${'\u{1f600}'.repeat(63)}`) },
);

const personalityArb = (edges: boolean): fc.Arbitrary<Body[]> =>
  fc.array(
    fc.record({
      path: filePathArb,
      contents: secretBase64(edges ? rarelyLarge(48, QUOTAS.fileContentBytes) : fc.integer({ min: 0, max: 48 }), { wrap: true }),
    }),
    { maxLength: QUOTAS.files },
  );

/** user_data: base64 of at most 65,535 characters (49,149 bytes encode to 65,532). */
const userDataArb = (edges: boolean): fc.Arbitrary<string | null> =>
  fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 6, arbitrary: secretBase64(edges ? rarelyLarge(600, 49_149) : fc.integer({ min: 0, max: 600 })) });

const trustedCertsArb: fc.Arbitrary<string[] | null> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 5, arbitrary: fc.uniqueArray(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 50 }) },
);

const ALNUM = [...range(0x61, 0x7a), ...range(0x41, 0x5a), ...range(0x30, 0x39)];
/** 2.90–2.93: `^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$`, 2–63. */
const hostname290: fc.Arbitrary<string> = lengthIn(2, 63).chain((n) =>
  fc
    .tuple(fc.constantFrom(...ALNUM), fc.array(fc.constantFrom(...ALNUM, '-'), { minLength: n - 2, maxLength: n - 2 }), fc.constantFrom(...ALNUM))
    .map(([a, mid, z]) => a + mid.join('') + z),
);
/** 2.94 on: an FQDN, `^[a-zA-Z0-9-._]*$`, 1–255. */
const hostname294: fc.Arbitrary<string> = stringOf(fc.constantFrom(...ALNUM, '-', '.', '_'), 1, 255);

/**
 * A valid value of `field` at microversion 2.`minor` (the field must be allowed there); `edges`
 * adds, now and then, values at the size limits (costly, so left to the seed call).
 */
export function fieldArb(field: Exclude<Field, 'imageRef'>, minor: number, edges = true): fc.Arbitrary<unknown> {
  switch (field) {
    case 'name':
      return novaName();
    case 'adminPass':
      return adminPassArb;
    case 'metadata':
      return edges ? fc.oneof({ weight: 30, arbitrary: metadataArb(6) }, { weight: 1, arbitrary: fullMetadataArb }) : metadataArb(4);
    case 'preserve_ephemeral':
      return fc.oneof(fc.boolean(), fc.constantFrom(...NOVA_BOOLEAN_STRINGS));
    case 'OS-DCF:diskConfig':
      return fc.constantFrom('AUTO', 'MANUAL');
    case 'accessIPv4':
      return fc.ipV4();
    case 'accessIPv6':
      return fc.ipV6();
    case 'personality':
      return personalityArb(edges);
    case 'description':
      // Printable (whitespace allowed anywhere), at most 255, or null.
      return fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 6, arbitrary: stringOf(printableChar, 0, 255) });
    case 'key_name':
      return fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 4, arbitrary: novaName() });
    case 'user_data':
      return userDataArb(edges);
    case 'trusted_image_certificates':
      return trustedCertsArb;
    case 'hostname':
      return minor >= 94 ? hostname294 : hostname290;
  }
}

/** A generated rebuild body and the image id its imageRef names, if it has one. */
export interface GeneratedRebuild {
  body: Body;
  imageId?: string;
}

/**
 * A valid set of rebuild fields at 2.`minor`: any subset of the fields allowed there, with an
 * imageRef when `image` says so (`maybe`: sometimes).
 */
export function rebuildFieldsArb(
  minor: number,
  image: 'always' | 'maybe' | 'never',
  fields: readonly Field[] = FIELDS,
  edges = true,
): fc.Arbitrary<GeneratedRebuild> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of fields) if (f !== 'imageRef' && allowedAt(f, minor)) model[f] = fieldArb(f, minor, edges);
  const imageArb = image === 'always' ? imageRefArb : image === 'maybe' ? fc.option(imageRefArb, { nil: undefined }) : fc.constant(undefined);
  return fc.tuple(fc.record(model, { requiredKeys: [] }), imageArb, fc.nat()).map(([rest, img, order]) => {
    const entries = Object.entries(rest);
    if (img) entries.splice(order % (entries.length + 1), 0, ['imageRef', img.ref]);
    return img ? { body: objectOf(entries), imageId: img.imageId } : { body: objectOf(entries) };
  });
}

/** The fields valid at every microversion (what a request with a random microversion header may carry). */
export const TIMELESS_FIELDS: Field[] = FIELDS.filter((f) => FIELD_WINDOWS[f][0] === 1 && FIELD_WINDOWS[f][1] === MAX_MICROVERSION);

// ---------------------------------------------------------------------------------------------
// Requests

/** Microversions, with the boundaries of the rebuild schema's ranges weighted up. */
export const minorArb: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 1, max: MAX_MICROVERSION }),
  fc.constantFrom(1, 18, 19, 53, 54, 56, 57, 62, 63, 89, 90, 93, 94, MAX_MICROVERSION),
);

/** Where the request names its microversion. */
export type MvSource = 'none' | 'legacy' | 'modern' | 'options' | 'legacy+options' | 'modern+options';

export interface MicroversionChoice {
  minor: number;
  headers: Record<string, string>;
  optionsMv?: string;
}

function versionText(minor: number, variant: number): string {
  if (minor === MAX_MICROVERSION && variant % 3 === 0) return variant % 2 ? 'LATEST' : 'latest';
  return variant % 5 === 1 ? ` 2.${minor} ` : `2.${minor}`;
}

/** A microversion and how the request names it; `bulk` allows job options to carry it. */
export function microversionArb(bulk: boolean): fc.Arbitrary<MicroversionChoice> {
  const sources: MvSource[] = bulk ? ['none', 'legacy', 'modern', 'options', 'legacy+options', 'modern+options'] : ['none', 'legacy', 'modern'];
  return fc.tuple(minorArb, fc.constantFrom(...sources), fc.nat(), fc.constantFrom('X-OpenStack-Nova-API-Version', 'x-openstack-nova-api-version')).map(
    ([minor, source, variant, legacyName]) => {
      if (source === 'none') return { minor: 1, headers: {} };
      const headers: Record<string, string> = {};
      if (source.startsWith('legacy')) headers[legacyName] = versionText(minor, variant);
      if (source.startsWith('modern')) {
        const service = variant % 4 === 2 ? 'Compute' : 'compute';
        headers['OpenStack-API-Version'] = variant % 2 ? `volume 3.1, ${service} 2.${minor}` : `${service} ${versionText(minor, variant)}`.trim();
      }
      const optionsMv = source.endsWith('options') ? versionText(minor, variant >> 3).trim() : undefined;
      return { minor, headers, ...(optionsMv !== undefined ? { optionsMv } : {}) };
    },
  );
}

/** A tenant id as the path carries it: `^[a-zA-Z0-9-]{1,255}$`. */
export const tenantArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constant('6f70656e737461636b20342065766572') },
  { weight: 6, arbitrary: stringOf(fc.constantFrom(...ALNUM, '-'), 1, 40) },
  { weight: 1, arbitrary: fc.constant('t'.repeat(255)) },
);

/**
 * A path segment as a client may send it: characters that cannot stand in a path segment
 * percent-encoded, and sometimes others too (API Gateway hands the handler the raw path).
 */
export function encodeSegment(value: string, seed: number): string {
  const encodeSome = seed % 3 === 0;
  return [...value]
    .map((c, i) => {
      if (!/^[A-Za-z0-9\-._~]$/.test(c)) return encodeURIComponent(c);
      return encodeSome && (seed >> i % 30) & 1 ? `%${c.charCodeAt(0).toString(16).toUpperCase()}` : c;
    })
    .join('');
}

export const contentTypeJsonArb: fc.Arbitrary<string | undefined> = fc.constantFrom(
  'application/json',
  'application/json; charset=UTF-8',
  'Application/JSON',
  ' application/json ;charset=utf-8',
  'text/plain',
  'text/plain; charset=us-ascii',
  undefined,
  '',
);

/** An Idempotency-Key: 1–255 visible ASCII characters. */
export const idempotencyKeyArb: fc.Arbitrary<string> = stringOf(fc.constantFrom(...range(0x21, 0x7e)), 1, 255);

export interface ExpectedServer {
  serverId: string;
  rebuild: Body;
}

export interface ExpectedOptions {
  microversion: string;
  maxAttempts: number;
  deadlineSeconds: number;
  maxFailurePercentage: number;
  maxInFlight: number;
}

/** A valid request and what the service must do with it. */
export interface ValidRequest {
  kind: 'single' | 'bulk';
  tenant: string;
  path: string;
  headers: Record<string, string>;
  body: Body;
  /** Send the body as bytes (the event is then base64-encoded). */
  binary: boolean;
  minor: number;
  options: ExpectedOptions;
  /** One per server, in request order: the canonical server id and exactly what Nova is to be sent. */
  expected: ExpectedServer[];
  /** For mutations: how the servers were written. */
  servers: { id: string; rendered: string; own?: GeneratedRebuild }[];
  shared?: GeneratedRebuild;
}

function expectedRebuild(shared: GeneratedRebuild | undefined, own: GeneratedRebuild | undefined): Body {
  // A field a server gives replaces the shared one whole; Nova is sent the image UUID.
  const merged: Body = objectOf([...Object.entries(shared?.body ?? {}), ...Object.entries(own?.body ?? {})]);
  merged.imageRef = own?.imageId ?? shared?.imageId;
  return merged;
}

const baseHeadersArb = fc.tuple(contentTypeJsonArb, fc.option(idempotencyKeyArb, { nil: undefined })).map(([ct, key]) => {
  const headers: Record<string, string> = {};
  if (ct !== undefined) headers['Content-Type'] = ct;
  if (key !== undefined) headers['Idempotency-Key'] = key;
  return headers;
});

/** The seed's call: POST /v2/{tenant}/servers/{id}/action with `{"rebuild": {...}}`. */
export function singleRequestArb(fields: readonly Field[] = FIELDS): fc.Arbitrary<ValidRequest> {
  return microversionArb(false).chain((mv) =>
    fc
      .record({
        tenant: tenantArb,
        server: serverIdArb,
        encodeSeed: fc.nat(),
        rebuild: rebuildFieldsArb(mv.minor, 'always', fields),
        headers: baseHeadersArb,
        binary: fc.boolean(),
      })
      .map(({ tenant, server, encodeSeed, rebuild, headers, binary }) => ({
        kind: 'single' as const,
        tenant,
        path: `/v2/${tenant}/servers/${encodeSegment(server.rendered, encodeSeed)}/action`,
        headers: { ...headers, ...mv.headers },
        body: { rebuild: rebuild.body },
        binary,
        minor: mv.minor,
        options: { microversion: `2.${mv.minor}`, ...DEFAULT_OPTIONS },
        expected: [{ serverId: server.id, rebuild: expectedRebuild(undefined, rebuild) }],
        servers: [{ id: server.id, rendered: server.rendered, own: rebuild }],
        shared: rebuild,
      })),
  );
}

const jobOptionsArb = fc.record(
  {
    maxAttempts: fc.integer({ min: 1, max: 100 }),
    deadlineSeconds: fc.integer({ min: 60, max: 86_400 }),
    maxFailurePercentage: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.double({ min: 0, max: 100, noNaN: true, noDefaultInfinity: true })),
    maxInFlight: fc.integer({ min: 1, max: 1000 }),
  },
  { requiredKeys: [] },
);

/** A bulk job: shared fields, 1..`maxServers` distinct servers each with optional own fields, options. */
export function bulkRequestArb(maxServers = 12, fields: readonly Field[] = FIELDS): fc.Arbitrary<ValidRequest> {
  return fc.tuple(microversionArb(true), fc.boolean()).chain(([mv, sharedImage]) =>
    fc
      .record({
        tenant: tenantArb,
        // Every server's request is the shared fields again: sizes at the limits are left to the seed call.
        shared: rebuildFieldsArb(mv.minor, sharedImage ? 'always' : 'never', fields, false),
        omitEmptyShared: fc.boolean(),
        servers: fc.uniqueArray(
          fc.record({
            server: serverIdArb,
            // Without a shared imageRef every server brings its own.
            own: sharedImage
              ? fc.option(rebuildFieldsArb(mv.minor, 'maybe', fields, false), { nil: undefined, freq: 2 })
              : rebuildFieldsArb(mv.minor, 'always', fields, false),
          }),
          { minLength: 1, maxLength: maxServers, selector: (s) => s.server.id },
        ),
        options: jobOptionsArb,
        withOptions: fc.boolean(),
        headers: baseHeadersArb,
        binary: fc.boolean(),
      })
      .map(({ tenant, shared, omitEmptyShared, servers, options, withOptions, headers, binary }) => {
        const optionsBody: Body = { ...(withOptions ? options : {}), ...(mv.optionsMv !== undefined ? { microversion: mv.optionsMv } : {}) };
        const job: Body = {};
        const sharedEmpty = Object.keys(shared.body).length === 0;
        if (!(sharedEmpty && omitEmptyShared)) job.rebuild = shared.body;
        job.servers = servers.map(({ server, own }) => (own ? { id: server.rendered, rebuild: own.body } : { id: server.rendered }));
        if (Object.keys(optionsBody).length || withOptions) job.options = optionsBody;
        const resolved = { ...DEFAULT_OPTIONS, ...(withOptions ? options : {}) };
        return {
          kind: 'bulk' as const,
          tenant,
          path: `/v2/${tenant}/rebuild-jobs`,
          headers: { ...headers, ...mv.headers },
          body: { rebuildJob: job },
          binary,
          minor: mv.minor,
          options: {
            microversion: `2.${mv.minor}`,
            maxAttempts: resolved.maxAttempts,
            deadlineSeconds: resolved.deadlineSeconds,
            maxFailurePercentage: resolved.maxFailurePercentage,
            maxInFlight: resolved.maxInFlight,
          },
          expected: servers.map(({ server, own }) => ({ serverId: server.id, rebuild: expectedRebuild(shared, own) })),
          servers: servers.map(({ server, own }) => ({ id: server.id, rendered: server.rendered, ...(own ? { own } : {}) })),
          shared,
        };
      }),
  );
}

/** The request's body as sent: JSON text, or its UTF-8 bytes. */
export function bodyOf(req: Pick<ValidRequest, 'body' | 'binary'>): string | Buffer {
  const text = JSON.stringify(req.body);
  return req.binary ? Buffer.from(text, 'utf8') : text;
}
