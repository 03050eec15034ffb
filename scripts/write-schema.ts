/**
 * `npm run schema`: writes docs/rebuild-schema.json, the JSON Schema of the rebuild body at its
 * widest (every field some microversion allows), and docs/openapi.json, the OpenAPI 3.1 document of
 * the whole API; both generated from the zod schemas the API validates with — the documentation
 * cannot drift from the validation (the tests check both files are current). Which microversion
 * allows which field is in README's table and lib/request/rebuild-schema.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { openApiDocument } from '../lib/request/openapi.js';
import { rebuildJsonSchema } from '../lib/request/rebuild-schema.js';

const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
for (const [out, doc] of [
  ['docs/rebuild-schema.json', rebuildJsonSchema()],
  ['docs/openapi.json', openApiDocument(version)],
] as const) {
  writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`);
  console.log(`wrote ${out}`);
}
