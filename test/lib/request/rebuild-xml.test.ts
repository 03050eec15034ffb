import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRebuildXml } from '../../../lib/request/rebuild-xml.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', name), 'utf8');

describe('the seed XML rebuild request', () => {
  it('parses Example 2.30 into the same request as its JSON form', () => {
    const json = JSON.parse(fixture('seed-rebuild.json')) as { rebuild: { personality: { contents: string }[] } };
    expect(parseRebuildXml(fixture('seed-rebuild.xml'))).toEqual({
      rebuild: {
        name: 'foobar',
        imageRef: 'http://openstack.example.com/v1.1/32278/images/70a599e0-31e7-49b7-b260-868f441e862b',
        accessIPv4: '1.2.3.4',
        accessIPv6: 'fe80::100',
        adminPass: 'seekr3t',
        metadata: { 'My Server Name': 'Apache1' },
        // The same bytes as the JSON example's contents: line breaks and spaces are layout.
        personality: [{ path: '/etc/banner.txt', contents: json.rebuild.personality[0]?.contents.replace(/\s/g, '') }],
      },
    });
  });

  it('reads a prefixed root element and the predefined entities', () => {
    expect(parseRebuildXml('<c:rebuild xmlns:c="http://docs.openstack.org/compute/api/v1.1" imageRef="x" name="a &amp; b"/>')).toEqual({
      rebuild: { imageRef: 'x', name: 'a & b' },
    });
  });

  it('names an unknown root element as Nova names an unknown action', () => {
    expect(() => parseRebuildXml('<reboot type="HARD"/>')).toThrow('There is no such action: reboot');
  });
});

describe('hostile XML', () => {
  it('refuses the billion laughs before expanding anything', () => {
    const lol = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`).join('')}]><rebuild name="&lol9;"/>`;
    expect(() => parseRebuildXml(lol)).toThrow(/DOCTYPE/);
  });

  it('refuses an external entity', () => {
    const xxe = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rebuild name="&x;" imageRef="x"/>';
    expect(() => parseRebuildXml(xxe)).toThrow(/DOCTYPE/);
  });

  it('refuses deep nesting and malformed documents with a 400', () => {
    for (const doc of ['<a>'.repeat(5000) + '</a>'.repeat(5000), '<rebuild><metadata>', '<rebuild name="x" name="y"/>', '']) {
      try {
        parseRebuildXml(doc);
        expect.unreachable(`accepted ${doc.slice(0, 30)}`);
      } catch (err) {
        expect((err as { statusCode?: number }).statusCode).toBe(400);
      }
    }
  });

  it('reads a large but honest document in bounded time', () => {
    const meta = Array.from({ length: 5000 }, (_, i) => `<meta key="k${i}">v</meta>`).join('');
    const parsed = parseRebuildXml(`<rebuild imageRef="x"><metadata>${meta}</metadata></rebuild>`) as { rebuild: { metadata: object } };
    expect(Object.keys(parsed.rebuild.metadata)).toHaveLength(5000);
  });
});
