/**
 * What surrounds a body: Content-Types, microversion and Idempotency-Key headers, other headers,
 * paths and methods — each with the answer the documented rules give where they give one.
 */
import fc from 'fast-check';
import { MAX_MICROVERSION } from '../harness.js';
import { type ValidRequest, canonicalUuid, serverIdArb, tenantArb } from './rebuild.js';
import { smallValidArb } from './hostile.js';
import { type RawRequest, rawOf } from './requests.js';

function withoutHeaders(headers: Record<string, string>, pattern: RegExp): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !pattern.test(k)));
}

// ---------------------------------------------------------------------------------------------
// Content-Type

/** How the service must read a Content-Type (README; Nova 03p, 03q, 03r): JSON, XML on the seed call only, or 415. */
export function expectedMediaType(contentType: string | undefined, kind: 'single' | 'bulk'): 'json' | 'xml' | 415 {
  const media = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (media === '' || media === 'application/json' || media === 'text/plain') return 'json';
  if (kind === 'single' && (media === 'application/xml' || media === 'text/xml')) return 'xml';
  return 415;
}

const contentTypeArb: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constantFrom(
    'application/xml',
    'text/xml; charset=utf-8',
    'text/html',
    'multipart/form-data; boundary=x',
    'application/x-www-form-urlencoded',
    'application/jsonx',
    'application/json-patch+json',
    'application/vnd.api+json',
    'application/octet-stream',
    'text/json',
    'json',
    '*/*',
    'application/*',
    'application/json, text/plain',
    ';',
    'APPLICATION/JSON; charset=utf-16',
    'text/plain;',
    undefined,
  ),
  fc.string({ unit: 'binary-ascii', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
);

export const contentTypeCaseArb: fc.Arbitrary<{ req: ValidRequest; contentType: string | undefined; request: RawRequest }> = fc
  .tuple(smallValidArb, contentTypeArb)
  .map(([req, contentType]) => {
    const headers = withoutHeaders(req.headers, /^content-type$/i);
    if (contentType !== undefined) headers['Content-Type'] = contentType;
    return { req, contentType, request: rawOf({ ...req, headers }) };
  });

// ---------------------------------------------------------------------------------------------
// Microversion headers

/** A version string and what it means: a supported 2.N, unsupported (406) or malformed (400). */
type VersionValue = { text: string; means: number | 400 | 406 };

const versionValueArb: fc.Arbitrary<VersionValue> = fc.oneof(
  fc.integer({ min: 1, max: MAX_MICROVERSION }).map((n) => ({ text: `2.${n}`, means: n })),
  fc.constantFrom('latest', 'LATEST', 'Latest').map((text) => ({ text, means: MAX_MICROVERSION })),
  fc.integer({ min: MAX_MICROVERSION + 1, max: 1_000_000 }).map((n) => ({ text: `2.${n}`, means: 406 as const })),
  fc.constantFrom('2.0', '2.99999999999999999999', '3.1', '1.1', '9.96', '12.3').map((text) => ({ text, means: 406 as const })),
  // Malformed, by Nova's own pattern ^([1-9]\d*)\.([1-9]\d*|0)$: leading zeros too ("0.1", "2.05").
  fc.constantFrom('0.1', '2.05', '02.1', '2.', '.1').map((text) => ({ text, means: 400 as const })),
  fc
    .string({ unit: 'grapheme', maxLength: 12 })
    .filter((s) => /^[^\s,]+$/.test(s) && !/^(\d+\.\d+|latest)$/i.test(s))
    .map((text) => ({ text, means: 400 as const })),
);

export interface VersionCase {
  req: ValidRequest;
  request: RawRequest;
  /** The microversion the job must run at, or the refusal's status. */
  means: number | 400 | 406;
  what: string;
}

/**
 * The microversion headers as Nova reads them: `OpenStack-API-Version: compute V` (among other
 * services) wins over `X-OpenStack-Nova-API-Version: V`; neither means 2.1.
 */
export const versionCaseArb: fc.Arbitrary<VersionCase> = fc
  .tuple(
    smallValidArb,
    versionValueArb,
    versionValueArb,
    fc.constantFrom('legacy', 'modern', 'both', 'modern-other-service+legacy', 'none'),
    fc.constantFrom('compute %', 'volume 3.1, compute %', 'compute %, volume 3.27', 'COMPUTE %'),
    fc.constantFrom('', ' ', '\t'),
  )
  .map(([base, legacy, modern, which, form, pad]) => {
    const headers = withoutHeaders(base.headers, /^(x-openstack-nova-api-version|openstack-api-version)$/i);
    let means: number | 400 | 406 = 1;
    if (which === 'legacy' || which === 'both' || which === 'modern-other-service+legacy') {
      headers['X-OpenStack-Nova-API-Version'] = pad + legacy.text + pad;
      means = legacy.means;
    }
    if (which === 'modern' || which === 'both') {
      headers['OpenStack-API-Version'] = form.replace('%', modern.text);
      means = modern.means;
    }
    if (which === 'modern-other-service+legacy') headers['OpenStack-API-Version'] = 'volume 3.1, placement 1.30';
    // A bulk job names its microversion in the header only here; the body's fields are valid at every one.
    const req: ValidRequest = { ...base, headers };
    if (req.kind === 'bulk') {
      const job = { ...(req.body.rebuildJob as Record<string, unknown>) };
      delete job.options;
      req.body = { rebuildJob: job };
    }
    return { req, request: rawOf(req), means, what: `${which}: ${JSON.stringify(headers)}` };
  });

// ---------------------------------------------------------------------------------------------
// Idempotency-Key

export interface KeyCase {
  req: ValidRequest;
  request: RawRequest;
  valid: boolean;
}

const VISIBLE_ASCII = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i));

/** 1–255 visible ASCII characters; anything else is refused (400). */
export const keyCaseArb: fc.Arbitrary<KeyCase> = fc
  .tuple(
    smallValidArb,
    fc.oneof(
      fc.string({ unit: fc.constantFrom(...VISIBLE_ASCII), minLength: 1, maxLength: 255 }).map((key) => ({ key, valid: true })),
      fc.constantFrom(1, 255).chain((n) => fc.string({ unit: fc.constantFrom(...VISIBLE_ASCII), minLength: n, maxLength: n })).map((key) => ({ key, valid: true })),
      fc.constant({ key: '', valid: false }),
      fc.integer({ min: 256, max: 2000 }).map((n) => ({ key: 'k'.repeat(n), valid: false })),
      fc
        .tuple(fc.string({ unit: fc.constantFrom(...VISIBLE_ASCII), maxLength: 20 }), fc.constantFrom(' ', '\t', '\u007f', '\u0000', 'é', '\u00a0', '\u{1f511}', '\r\n'), fc.string({ unit: fc.constantFrom(...VISIBLE_ASCII), maxLength: 20 }))
        .map(([a, bad, b]) => ({ key: a + bad + b, valid: false })),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).map((key) => ({ key, valid: /^[\x21-\x7e]{1,255}$/.test(key) })),
    ),
  )
  .map(([base, { key, valid }]) => {
    const headers = { ...withoutHeaders(base.headers, /^idempotency-key$/i), 'Idempotency-Key': key };
    const req = { ...base, headers };
    return { req, request: rawOf(req), valid };
  });

// ---------------------------------------------------------------------------------------------
// Other headers

const headerNameArb = fc.oneof(
  fc.constantFrom('X-Forwarded-Proto', 'X-Forwarded-For', 'Host', 'Accept', 'Accept-Language', 'X-Auth-Token', 'X-Local-Principal', 'Content-Length', 'Transfer-Encoding', 'Content-Encoding', 'X-Amzn-Trace-Id', 'Authorization'),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 20 }).filter((n) => !/^(content-type|idempotency-key|x-openstack-nova-api-version|openstack-api-version)$/i.test(n)),
);

/** A valid request with headers that mean nothing to the service, some with hostile values. */
export const headerNoiseArb: fc.Arbitrary<{ req: ValidRequest; request: RawRequest }> = fc
  .tuple(smallValidArb, fc.dictionary(headerNameArb, fc.string({ unit: 'binary', maxLength: 60 }), { maxKeys: 6, noNullPrototype: true }))
  .map(([base, extra]) => {
    const headers = { ...extra, ...base.headers };
    const req = { ...base, headers };
    return { req, request: rawOf(req) };
  });

// ---------------------------------------------------------------------------------------------
// Paths and methods

const segmentArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('v2', 'v2.1', 'v1', 'servers', 'rebuild-jobs', 'action', 'os-instance-actions', 'detail', 'flavors', '..', '.', '') },
  { weight: 3, arbitrary: tenantArb },
  { weight: 3, arbitrary: serverIdArb.map((s) => encodeURIComponent(s.rendered)) },
  { weight: 1, arbitrary: canonicalUuid },
  // Anything but a slash or a percent sign (percent-encoding has its own property).
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => s.replace(/[/%]/g, '')) },
);

const methodArb = fc.oneof(
  fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'post', 'Get'),
  fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'), minLength: 1, maxLength: 10 }),
);

const routeShapedPath: fc.Arbitrary<string> = fc
  .tuple(tenantArb, serverIdArb, canonicalUuid, fc.constantFrom('single', 'bulk', 'job', 'job-action', 'job-servers'))
  .map(([tenant, server, job, route]) => {
    switch (route) {
      case 'single':
        return `/v2/${tenant}/servers/${encodeURIComponent(server.rendered)}/action`;
      case 'bulk':
        return `/v2/${tenant}/rebuild-jobs`;
      case 'job':
        return `/v2/${tenant}/rebuild-jobs/${job}`;
      case 'job-action':
        return `/v2/${tenant}/rebuild-jobs/${job}/action`;
      case 'job-servers':
        return `/v2/${tenant}/rebuild-jobs/${job}/servers`;
    }
  });

export const pathArb: fc.Arbitrary<string> = fc.oneof(
  routeShapedPath,
  fc.tuple(fc.array(segmentArb, { maxLength: 7 }), fc.constantFrom('/', '', '//'), fc.constantFrom('', '/')).map(([segs, lead, trail]) => lead + segs.join('/') + trail),
  routeShapedPath.chain((p) => fc.constantFrom(`${p}/`, `${p}//`, `/${p}`, p.replace('/v2/', '/v2//'), p.toUpperCase(), `${p}/extra`)),
);

export const pathCaseArb: fc.Arbitrary<RawRequest> = fc
  .tuple(methodArb, pathArb, fc.oneof(smallValidArb.map((r) => rawOf(r).body), fc.constant(undefined), fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v))))
  .map(([method, path, body]) => ({ method, path, headers: { 'Content-Type': 'application/json' }, ...(body !== undefined ? { body } : {}) }));

/** Percent-encoding in a path segment: valid escapes (of anything, in UTF-8) and malformed ones. */
const escapeArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }).map((s) => encodeURIComponent(s)),
  fc.constantFrom('%', '%4', '%zz', '%%', '%E0%A4%A', '%C3', '%C3%28', '%ED%A0%80', '%F4%90%80%80', '%C0%AF', '%FF', '%u0041', '%2F', '%00', '%25'),
);

export const percentPathArb: fc.Arbitrary<RawRequest> = fc
  .tuple(
    fc.constantFrom('tenant', 'server', 'job'),
    escapeArb,
    fc.nat(),
    serverIdArb,
    fc.constantFrom('GET', 'POST'),
    smallValidArb,
  )
  .map(([where, escape, at, server, method, valid]) => {
    const tenant = 'tenant-a';
    const insert = (s: string) => s.slice(0, at % (s.length + 1)) + escape + s.slice(at % (s.length + 1));
    const path =
      where === 'tenant'
        ? `/v2/${insert(tenant)}/servers/${server.rendered}/action`
        : where === 'server'
          ? `/v2/${tenant}/servers/${insert(server.rendered)}/action`
          : `/v2/${tenant}/rebuild-jobs/${insert(server.id)}`;
    const body = valid.kind === 'single' ? rawOf(valid).body : JSON.stringify({ rebuild: { imageRef: server.id } });
    return { method, path, headers: { 'Content-Type': 'application/json' }, ...(method === 'POST' ? { body } : {}) };
  });
