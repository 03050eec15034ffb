/**
 * Bundles each Lambda entry exactly as the CDK stack does (cdk/bundling.ts) and prints its size,
 * raw and gzipped, against the budget; exits 1 when a bundle is over it.
 *
 *   npx tsx scripts/bundle-sizes.ts            # the deployed bundles (AWS SDK from the runtime)
 *   npx tsx scripts/bundle-sizes.ts --with-sdk # also: what bundling the AWS SDK would weigh
 *
 * Over budget, it lists the packages that weigh most, to show where to cut.
 */
import { arch, cpus, platform } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type Metafile, build, version as esbuildVersion } from 'esbuild';
import { BUNDLE_BUDGETS, ENTRIES, EXTERNAL_MODULES, NEVER_LOADED, PROJECT_ROOT, TARGET, lambdaBuildOptions } from '../cdk/bundling.js';

export interface BundleSize {
  name: string;
  entry: string;
  /** Minified bundle, bytes. */
  bytes: number;
  gzipBytes: number;
  /** Bytes in the bundle per package (or `(project)` for this repository's code). */
  byPackage: [string, number][];
}

/** Bundles one entry in memory with the stack's options; `bundleSdk` includes @aws-sdk/* too. */
export async function measureBundle(name: string, entry: string, options: { bundleSdk?: boolean } = {}): Promise<BundleSize> {
  const result = await build({
    ...lambdaBuildOptions(entry),
    // The stack writes a source map beside the bundle; it is not loaded unless a stack trace is printed.
    sourcemap: false,
    external: options.bundleSdk ? NEVER_LOADED : EXTERNAL_MODULES,
    outfile: join(PROJECT_ROOT, 'index.mjs'),
    write: false,
    metafile: true,
    logLevel: 'error',
  });
  const out = result.outputFiles.find((f) => f.path.endsWith('.mjs'));
  if (!out) throw new Error(`esbuild wrote no bundle for ${entry}`);
  return { name, entry, bytes: out.contents.byteLength, gzipBytes: gzipSync(out.contents).byteLength, byPackage: byPackage(result.metafile) };
}

function byPackage(metafile: Metafile): [string, number][] {
  const sizes = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
      const key = m?.[1] ?? '(project)';
      sizes.set(key, (sizes.get(key) ?? 0) + input.bytesInOutput);
    }
  }
  return [...sizes].sort((a, b) => b[1] - a[1]);
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

async function main(): Promise<number> {
  const withSdk = process.argv.includes('--with-sdk');
  console.log(`esbuild ${esbuildVersion}, target ${TARGET}, ESM, minified, external ${EXTERNAL_MODULES.join(' ')}; Node ${process.version} on ${platform()}/${arch()}, ${cpus()[0]?.model ?? 'unknown CPU'}`);
  console.log(`budgets (minified): ${Object.entries(BUNDLE_BUDGETS).map(([n, b]) => `${n} ${kb(b)}`).join(', ')}\n`);
  const rows: string[][] = [['function', 'entry', 'minified', 'gzip', 'budget']];
  const over: BundleSize[] = [];
  const result: { fn: string; bytes: number; gzipBytes: number; budget: number }[] = [];
  for (const [name, entry] of Object.entries(ENTRIES) as [keyof typeof ENTRIES, string][]) {
    const budget = BUNDLE_BUDGETS[name];
    const size = await measureBundle(name, entry);
    result.push({ fn: name, bytes: size.bytes, gzipBytes: size.gzipBytes, budget });
    const ok = size.bytes <= budget;
    if (!ok) over.push(size);
    rows.push([name, entry, kb(size.bytes), kb(size.gzipBytes), `${kb(budget)}: ${ok ? 'ok' : `OVER by ${kb(size.bytes - budget)}`}`]);
    if (withSdk) {
      const sdk = await measureBundle(name, entry, { bundleSdk: true });
      rows.push([`${name} (SDK bundled, not deployed)`, entry, kb(sdk.bytes), kb(sdk.gzipBytes), sdk.bytes <= budget ? 'would fit' : 'would not fit']);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(rows[0]!));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows.slice(1)) console.log(line(r));
  for (const size of over) {
    console.log(`\n${size.name} is over budget; heaviest packages:`);
    for (const [pkg, bytes] of size.byPackage.slice(0, 8)) console.log(`  ${kb(bytes).padStart(10)}  ${pkg}`);
  }
  console.log(`BENCH_RESULT ${JSON.stringify({ bench: 'bundles', rows: result })}`);
  return over.length === 0 ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
