/**
 * A small JSON Schema (draft 4) validator that fails the way Nova's does. Nova raises the first
 * error jsonschema 4.10 yields, walking each schema's keywords in the order they were written, and
 * its messages are Python reprs ("'' is too short", "'x' is not a 'uuid'", "Additional properties
 * are not allowed ('flavorRef' was unexpected)"). zod or ajv would validate the same shapes but
 * could not reproduce which error comes first nor its wording, so the schemas here are plain data
 * written in Nova's key order and this walker mirrors jsonschema's.
 */
import { isJsonObject, pyRepr, pySearch, type JsonValue } from './python.js';

export type JsonType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | 'null';

/** A Python regex: its source (for messages) and a test with Python's `re.search` semantics. */
export interface Pattern {
  source: string;
  test(s: string): boolean;
}

/** A pattern whose Python source is also valid JavaScript. */
export function pyPattern(source: string): Pattern {
  const regex = new RegExp(source);
  return { source, test: (s) => pySearch(regex, s) };
}

export interface Schema {
  type?: JsonType | JsonType[];
  enum?: JsonValue[];
  properties?: Record<string, Schema>;
  /** Keys are Python regex sources, matched with `re.search`. */
  patternProperties?: Record<string, Schema>;
  additionalProperties?: boolean;
  required?: string[];
  minLength?: number;
  maxLength?: number;
  pattern?: Pattern;
  format?: string;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  oneOf?: Schema[];
  minimum?: number;
}

/** What a format checker says: valid, or invalid with the message of the exception it raised. */
export type FormatResult = { valid: true } | { valid: false; cause?: string };
export type FormatChecker = (value: JsonValue) => FormatResult;

export interface SchemaError {
  /** Path to the failing value, outermost first (jsonschema's `error.path`). */
  path: (string | number)[];
  instance: JsonValue;
  message: string;
  /** The message of the exception a format checker raised (Nova's InvalidName). */
  cause?: string;
}

function isType(value: JsonValue, type: JsonType): boolean {
  switch (type) {
    case 'object':
      return isJsonObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
  }
}

/** Python `len()` of a str counts code points, not UTF-16 units. */
function pyLen(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function deepEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i] ?? null));
  if (isJsonObject(a) && isJsonObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && deepEqual(a[k] ?? null, b[k] ?? null));
  }
  return false;
}

const compiled = new Map<string, RegExp>();
function searchKey(source: string, key: string): boolean {
  let regex = compiled.get(source);
  if (!regex) {
    regex = new RegExp(source);
    compiled.set(source, regex);
  }
  return pySearch(regex, key);
}

/** Validates like jsonschema's Draft4Validator with Nova's FormatChecker. */
export class SchemaValidator {
  constructor(private readonly formats: Record<string, FormatChecker>) {}

  /** The first error jsonschema would raise, or null. */
  firstError(instance: JsonValue, schema: Schema): SchemaError | null {
    const next = this.iterErrors(instance, schema, []).next();
    return next.done ? null : next.value;
  }

  private *iterErrors(instance: JsonValue, schema: Schema, path: (string | number)[]): Generator<SchemaError> {
    const fail = (message: string, cause?: string): SchemaError =>
      cause === undefined ? { path, instance, message } : { path, instance, message, cause };
    for (const keyword of Object.keys(schema) as (keyof Schema)[]) {
      switch (keyword) {
        case 'type': {
          const types = Array.isArray(schema.type) ? schema.type : [schema.type ?? 'object'];
          if (!types.some((t) => isType(instance, t))) {
            yield fail(`${pyRepr(instance)} is not of type ${types.map((t) => `'${t}'`).join(', ')}`);
          }
          break;
        }
        case 'enum': {
          const options = schema.enum ?? [];
          // jsonschema "unbools" 0/1 so that 1 does not equal True.
          const found = options.some((o) => typeof o === typeof instance && deepEqual(o, instance));
          if (!found) yield fail(`${pyRepr(instance)} is not one of ${pyRepr(options)}`);
          break;
        }
        case 'properties': {
          if (!isJsonObject(instance)) break;
          for (const [name, sub] of Object.entries(schema.properties ?? {})) {
            if (name in instance) yield* this.iterErrors(instance[name] ?? null, sub, [...path, name]);
          }
          break;
        }
        case 'patternProperties': {
          if (!isJsonObject(instance)) break;
          for (const [source, sub] of Object.entries(schema.patternProperties ?? {})) {
            for (const [key, value] of Object.entries(instance)) {
              if (searchKey(source, key)) yield* this.iterErrors(value, sub, [...path, key]);
            }
          }
          break;
        }
        case 'additionalProperties': {
          if (!isJsonObject(instance) || schema.additionalProperties !== false) break;
          const known = schema.properties ?? {};
          const patterns = Object.keys(schema.patternProperties ?? {});
          const extras = Object.keys(instance).filter(
            (k) => !(k in known) && !patterns.some((p) => searchKey(p, k)),
          );
          if (extras.length === 0) break;
          if (schema.patternProperties) {
            const joined = [...extras].sort().map((e) => pyRepr(e)).join(', ');
            const regexes = [...patterns].sort().map((p) => pyRepr(p)).join(', ');
            yield fail(`${joined} ${extras.length === 1 ? 'does' : 'do'} not match any of the regexes: ${regexes}`);
          } else {
            const joined = extras.map((e) => pyRepr(e)).join(', ');
            yield fail(`Additional properties are not allowed (${joined} ${extras.length === 1 ? 'was' : 'were'} unexpected)`);
          }
          break;
        }
        case 'required': {
          if (!isJsonObject(instance)) break;
          for (const name of schema.required ?? []) {
            if (!(name in instance)) yield fail(`${pyRepr(name)} is a required property`);
          }
          break;
        }
        case 'minLength':
          if (typeof instance === 'string' && pyLen(instance) < (schema.minLength ?? 0)) {
            yield fail(`${pyRepr(instance)} is too short`);
          }
          break;
        case 'maxLength':
          if (typeof instance === 'string' && pyLen(instance) > (schema.maxLength ?? Infinity)) {
            yield fail(`${pyRepr(instance)} is too long`);
          }
          break;
        case 'pattern':
          if (typeof instance === 'string' && schema.pattern && !schema.pattern.test(instance)) {
            yield fail(`${pyRepr(instance)} does not match ${pyRepr(schema.pattern.source)}`);
          }
          break;
        case 'format': {
          const checker = this.formats[schema.format ?? ''];
          if (!checker) break;
          const result = checker(instance);
          if (!result.valid) yield fail(`${pyRepr(instance)} is not a ${pyRepr(schema.format ?? '')}`, result.cause);
          break;
        }
        case 'items': {
          if (!Array.isArray(instance) || !schema.items) break;
          for (const [index, item] of instance.entries()) yield* this.iterErrors(item, schema.items, [...path, index]);
          break;
        }
        case 'minItems':
          if (Array.isArray(instance) && instance.length < (schema.minItems ?? 0)) yield fail(`${pyRepr(instance)} is too short`);
          break;
        case 'maxItems':
          if (Array.isArray(instance) && instance.length > (schema.maxItems ?? Infinity)) yield fail(`${pyRepr(instance)} is too long`);
          break;
        case 'uniqueItems':
          if (schema.uniqueItems && Array.isArray(instance)) {
            const unique = instance.every((v, i) => instance.findIndex((w) => deepEqual(v, w)) === i);
            if (!unique) yield fail(`${pyRepr(instance)} has non-unique elements`);
          }
          break;
        case 'oneOf': {
          const subs = schema.oneOf ?? [];
          const valid = subs.filter((sub) => this.firstError(instance, sub) === null);
          if (valid.length === 0) yield fail(`${pyRepr(instance)} is not valid under any of the given schemas`);
          else if (valid.length > 1) yield fail(`${pyRepr(instance)} is valid under each of the given schemas`);
          break;
        }
        case 'minimum':
          if (typeof instance === 'number' && instance < (schema.minimum ?? -Infinity)) {
            yield fail(`${pyRepr(instance)} is less than the minimum of ${schema.minimum}`);
          }
          break;
      }
    }
  }
}
