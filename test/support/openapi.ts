/**
 * docs/openapi.json as the tests hold the API to it: each named schema compiled with a JSON Schema
 * 2020-12 validator (the dialect OpenAPI 3.1 uses), formats checked.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { expect } from 'vitest';
import { PROJECT_ROOT } from '../../cdk/bundling.js';

export const OPENAPI_FILE = join(PROJECT_ROOT, 'docs', 'openapi.json');
export const openApi = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as { components: { schemas: Record<string, object> }; paths: Record<string, any> };

const ajv = new Ajv2020({ allErrors: true, strict: false });
(addFormatsModule as unknown as (a: Ajv2020) => void)(ajv);
const compiled = new Map<string, ReturnType<Ajv2020['compile']>>();

/** The errors of `body` against the document's schema `name` (empty when it conforms). */
export function openApiErrors(name: string, body: unknown): string[] {
  let validate = compiled.get(name);
  if (!validate) {
    const schema = openApi.components.schemas[name];
    if (!schema) throw new Error(`docs/openapi.json has no schema ${name}`);
    validate = ajv.compile(schema);
    compiled.set(name, validate);
  }
  return validate(body) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

/** Asserts `body` conforms to the document's schema `name`. */
export function expectOpenApi(name: string, body: unknown): void {
  expect(openApiErrors(name, body), `${name}: ${JSON.stringify(body).slice(0, 300)}`).toEqual([]);
}
