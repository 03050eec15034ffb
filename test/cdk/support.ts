/**
 * Builds the stack as `cdk synth` does (cdk.json's context and feature flags), with parameters
 * overridden per test. Bundling is skipped unless asked for: template assertions do not need the
 * code, and bundling.test.ts proves the bundling itself.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { afterAll } from 'vitest';
import { Template } from 'aws-cdk-lib/assertions';
import { PROJECT_ROOT } from '../../cdk/bundling.js';
import { settingsFromContext } from '../../cdk/config.js';
import { BulkRebuildStack } from '../../cdk/stack.js';

/** cdk.json's context: the feature flags and the example parameters the repository synthesizes with. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  return cdkJson.context;
}

/**
 * Where apps without an outdir of their own write their assembly: one directory per test file,
 * removed after it (CDK's default is a fresh temporary directory per App, never removed: hundreds
 * of them a day in a busy /tmp).
 */
let scratch: string | undefined;
function scratchOutdir(): string {
  scratch ??= mkdtempSync(join(tmpdir(), 'vitest-cdk-'));
  return scratch;
}
afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
});

export interface Synthesized {
  app: App;
  stack: BulkRebuildStack;
  template: Template;
}

/**
 * The stack with cdk.json's context plus `overrides` (`undefined` removes a key).
 * `cfnValidation`: run CDK's built-in CloudFormation checks too (a few seconds).
 */
export function synth(
  overrides: Record<string, unknown> = {},
  options: { bundling?: boolean; outdir?: string; cfnValidation?: boolean } = {},
): Synthesized {
  const context: Record<string, unknown> = { ...cdkJsonContext() };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete context[k];
    else context[k] = v;
  }
  if (!options.bundling) context['aws:cdk:bundling-stacks'] = [];
  const app = new App({
    context,
    builtinCloudFormationValidation: options.cfnValidation ?? false,
    outdir: options.outdir ?? scratchOutdir(),
  });
  const stack = new BulkRebuildStack(app, 'OpenStackBulkRebuild', { settings: settingsFromContext(app.node.getAllContext()) });
  return { app, stack, template: Template.fromStack(stack) };
}

/** The template's resources of one type, by logical id. */
export function resourcesOf(template: Template, type: string): Record<string, { Properties: Record<string, any> }> {
  return template.findResources(type) as Record<string, { Properties: Record<string, any> }>;
}

/** The single resource of a type whose logical id starts with `prefix`. */
export function resource(template: Template, type: string, prefix: string): { Properties: Record<string, any> } {
  const found = Object.entries(resourcesOf(template, type)).filter(([id]) => id.startsWith(prefix));
  if (found.length !== 1) throw new Error(`expected one ${type} named ${prefix}*, found ${found.map(([id]) => id).join(', ') || 'none'}`);
  return found[0]![1];
}
