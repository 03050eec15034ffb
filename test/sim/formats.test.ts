/** The Python-compatible checks and reprs the simulator's messages are built from. */
import { describe, expect, it } from 'vitest';
import { checkNovaName, isPythonBase64, isPythonIPv4, isPythonIPv6, isUuidLike } from '../../local/sim/formats.js';
import { pyDumps, pyRepr } from '../../local/sim/python.js';

describe('base64 as binascii.a2b_base64 reads it', () => {
  it.each([
    ['aGVsbG8gYmFubmVyCg==', true],
    ['aGVs bG8g\nYmFu', true],
    ['this is not base64!!', false], // 03i: 15 data characters → incorrect padding
    ['abc', false],
    ['abc=', true],
    ['ab==trailing-ignored', true],
    ['a', false],
    ['', true],
  ])('%j → %s', (value, valid) => {
    expect(isPythonBase64(value)).toBe(valid);
  });
});

describe('addresses as ipaddress reads them', () => {
  it.each([
    ['1.2.3.4', true],
    ['1.2.3.999', false],
    ['01.2.3.4', false],
    ['1.2.3', false],
  ])('ipv4 %j → %s', (value, valid) => {
    expect(isPythonIPv4(value)).toBe(valid);
  });

  it.each([
    ['fe80::100', true],
    ['::', true],
    ['::1', true],
    ['1::', true],
    ['1:2:3:4:5:6:7:8', true],
    ['1:2:3:4:5:6:7::', true],
    ['::ffff:1.2.3.4', true],
    ['not:an:ip::x', false],
    ['1:2:3:4:5:6:7:8:9', false],
    ['1::2::3', false],
    [':1:2:3:4:5:6:7', false],
    ['fe80::1%eth0', false],
    ['12345::', false],
  ])('ipv6 %j → %s', (value, valid) => {
    expect(isPythonIPv6(value)).toBe(valid);
  });
});

describe('uuids as oslo.utils reads them', () => {
  it.each([
    ['a2459075-d96c-40d5-893e-577ff92e721c', true],
    ['A2459075D96C40D5893E577FF92E721C', true],
    ['{a2459075-d96c-40d5-893e-577ff92e721c}', true],
    ['urn:uuid:a2459075-d96c-40d5-893e-577ff92e721c', true],
    ['not-a-uuid', false],
    ['a2459075-d96c-40d5-893e-577ff92e721', false],
  ])('%j → %s', (value, valid) => {
    expect(isUuidLike(value)).toBe(valid);
  });
});

describe('names', () => {
  it.each([
    ['foobar', true],
    ['two words', true],
    [' lead', false],
    ['trail ', false],
    ['tab\tinside', false],
    ['ünïcödé', true],
    ['final newline\n', true],
  ])('%j valid → %s', (value, valid) => {
    expect(checkNovaName(value) === null).toBe(valid);
  });
});

describe('Python reprs and json.dumps', () => {
  it('prints dicts, strings, None and booleans like Python', () => {
    expect(pyRepr({ a: "it's", b: null, c: [true, 1.5] })).toBe(`{'a': "it's", 'b': None, 'c': [True, 1.5]}`);
    expect(pyRepr('tab\there\u0001')).toBe("'tab\\there\\x01'");
  });

  it('dumps with spaced separators and escaped non-ASCII', () => {
    expect(pyDumps({ a: [1, 'é'] })).toBe('{"a": [1, "\\u00e9"]}');
  });
});
