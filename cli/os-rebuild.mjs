#!/usr/bin/env node
// `os-rebuild` (package.json "bin"): the TypeScript CLI run through tsx's loader, which this
// checkout installs; `npx os-rebuild --help` from the checkout, or `npm install -g .` to have it on PATH.
import { register } from 'tsx/esm/api';

register();
const { run, processIo } = await import('./main.ts');
process.exitCode = await run(process.argv.slice(2), processIo);
