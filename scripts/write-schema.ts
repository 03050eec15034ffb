/**
 * `npm run schema`: writes docs/rebuild-schema.json, the JSON Schema of the rebuild body at its
 * widest (every field some microversion allows), generated from the zod schema the API validates
 * with — the documentation cannot drift from the validation. Which microversion allows which
 * field is in README's table and lib/request/rebuild-schema.ts.
 */
import { writeFileSync } from 'node:fs';
import { rebuildJsonSchema } from '../lib/request/rebuild-schema.js';

const out = 'docs/rebuild-schema.json';
writeFileSync(out, `${JSON.stringify(rebuildJsonSchema(), null, 2)}\n`);
console.log(`wrote ${out}`);
