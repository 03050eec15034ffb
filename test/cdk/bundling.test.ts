/**
 * The one suite that bundles for real: NodejsFunction with the local esbuild (no Docker), as
 * `cdk synth` does. The bundles are loaded in a child Node process to prove the ES module output,
 * its `require` banner and the external AWS SDK resolve.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_BUDGETS, ENTRIES, PROJECT_ROOT } from '../../cdk/bundling.js';
import { measureBundle } from '../../scripts/bundle-sizes.js';
import { type Synthesized, synth } from './support.js';

// Inside the project, so the bundles find the AWS SDK in node_modules as Lambda finds the runtime's.
const outdir = (() => {
  mkdirSync(join(PROJECT_ROOT, 'cdk.out'), { recursive: true });
  return mkdtempSync(join(PROJECT_ROOT, 'cdk.out', 'vitest-bundling-'));
})();
let s: Synthesized;

beforeAll(() => {
  s = synth({}, { bundling: true, outdir });
}, 120_000);
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

type FunctionPath = 'ApiFunction' | 'Worker' | 'Sweeper' | 'Notifications/Notifier';
const FUNCTIONS: [FunctionPath][] = [['ApiFunction'], ['Worker'], ['Sweeper'], ['Notifications/Notifier']];

function bundleDir(construct: FunctionPath): string {
  const node = construct.split('/').reduce((n, id) => n.findChild(id).node, s.stack.node);
  const asset = node.findChild('Function').node.findChild('Code') as Asset;
  return join(outdir, asset.assetPath);
}

describe('bundling with the local esbuild', () => {
  it.each(FUNCTIONS)('%s is one minified ES module with its source map', (construct) => {
    const dir = bundleDir(construct);
    expect(existsSync(join(dir, 'index.mjs'))).toBe(true);
    expect(existsSync(join(dir, 'index.mjs.map'))).toBe(true);
    const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
    expect(code.startsWith("import { createRequire as __createRequire } from 'node:module'")).toBe(true);
    expect(code).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
    // The SDK comes from the runtime: imported, not inlined.
    expect(code).toMatch(/from"@aws-sdk\/client-dynamodb"/);
    const map = JSON.parse(readFileSync(join(dir, 'index.mjs.map'), 'utf8')) as { sources: string[]; sourcesContent?: unknown };
    expect(map.sources.some((src) => src.includes('functions/'))).toBe(true);
    expect(map.sourcesContent).toBeUndefined();
  });

  it.each([['ApiFunction', 'api'], ['Worker', 'worker'], ['Sweeper', 'sweeper'], ['Notifications/Notifier', 'notifier']] as const)(
    '%s is the bundle scripts/bundle-sizes.ts measures, within its budget',
    async (construct, name) => {
      const measured = await measureBundle(name, ENTRIES[name]);
      // The deployed file ends with the source map's link; the script measures the code alone.
      const code = readFileSync(join(bundleDir(construct), 'index.mjs'), 'utf8').replace(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/, '');
      expect(Buffer.byteLength(code)).toBe(measured.bytes);
      expect(measured.bytes).toBeLessThanOrEqual(BUNDLE_BUDGETS[name]);
    },
  );

  it.each(FUNCTIONS)('%s loads in Node and exports its handler', (construct) => {
    const file = pathToFileURL(join(bundleDir(construct), 'index.mjs')).href;
    const out = execFileSync(process.execPath, ['--enable-source-maps', '--no-warnings', '--input-type=module', '-e', `const m = await import(${JSON.stringify(file)}); console.log(typeof m.handler);`], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        PATH: process.env.PATH ?? '',
        AWS_REGION: 'us-east-1',
        TABLE_NAME: 'jobs',
        QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/rebuilds',
        // A fixed endpoint: the worker builds its Compute client at load, and no secret is read.
        COMPUTE_URL: 'https://nova.example.com/v2.1',
        COMPUTE_TOKEN: 'token',
        EVENT_BUS_NAME: 'default',
        POWERTOOLS_METRICS_DISABLED: 'true',
      },
    });
    expect(out.trim()).toBe('function');
  });
});
