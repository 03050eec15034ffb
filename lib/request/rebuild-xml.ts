/**
 * The seed's XML rebuild request (Example 2.30) read into the same object as its JSON form, so
 * both go through one schema. Modern Nova refuses XML (415, 03q); this service still takes it on
 * the drop-in call because the seed's page documents it.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { BadRequestError } from '../errors.js';

/**
 * A rebuild document is a root element, two lists and a handful of attributes; 16 levels is far
 * past any honest one and stops a deeply nested document before it costs anything.
 */
const MAX_DEPTH = 16;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  textNodeName: '#text',
  parseTagValue: false,
  parseAttributeValue: false,
  // Values are data (a password may begin with a space); layout whitespace between elements is
  // dropped where it is read.
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  maxNestedTags: MAX_DEPTH,
  // References are decoded here, in one pass (decodeXml), so that "&amp;#33;" stays "&#33;" and
  // an undefined entity is an error rather than text. A DOCTYPE, the only way to declare
  // entities (internal or external), is refused before parsing.
  processEntities: false,
  isArray: (tag) => localName(tag) === 'meta' || localName(tag) === 'file',
});

function localName(tag: string): string {
  const i = tag.indexOf(':');
  return i === -1 ? tag : tag.slice(i + 1);
}

type XmlNode = Record<string, unknown>;

function asNode(value: unknown): XmlNode {
  return value !== null && typeof value === 'object' ? (value as XmlNode) : { '#text': value ?? '' };
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Decodes XML's predefined entities and character references; anything else is malformed. */
function decodeXml(raw: string): string {
  return raw.replace(/&([^;&\s]*);?/g, (whole, name: string) => {
    if (!whole.endsWith(';')) throw new BadRequestError('Malformed request body: a bare "&" in XML.');
    const predefined = PREDEFINED[name];
    if (predefined !== undefined) return predefined;
    const num = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(name);
    if (num) {
      const code = num[1] !== undefined ? parseInt(num[1], 16) : Number(num[2]);
      // XML 1.0's Char production: no NUL, no other C0 control but tab, LF, CR, no surrogates.
      const allowed = code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
      if (!allowed) throw new BadRequestError(`Malformed request body: character reference ${whole} is not an XML character.`);
      return String.fromCodePoint(code);
    }
    throw new BadRequestError(`Malformed request body: undefined entity ${whole.slice(0, 40)}.`);
  });
}

function text(node: XmlNode): string {
  const t = node['#text'];
  return t === undefined ? '' : decodeXml(String(t));
}

/** Attributes of an element, without namespace declarations. */
function attributes(node: XmlNode): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(node)) {
    if (!k.startsWith('@')) continue;
    const name = k.slice(1);
    if (name === 'xmlns' || name.startsWith('xmlns:')) continue;
    const value = String(v);
    if (value.includes('<')) throw new BadRequestError(`Malformed request body: "<" in the value of attribute ${name}.`);
    out[name] = decodeXml(value);
  }
  return out;
}

function children(node: XmlNode): [string, unknown][] {
  return Object.entries(node).filter(([k]) => !k.startsWith('@') && k !== '#text');
}

/**
 * The document without its processing instructions and comments, checking each comment on the way
 * (XML 1.0 allows no "--" inside one). One pass: every search starts where the last one ended, so
 * the time is linear in the length whatever the document holds — a body of unclosed "<?" or "<!--"
 * costs no more than any other.
 */
function withoutPisAndComments(xml: string): string {
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    const lt = xml.indexOf('<', i);
    if (lt < 0) break;
    const skip = (open: string, close: string, what: string): number => {
      const end = xml.indexOf(close, lt + open.length);
      if (end < 0) throw new BadRequestError(`Malformed request body: an unterminated XML ${what}.`);
      return end;
    };
    if (xml.startsWith('<?', lt)) {
      parts.push(xml.slice(i, lt));
      i = skip('<?', '?>', 'processing instruction') + 2;
    } else if (xml.startsWith('<!--', lt)) {
      const end = skip('<!--', '-->', 'comment');
      // The first "--" after the opening is the closing one's, unless the comment holds one.
      if (xml.indexOf('--', lt + 4) < end || xml[end - 1] === '-') throw new BadRequestError('Malformed request body: "--" inside an XML comment.');
      parts.push(xml.slice(i, lt));
      i = end + 3;
    } else if (xml.startsWith('<![CDATA[', lt)) {
      const end = skip('<![CDATA[', ']]>', 'CDATA section') + 3;
      parts.push(xml.slice(i, end));
      i = end;
    } else {
      parts.push(xml.slice(i, lt + 1));
      i = lt + 1;
    }
  }
  parts.push(xml.slice(i));
  return parts.join('');
}

/** Parses the seed's XML rebuild into `{"rebuild": {...}}`; throws BadRequestError naming what is wrong. */
export function parseRebuildXml(xml: string): unknown {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) {
    throw new BadRequestError('XML with a DOCTYPE or entity declarations is not accepted.');
  }
  // XML 1.0 allows no C0 control characters but tab, LF and CR.
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/.test(xml)) {
    throw new BadRequestError('Malformed request body: a control character in XML.');
  }
  // Nothing but markup may stand before or after the root element (the parser would drop it).
  const bare = withoutPisAndComments(xml).trim();
  if (!bare.startsWith('<') || !bare.endsWith('>')) {
    throw new BadRequestError('Malformed request body: an XML document has one root element and nothing after it.');
  }
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new BadRequestError(`Malformed request body: ${valid.err.msg} (line ${valid.err.line})`);
  }
  let doc: XmlNode;
  try {
    doc = parser.parse(xml) as XmlNode;
  } catch (err) {
    throw new BadRequestError(`Malformed request body: ${(err as Error).message}`, { cause: err });
  }
  const roots = children(doc);
  const [rootTag, rootValue] = roots[0] ?? [];
  // One root element and nothing but whitespace around it.
  if (roots.length !== 1 || rootTag === undefined || String(doc['#text'] ?? '').trim() !== '' || Array.isArray(rootValue)) {
    throw new BadRequestError('Malformed request body: an XML document has one root element and nothing after it.');
  }
  if (localName(rootTag) !== 'rebuild') throw new BadRequestError(`There is no such action: ${localName(rootTag)}`);

  const root = asNode(rootValue);
  const rebuild: Record<string, unknown> = { ...attributes(root) };
  for (const [tag, value] of children(root)) {
    const name = localName(tag);
    const node = asNode(value);
    if (name === 'metadata') {
      const metadata: Record<string, string> = {};
      for (const meta of (node[Object.keys(node).find((k) => localName(k) === 'meta') ?? 'meta'] as unknown[] | undefined) ?? []) {
        const m = asNode(meta);
        const key = attributes(m).key;
        if (key === undefined) throw new BadRequestError('Invalid input for field/attribute metadata. Every <meta> needs a key attribute.');
        metadata[key] = text(m);
      }
      rebuild.metadata = metadata;
    } else if (name === 'personality') {
      const files = (node[Object.keys(node).find((k) => localName(k) === 'file') ?? 'file'] as unknown[] | undefined) ?? [];
      rebuild.personality = files.map((file) => {
        const f = asNode(file);
        // Base64 in XML is wrapped over several lines (the seed's example); the line breaks and
        // indentation are layout, not data.
        return { path: attributes(f).path, contents: text(f).replace(/\s+/g, '') };
      });
    } else {
      // Any other child is read as a field of that name, so the schema names it if unknown.
      rebuild[name] = text(node);
    }
  }
  return { rebuild };
}
