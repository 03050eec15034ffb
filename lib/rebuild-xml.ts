/**
 * The seed's XML rebuild request (Example 2.30) read into the same object as its JSON form, so
 * both go through one schema. Modern Nova refuses XML (415, 03q); this service still takes it on
 * the drop-in call because the seed's page documents it.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { BadRequestError } from './errors.js';

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
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  maxNestedTags: MAX_DEPTH,
  // Only the five predefined entities and character references are decoded; a DOCTYPE (the only
  // way to declare others, internal or external) is refused before parsing below.
  processEntities: true,
  htmlEntities: false,
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

function text(node: XmlNode): string {
  const t = node['#text'];
  return t === undefined ? '' : String(t);
}

/** Attributes of an element, without namespace declarations. */
function attributes(node: XmlNode): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(node)) {
    if (!k.startsWith('@')) continue;
    const name = k.slice(1);
    if (name === 'xmlns' || name.startsWith('xmlns:')) continue;
    out[name] = String(v);
  }
  return out;
}

function children(node: XmlNode): [string, unknown][] {
  return Object.entries(node).filter(([k]) => !k.startsWith('@') && k !== '#text');
}

/** Parses the seed's XML rebuild into `{"rebuild": {...}}`; throws BadRequestError naming what is wrong. */
export function parseRebuildXml(xml: string): unknown {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) {
    throw new BadRequestError('XML with a DOCTYPE or entity declarations is not accepted.');
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
  if (roots.length !== 1 || rootTag === undefined) throw new BadRequestError('Malformed request body');
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
