import { describe, expect, it } from 'vitest';
import { parseMicroversion } from '../../../lib/request/microversion.js';
import { canonicalUuid, pythonBase64DecodedLength } from '../../../lib/request/nova-formats.js';
import { redactRebuild } from '../../../lib/request/secrets.js';
import { isUuidLike } from '../../../local/sim/formats.js';
import {
  NOVA_DEFAULT_QUOTAS,
  imageIdFromRef,
  quotaViolations,
  rebuildSchemaFor,
} from '../../../lib/request/rebuild-schema.js';

const IMAGE = '70a599e0-31e7-49b7-b260-868f441e862b';
const valid = (mv: string, body: Record<string, unknown>) => rebuildSchemaFor(parseMicroversion(mv)).full.safeParse({ imageRef: IMAGE, ...body }).success;

describe('image references', () => {
  it('accepts a UUID in any case, with or without hyphens, as Nova does', () => {
    expect(canonicalUuid(IMAGE.toUpperCase())).toBe(IMAGE);
    expect(canonicalUuid(IMAGE.replace(/-/g, ''))).toBe(IMAGE);
    expect(canonicalUuid(`{${IMAGE}}`)).toBe(IMAGE);
    expect(canonicalUuid('not-a-uuid')).toBeUndefined();
  });

  it('takes braces only at the ends and urn:/uuid: anywhere, as oslo does, and agrees with the simulator on each', () => {
    const cases: [string, boolean][] = [
      [`{${IMAGE}}`, true],
      [`{{${IMAGE}`, true],
      [`urn:uuid:${IMAGE}`, true],
      [`${IMAGE.slice(0, 8)}urn:${IMAGE.slice(8)}`, true],
      [`${IMAGE.slice(0, 8)}{${IMAGE.slice(9)}`, false],
      [`${IMAGE.slice(0, 8)}}${IMAGE.slice(8)}`, false],
      [`${IMAGE}0`, false],
    ];
    for (const [value, valid] of cases) {
      expect(canonicalUuid(value) !== undefined, value).toBe(valid);
      expect(isUuidLike(value), value).toBe(valid);
    }
  });

  it("normalises the seed's image URL to the image UUID", () => {
    expect(imageIdFromRef(`http://openstack.example.com/v2/32278/images/${IMAGE}`)).toBe(IMAGE);
    expect(imageIdFromRef(`https://glance.example/v2/images/${IMAGE}/`)).toBe(IMAGE);
  });

  it('refuses a URL that does not end in a UUID and other schemes', () => {
    expect(imageIdFromRef('http://openstack.example.com/v2/32278/images/latest')).toBeUndefined();
    expect(imageIdFromRef(`ftp://x/${IMAGE}`)).toBeUndefined();
  });
});

describe("Nova's base64 check (Python's non-strict decodebytes)", () => {
  it('ignores characters outside the alphabet, like the spaces in the seed example', () => {
    expect(pythonBase64DecodedLength('aGVs bG8g YmFu bmVy Cg==')).toBe(13);
  });
  it('refuses a dangling partial quantum', () => {
    expect(pythonBase64DecodedLength('this is not base64!!')).toBeUndefined();
    expect(pythonBase64DecodedLength('abcde')).toBeUndefined();
  });
  it('stops at complete padding', () => {
    expect(pythonBase64DecodedLength('YQ==trailing')).toBe(1);
    expect(pythonBase64DecodedLength('')).toBe(0);
  });
});

describe('the rebuild schema per microversion', () => {
  it('takes personality up to 2.56 and refuses it from 2.57, where user_data arrives', () => {
    const personality = [{ path: '/etc/motd', contents: 'aGk=' }];
    expect(valid('2.56', { personality })).toBe(true);
    expect(valid('2.57', { personality })).toBe(false);
    expect(valid('2.56', { user_data: 'aGk=' })).toBe(false);
    expect(valid('2.57', { user_data: 'aGk=' })).toBe(true);
    expect(valid('2.57', { user_data: null })).toBe(true);
  });

  it('adds description at 2.19, key_name at 2.54, trusted certificates at 2.63', () => {
    expect(valid('2.18', { description: 'x' })).toBe(false);
    expect(valid('2.19', { description: 'x' })).toBe(true);
    expect(valid('2.19', { description: null })).toBe(true);
    expect(valid('2.53', { key_name: 'k' })).toBe(false);
    expect(valid('2.54', { key_name: 'k' })).toBe(true);
    expect(valid('2.62', { trusted_image_certificates: ['a'] })).toBe(false);
    expect(valid('2.63', { trusted_image_certificates: ['a'] })).toBe(true);
    expect(valid('2.63', { trusted_image_certificates: ['a', 'a'] })).toBe(false);
    expect(valid('2.63', { trusted_image_certificates: [] })).toBe(false);
  });

  it('takes a hostname from 2.90 and an FQDN from 2.94', () => {
    expect(valid('2.89', { hostname: 'web-1' })).toBe(false);
    expect(valid('2.90', { hostname: 'web-1' })).toBe(true);
    expect(valid('2.90', { hostname: 'web-1.example.com' })).toBe(false);
    expect(valid('2.94', { hostname: 'web-1.example.com' })).toBe(true);
  });

  it("reads preserve_ephemeral as Nova's boolean: JSON booleans and its string spellings", () => {
    for (const v of [true, false, 'true', 'False', '1', '0', 'on', 'OFF', 'yes', 'No']) expect(valid('2.1', { preserve_ephemeral: v })).toBe(true);
    for (const v of ['maybe', 1, null]) expect(valid('2.1', { preserve_ephemeral: v })).toBe(false);
  });

  it('refuses names with leading or trailing blanks or control characters', () => {
    expect(valid('2.1', { name: 'web 1' })).toBe(true);
    expect(valid('2.1', { name: ' web' })).toBe(false);
    expect(valid('2.1', { name: 'web ' })).toBe(false);
    expect(valid('2.1', { name: 'we\nb' })).toBe(false);
    expect(valid('2.1', { name: 'x'.repeat(255) })).toBe(true);
    expect(valid('2.1', { name: 'x'.repeat(256) })).toBe(false);
  });

  it('refuses unknown keys at both levels and in personality items', () => {
    expect(valid('2.1', { flavorRef: '1' })).toBe(false);
    expect(valid('2.1', { personality: [{ path: '/a', contents: 'aGk=', mode: '0644' }] })).toBe(false);
  });

  it('checks the access addresses are real IPv4 and IPv6 addresses', () => {
    expect(valid('2.1', { accessIPv4: '10.0.0.1', accessIPv6: 'fe80::100' })).toBe(true);
    expect(valid('2.1', { accessIPv4: '1.2.3.999' })).toBe(false);
    expect(valid('2.1', { accessIPv6: 'not:an:ip::x' })).toBe(false);
  });
});

describe('quota-type limits', () => {
  it("uses Nova's defaults and messages", () => {
    const metadata = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, 'v']));
    const files = Array.from({ length: 6 }, (_, i) => ({ path: `/f${i}`, contents: 'aGk=' }));
    expect(quotaViolations({ imageRef: IMAGE, metadata }, NOVA_DEFAULT_QUOTAS).map((v) => v.message)).toEqual([
      'Maximum number of metadata items exceeds 128',
    ]);
    expect(quotaViolations({ imageRef: IMAGE, personality: files }, NOVA_DEFAULT_QUOTAS).map((v) => v.message)).toEqual([
      'Personality file limit exceeded',
    ]);
  });

  it('counts decoded bytes of contents and bytes of paths, with configurable limits', () => {
    const limits = { ...NOVA_DEFAULT_QUOTAS, personalityContentBytes: 2, personalityPathBytes: 4 };
    const v = quotaViolations({ imageRef: IMAGE, personality: [{ path: '/abcd', contents: 'aGk=' }, { path: '/a', contents: 'aGVsbG8=' }] }, limits);
    expect(v).toEqual([
      { path: ['personality', 0, 'path'], message: 'Personality file path exceeds maximum 4' },
      { path: ['personality', 1, 'contents'], message: 'Personality file content exceeds maximum 2' },
    ]);
  });
});

describe('redaction', () => {
  it('keeps no secret: adminPass, personality contents and user_data are replaced', () => {
    const r = redactRebuild({ imageRef: IMAGE, adminPass: 'seekr3t', personality: [{ path: '/p', contents: 'c2VjcmV0' }], user_data: 'c2VjcmV0' });
    expect(JSON.stringify(r)).not.toContain('seekr3t');
    expect(JSON.stringify(r)).not.toContain('c2VjcmV0');
    expect(r).toMatchObject({ adminPass: '***', personality: [{ path: '/p', bytes: 6 }] });
  });
});
