/**
 * Near-valid requests: a valid request (rebuild.ts) with exactly one thing wrong, and the status
 * Nova's rules give that one thing — 400 for the shape, 403 for a quota-type limit, 406 for a
 * microversion the cloud lacks, 413 for too many servers.
 */
import fc from 'fast-check';
import { MAX_MICROVERSION, SECRET_MARK } from '../harness.js';
import {
  type Body,
  FIELDS,
  type Field,
  QUOTAS,
  type ValidRequest,
  allowedAt,
  canonicalUuid,
  encodeSegment,
  objectOf,
  renderUuid,
} from './rebuild.js';
import { type Refusal, clone, rawOf } from './requests.js';

type Target = { at: 'single' } | { at: 'shared' } | { at: 'server'; index: number };

function targetArb(req: ValidRequest): fc.Arbitrary<Target> {
  if (req.kind === 'single') return fc.constant({ at: 'single' });
  return fc.oneof(fc.constant<Target>({ at: 'shared' }), fc.integer({ min: 0, max: req.servers.length - 1 }).map<Target>((index) => ({ at: 'server', index })));
}

function job(body: Body): Body {
  return body.rebuildJob as Body;
}

function servers(body: Body): Body[] {
  return job(body).servers as Body[];
}

/** The rebuild object a target names in `body` (a copy), created empty where it is missing. */
function rebuildAt(body: Body, t: Target): Body {
  if (t.at === 'single') return body.rebuild as Body;
  if (t.at === 'shared') return (job(body).rebuild ??= {}) as Body;
  const item = servers(body)[t.index] as Body;
  return (item.rebuild ??= {}) as Body;
}

function where(t: Target): string {
  return t.at === 'server' ? `servers[${t.index}].rebuild` : t.at === 'shared' ? 'rebuildJob.rebuild' : 'rebuild';
}

/** The request with its body edited (on a copy). */
function edited(req: ValidRequest, edit: (body: Body) => void): ValidRequest {
  const body = clone(req.body);
  edit(body);
  return { ...req, body };
}

function refusal(req: ValidRequest, status: number, what: string): Refusal {
  return { request: rawOf(req), status, what };
}

const UUID = '70a599e0-31e7-49b7-b260-868f441e862b';

/** Values no microversion accepts for the field (with Nova's reason in mind). */
const INVALID_VALUES: Record<Field, unknown[]> = {
  imageRef: [123, true, null, [], {}, '', 'not-a-uuid', UUID.replace('a', 'g'), UUID.slice(1), `${UUID}0`, `ftp://glance/images/${UUID}`, 'https://glance/images/', `https://glance/images/${UUID}/x`, `${UUID.slice(0, 8)}{${UUID.slice(9)}`],
  name: [1, false, null, [], {}, '', ' lead', 'trail ', '\u3000ideographic', 'a\u0000b', 'a\nb', 'tab\t', 'a\u2028b', 'zero\u200bwidth', 'x'.repeat(256), '\u{1f600}'.repeat(256)],
  // A wrong adminPass still carries the secret: it must not be echoed as a value.
  adminPass: [1, null, true, [`${SECRET_MARK}:in-array`], { p: `${SECRET_MARK}:in-object` }],
  metadata: ['x', [], 1, null, { k: 1 }, { k: null }, { k: ['v'] }, { k: 'v'.repeat(256) }, { '': 'v' }, { 'bad/key': 'v' }, { ['k'.repeat(256)]: 'v' }, { 'ключ': 'v' }, { 'tab\tkey': 'v' }],
  preserve_ephemeral: [1, 0, null, 'tRUE', 'y', '', 'true ', [], {}],
  'OS-DCF:diskConfig': ['auto', 'Auto', '', 'MANUAL ', 1, null],
  accessIPv4: ['1.2.3', '256.0.0.1', '01.2.3.4', '1.2.3.4 ', '::1', '', 1, null],
  accessIPv6: ['1.2.3.4', ':::', 'g::1', '1::2::3', '', 1, null],
  personality: [
    'x',
    {},
    1,
    null,
    [1],
    [{ path: '/a' }],
    [{ contents: 'aGk=' }],
    [{ path: '/a', contents: 'aGk=', mode: '0600' }],
    [{ path: 1, contents: 'aGk=' }],
    // Not base64 (a dangling partial quantum): the contents are secret all the same.
    [{ path: '/a', contents: SECRET_MARK }],
    [{ path: '/a', contents: 'QQ' }],
  ],
  description: [1, [], {}, 'x'.repeat(256), 'a\u0000b', 'next\u0085line', 'a\u2029b'],
  key_name: [1, '', ' a', 'a ', 'x'.repeat(256), [], 'a\u0001'],
  user_data: [1, [], {}, SECRET_MARK, `${SECRET_MARK}A`, 'A'.repeat(65_536)],
  trusted_image_certificates: [[], ['a', 'a'], [''], Array.from({ length: 51 }, (_, i) => `cert-${i}`), 'x', [1], {}],
  hostname: [],
};
const INVALID_HOSTNAMES_290 = ['a', '-ab', 'ab-', 'a_b', 'a.b', 'x'.repeat(64), '', 1, null];
const INVALID_HOSTNAMES_294 = ['', 'a b', 'a/b', 'x'.repeat(256), 'ä', 1, null];

function invalidValues(field: Field, minor: number): unknown[] {
  if (field === 'hostname') return minor >= 94 ? INVALID_HOSTNAMES_294 : INVALID_HOSTNAMES_290;
  return INVALID_VALUES[field];
}

/** A value valid in the field's own microversions: what a caller on the wrong microversion would send. */
const VALID_ELSEWHERE: Partial<Record<Field, unknown>> = {
  personality: [],
  description: 'a description',
  key_name: 'keypair-1',
  user_data: null,
  trusted_image_certificates: null,
  hostname: 'web-1',
};

/** One field with a value no microversion accepts. */
function wrongValue(req: ValidRequest): fc.Arbitrary<Refusal> {
  const fields = FIELDS.filter((f) => allowedAt(f, req.minor));
  return fc
    .tuple(targetArb(req), fc.constantFrom(...fields))
    .chain(([t, field]) => fc.constantFrom(...invalidValues(field, req.minor)).map((value) => ({ t, field, value })))
    .map(({ t, field, value }) =>
      refusal(
        edited(req, (b) => {
          rebuildAt(b, t)[field] = value;
        }),
        400,
        `${where(t)}.${field} = ${JSON.stringify(value)?.slice(0, 80)} at 2.${req.minor}`,
      ),
    );
}

/** A field from another microversion range. */
function wrongMicroversion(req: ValidRequest): fc.Arbitrary<Refusal> | undefined {
  const fields = (Object.keys(VALID_ELSEWHERE) as Field[]).filter((f) => !allowedAt(f, req.minor));
  if (!fields.length) return undefined;
  return fc.tuple(targetArb(req), fc.constantFrom(...fields)).map(([t, field]) =>
    refusal(
      edited(req, (b) => {
        rebuildAt(b, t)[field] = VALID_ELSEWHERE[field];
      }),
      400,
      `${where(t)}.${field} at 2.${req.minor}`,
    ),
  );
}

/** Keys that name nothing, including ones that are also Object.prototype members. */
function unknownKeyArb(known: readonly string[]): fc.Arbitrary<string> {
  return fc
    .oneof(
      { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
      { weight: 2, arbitrary: fc.constantFrom('imageref', 'ImageRef', 'admin_pass', 'adminpass', 'server', 'id', 'servers', 'rebuild', 'options', '') },
      // Object.prototype member names have their own property (prototype-keys.test.ts).
      { weight: 1, arbitrary: fc.constantFrom('constructor', 'toString', 'hasOwnProperty', 'valueOf') },
    )
    .filter((k) => !known.includes(k));
}

const anyJson = fc.jsonValue({ maxDepth: 2 });

/** An unknown key in a rebuild object or around it. */
function unknownKey(req: ValidRequest): fc.Arbitrary<Refusal> {
  const inRebuild = targetArb(req).chain((t) =>
    fc.tuple(unknownKeyArb(FIELDS.filter((f) => allowedAt(f, req.minor))), anyJson).map(([key, value]) =>
      refusal(
        edited(req, (b) => {
          const target = rebuildAt(b, t);
          Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
        }),
        400,
        `unknown key ${JSON.stringify(key)} in ${where(t)}`,
      ),
    ),
  );
  const levels: { name: string; known: string[]; at: (b: Body) => Body }[] =
    req.kind === 'single'
      ? [{ name: 'the body', known: ['rebuild'], at: (b) => b }]
      : [
          { name: 'the body', known: ['rebuildJob'], at: (b) => b },
          { name: 'rebuildJob', known: ['rebuild', 'servers', 'options'], at: job },
          { name: 'servers[0]', known: ['id', 'rebuild'], at: (b) => servers(b)[0] as Body },
          { name: 'options', known: ['microversion', 'maxAttempts', 'deadlineSeconds', 'maxFailurePercentage'], at: (b) => (job(b).options ??= {}) as Body },
        ];
  const around = fc.constantFrom(...levels).chain((level) =>
    fc.tuple(unknownKeyArb(level.known), anyJson).map(([key, value]) =>
      refusal(
        edited(req, (b) => {
          Object.defineProperty(level.at(b), key, { value, enumerable: true, writable: true, configurable: true });
        }),
        400,
        `unknown key ${JSON.stringify(key)} in ${level.name}`,
      ),
    ),
  );
  return fc.oneof(inRebuild, around);
}

/** No imageRef for (at least) one server. */
function missingImage(req: ValidRequest): fc.Arbitrary<Refusal> {
  return fc.constant(
    refusal(
      edited(req, (b) => {
        if (req.kind === 'single') {
          delete (b.rebuild as Body).imageRef;
          return;
        }
        delete (job(b).rebuild as Body | undefined)?.imageRef;
        const first = servers(b)[0] as Body;
        delete (first.rebuild as Body | undefined)?.imageRef;
      }),
      400,
      'no imageRef',
    ),
  );
}

/** The body's structure broken at one place (the containers of secrets: wrappedSecrets below). */
function brokenShape(req: ValidRequest): fc.Arbitrary<Refusal> {
  const single: [string, (b: Body) => unknown][] = [
    ['{}', () => ({})],
    ['rebuild null', (b) => ({ ...b, rebuild: null })],
    ['rebuild string', () => ({ rebuild: 'imageRef' })],
    ['rebuild an empty array', () => ({ rebuild: [] })],
    ['body an empty array', () => []],
    ['body a string', () => 'rebuild'],
    ['body a number', () => 1],
    ['body null', () => null],
    ['another action', (b) => ({ Rebuild: b.rebuild })],
  ];
  const bulk: [string, (b: Body) => unknown][] = [
    ['{}', () => ({})],
    ['rebuildJob null', () => ({ rebuildJob: null })],
    ['rebuildJob an empty array', () => ({ rebuildJob: [] })],
    ['no servers', (b) => ({ rebuildJob: { ...job(b), servers: undefined } })],
    ['servers empty', (b) => ({ rebuildJob: { ...job(b), servers: [] } })],
    ['servers a string', (b) => ({ rebuildJob: { ...job(b), servers: 'all' } })],
    ['a server a string', (b) => ({ rebuildJob: { ...job(b), servers: [UUID, ...servers(b)] } })],
    ['a server empty', (b) => ({ rebuildJob: { ...job(b), servers: [...servers(b), {}] } })],
    ['a server rebuild null', (b) => ({ rebuildJob: { ...job(b), servers: [{ ...servers(b)[0], rebuild: null }] } })],
    ['a server rebuild an empty array', (b) => ({ rebuildJob: { ...job(b), servers: [{ ...servers(b)[0], rebuild: [] }] } })],
    ['shared rebuild an empty array', (b) => ({ rebuildJob: { ...job(b), rebuild: [] } })],
    ['shared rebuild null', (b) => ({ rebuildJob: { ...job(b), rebuild: null } })],
    ['options an array', (b) => ({ rebuildJob: { ...job(b), options: [] } })],
    ['options a string', (b) => ({ rebuildJob: { ...job(b), options: '2.57' } })],
    ['the seed body on the bulk call', (b) => ({ rebuild: job(b).rebuild ?? {} })],
  ];
  return fc.constantFrom(...(req.kind === 'single' ? single : bulk)).map(([what, make]) =>
    refusal({ ...req, body: make(clone(req.body)) as Body }, 400, what),
  );
}

/** A rebuild with an adminPass first, where a quoted prefix of the rebuild would show it. */
function secretFirst(obj: unknown): Body {
  const rebuild = obj !== null && typeof obj === 'object' && !Array.isArray(obj) ? (obj as Body) : {};
  const pass = typeof rebuild.adminPass === 'string' ? rebuild.adminPass : `${SECRET_MARK}:wrapped`;
  return objectOf([['adminPass', pass], ...Object.entries(rebuild).filter(([k]) => k !== 'adminPass')]);
}

/**
 * A container of secrets given with the wrong type: the rebuild in an array, the body in an
 * array, a server item in an array. The request is wrong; its adminPass is secret all the same.
 */
export function wrappedSecrets(req: ValidRequest): fc.Arbitrary<Refusal> {
  const single: [string, (b: Body) => unknown][] = [
    ['rebuild in an array', (b) => ({ rebuild: [secretFirst(b.rebuild)] })],
    ['the body in an array', (b) => [{ rebuild: secretFirst(b.rebuild) }]],
    ['rebuild as a JSON string', (b) => ({ rebuild: JSON.stringify(secretFirst(b.rebuild)) })],
  ];
  const bulk: [string, (b: Body) => unknown][] = [
    ['rebuildJob in an array', (b) => ({ rebuildJob: [{ rebuild: secretFirst(job(b).rebuild), servers: servers(b) }] })],
    ['shared rebuild in an array', (b) => ({ rebuildJob: { ...job(b), rebuild: [secretFirst(job(b).rebuild)] } })],
    ['servers an object', (b) => ({ rebuildJob: { ...job(b), servers: { 0: { ...servers(b)[0], rebuild: secretFirst((servers(b)[0] as Body).rebuild) } } } })],
    ['a server in an array', (b) => ({ rebuildJob: { ...job(b), servers: servers(b).map((s) => [{ ...s, rebuild: secretFirst(s.rebuild) }]) } })],
    ['a server rebuild in an array', (b) => ({ rebuildJob: { ...job(b), servers: servers(b).map((s) => ({ ...s, rebuild: [secretFirst(s.rebuild)] })) } })],
  ];
  return fc.constantFrom(...(req.kind === 'single' ? single : bulk)).map(([what, make]) =>
    refusal({ ...req, body: make(clone(req.body)) as Body }, 400, what),
  );
}

/** A server listed twice, written differently the second time. */
function duplicateServer(req: ValidRequest): fc.Arbitrary<Refusal> | undefined {
  if (req.kind !== 'bulk') return undefined;
  return fc
    .tuple(fc.integer({ min: 0, max: req.servers.length - 1 }), fc.nat(), fc.constantFrom('canonical', 'upper', 'hyphenless', 'urn', 'braces', 'mixed') )
    .map(([index, at, style]) => {
      const server = req.servers[index] as ValidRequest['servers'][number];
      return refusal(
        edited(req, (b) => {
          const list = servers(b);
          list.splice(at % (list.length + 1), 0, { id: renderUuid(server.id, style, at) });
        }),
        400,
        `server ${server.id} listed twice`,
      );
    });
}

/** Not a UUID however leniently read: a hex digit too few or too many, or a character no UUID has. */
export const badUuidArb: fc.Arbitrary<unknown> = fc.oneof(
  canonicalUuid.map((u) => u.slice(0, -1)),
  canonicalUuid.map((u) => `${u}a`),
  fc.tuple(canonicalUuid, fc.nat(35), fc.constantFrom('g', 'z', ' ', '_', 'é', '/')).map(([u, i, c]) => u.slice(0, i) + c + u.slice(i + 1)),
  // A brace inside (not at an end): oslo strips braces only from the ends.
  canonicalUuid.map((u) => `${u.slice(0, 8)}{${u.slice(9)}`),
  fc.constantFrom('', 'null', 'undefined', '0', 'server-1'),
  fc.string({ minLength: 1, maxLength: 40 }).filter((s) => /[^0-9a-fA-F{}\-:urnid]/.test(s)),
);

/** A server id that is no UUID: in the list (bulk) or in the path (single). */
function badServerId(req: ValidRequest): fc.Arbitrary<Refusal> {
  if (req.kind === 'single') {
    return fc.tuple(badUuidArb.filter((v): v is string => typeof v === 'string' && v !== ''), fc.nat()).map(([id, seed]) =>
      refusal({ ...req, path: `/v2/${req.tenant}/servers/${encodeSegment(id, seed)}/action` }, 400, `server id ${JSON.stringify(id)} in the path`),
    );
  }
  return fc
    .tuple(fc.integer({ min: 0, max: req.servers.length - 1 }), fc.oneof(badUuidArb, fc.constantFrom(1, null, true, [], {})))
    .map(([index, id]) =>
      refusal(
        edited(req, (b) => {
          (servers(b)[index] as Body).id = id;
        }),
        400,
        `servers[${index}].id = ${JSON.stringify(id)}`,
      ),
    );
}

/** A microversion header that is malformed (400) or names a version the cloud lacks (406). */
function badMicroversionHeader(req: ValidRequest): fc.Arbitrary<Refusal> {
  const values: [string, number][] = [
    ['2.0', 406],
    [`2.${MAX_MICROVERSION + 1}`, 406],
    ['2.100', 406],
    ['3.0', 406],
    ['1.1', 406],
    ['2', 400],
    ['2.', 400],
    ['.5', 400],
    ['2.x', 400],
    ['v2.1', 400],
    ['', 400],
    ['2.1.1', 400],
    ['2,1', 400],
    ['latest!', 400],
    ['\uff12.\uff11', 400],
  ];
  return fc.tuple(fc.constantFrom(...values), fc.boolean()).map(([[value, status], modern]) => {
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !/^(x-openstack-nova-api-version|openstack-api-version)$/i.test(k)));
    headers[modern ? 'OpenStack-API-Version' : 'X-OpenStack-Nova-API-Version'] = modern ? `compute ${value}` : value;
    const modernEmpty = modern && value === '';
    // "compute " names no version at all: the request is then at the default, and valid.
    return modernEmpty
      ? refusal({ ...req, headers: { ...headers, 'OpenStack-API-Version': 'compute 2.0' } }, 406, 'microversion header compute 2.0')
      : refusal({ ...req, headers }, status, `microversion header ${modern ? 'compute ' : ''}${JSON.stringify(value)}`);
  });
}

/** Job options out of their bounds or of the wrong type, or a microversion that contradicts the header. */
function badOptions(req: ValidRequest): fc.Arbitrary<Refusal> | undefined {
  if (req.kind !== 'bulk') return undefined;
  const values: [string, unknown, number][] = [
    ['maxAttempts', 0, 400],
    ['maxAttempts', 101, 400],
    ['maxAttempts', 1.5, 400],
    ['maxAttempts', '5', 400],
    ['maxAttempts', null, 400],
    ['maxAttempts', true, 400],
    ['deadlineSeconds', 59, 400],
    ['deadlineSeconds', 86_401, 400],
    ['deadlineSeconds', 60.5, 400],
    ['deadlineSeconds', '600', 400],
    ['maxFailurePercentage', -1, 400],
    ['maxFailurePercentage', 100.5, 400],
    ['maxFailurePercentage', '10', 400],
    ['maxInFlight', 0, 400],
    ['maxInFlight', 1001, 400],
    ['maxInFlight', 2.5, 400],
    ['microversion', '2.0', 406],
    ['microversion', `2.${MAX_MICROVERSION + 1}`, 406],
    ['microversion', 'x', 400],
    ['microversion', 2.57, 400],
    ['microversion', null, 400],
  ];
  const outOfBounds = fc.constantFrom(...values).map(([key, value, status]) =>
    refusal(
      edited(req, (b) => {
        const options = (job(b).options ??= {}) as Body;
        options[key] = value;
      }),
      status,
      `options.${key} = ${JSON.stringify(value)}`,
    ),
  );
  const contradiction = fc
    .tuple(fc.integer({ min: 1, max: MAX_MICROVERSION }), fc.integer({ min: 1, max: MAX_MICROVERSION - 1 }))
    .map(([header, delta]) => {
      const body = (header + delta - 1) % MAX_MICROVERSION + 1;
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !/^(x-openstack-nova-api-version|openstack-api-version)$/i.test(k)));
      return refusal(
        {
          ...edited(req, (b) => {
            const options = (job(b).options ??= {}) as Body;
            options.microversion = `2.${body}`;
          }),
          headers: { ...headers, 'X-OpenStack-Nova-API-Version': `2.${header}` },
        },
        400,
        `options.microversion 2.${body} against header 2.${header}`,
      );
    });
  return fc.oneof(outOfBounds, contradiction);
}

/** More servers than a job takes (the harness allows `maxServers`). */
function tooManyServers(req: ValidRequest, maxServers: number): fc.Arbitrary<Refusal> | undefined {
  if (req.kind !== 'bulk') return undefined;
  return fc.uniqueArray(canonicalUuid, { minLength: maxServers + 1, maxLength: maxServers + 12 }).map((ids) => {
    const have = new Set(req.servers.map((s) => s.id));
    const extra = ids.filter((id) => !have.has(id)).slice(0, Math.max(0, ids.length - req.servers.length));
    return refusal(
      edited(req, (b) => {
        servers(b).push(...extra.map((id) => ({ id })));
      }),
      413,
      `${req.servers.length + extra.length} servers`,
    );
  });
}

/** Over one of Nova's quota-type limits and nothing else: 403 as Nova answers. */
function overQuota(req: ValidRequest): fc.Arbitrary<Refusal> {
  const kinds: [string, unknown][] = [
    ['metadata', objectOf(Array.from({ length: QUOTAS.metadataItems + 1 }, (_, i) => [`k${i}`, 'v']))],
  ];
  if (req.minor <= 56) {
    kinds.push(
      ['personality', Array.from({ length: QUOTAS.files + 1 }, (_, i) => ({ path: `/etc/f${i}`, contents: 'aGk=' }))],
      ['personality', [{ path: '/etc/big', contents: Buffer.alloc(QUOTAS.fileContentBytes + 1, 7).toString('base64') }]],
      ['personality', [{ path: `/${'p'.repeat(QUOTAS.filePathBytes)}`, contents: 'aGk=' }]],
      ['personality', [{ path: `/${'\u00e9'.repeat(128)}`, contents: 'aGk=' }]],
    );
  }
  // A server's own field replaces the shared one, so the limit is put where it cannot be overridden.
  const targets: fc.Arbitrary<Target> =
    req.kind === 'single' ? fc.constant({ at: 'single' }) : fc.integer({ min: 0, max: req.servers.length - 1 }).map<Target>((index) => ({ at: 'server', index }));
  return fc.tuple(targets, fc.constantFrom(...kinds)).map(([t, [field, value]]) =>
    refusal(
      edited(req, (b) => {
        rebuildAt(b, t)[field] = value;
      }),
      403,
      `${where(t)}.${field} over quota`,
    ),
  );
}

/** An Idempotency-Key that is empty, too long or not visible ASCII. */
function badIdempotencyKey(req: ValidRequest): fc.Arbitrary<Refusal> {
  return fc.constantFrom('', ' ', 'a b', 'x'.repeat(256), 'ключ', 'a\tb', '\u007f', 'caf\u00e9').map((key) => {
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.toLowerCase() !== 'idempotency-key'));
    return refusal({ ...req, headers: { ...headers, 'Idempotency-Key': key } }, 400, `Idempotency-Key ${JSON.stringify(key)}`);
  });
}

/** A tenant id the Compute API would not take (an empty one leaves no route: 404). */
function badTenant(req: ValidRequest): fc.Arbitrary<Refusal> {
  return fc.constantFrom<[string, number]>(['ten_ant', 400], ['a.b', 400], ['x'.repeat(256), 400], ['t\u00ebn', 400], ['a b', 400], ['', 404]).map(([tenant, status]) => {
    const rest = req.path.slice(`/v2/${req.tenant}`.length);
    return refusal({ ...req, path: `/v2/${encodeURIComponent(tenant)}${rest}` }, status, `tenant ${JSON.stringify(tenant)}`);
  });
}

/** One thing wrong with a valid request. */
export function nearValidArb(valid: fc.Arbitrary<ValidRequest>, maxServers: number): fc.Arbitrary<Refusal> {
  return valid.chain((req) => {
    const options = [
      wrongValue(req),
      wrongValue(req),
      wrongMicroversion(req),
      unknownKey(req),
      missingImage(req),
      brokenShape(req),
      duplicateServer(req),
      badServerId(req),
      badMicroversionHeader(req),
      badOptions(req),
      tooManyServers(req, maxServers),
      overQuota(req),
      badIdempotencyKey(req),
      badTenant(req),
    ].filter((a): a is fc.Arbitrary<Refusal> => a !== undefined);
    return fc.oneof(...options);
  });
}
