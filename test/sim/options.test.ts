/** Options: defaults, env for the CLI, and loud refusals of contradictory values. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { optionsFromEnv, resolveOptions } from '../../local/sim/options.js';

describe('simulator options', () => {
  it('defaults to the recordings\' tenant, five servers, port 8775 and the static token', () => {
    const o = resolveOptions();
    expect([o.tenantId, o.serverIds.length, o.port, o.staticToken]).toEqual(['6f70656e737461636b20342065766572', 5, 8775, 'sim-token']);
    expect(o.serverIds[0]).toBe('b9d262ee-902b-4020-8eab-7d99cf420fa3');
    expect(o.quotas).toEqual({ metadataItems: 128, injectedFiles: 5, injectedFileContentBytes: 10240, injectedFilePathBytes: 255 });
  });

  it('gives more servers stable generated ids', () => {
    const a = resolveOptions({ serverCount: 8 }).serverIds;
    expect(a).toHaveLength(8);
    expect(resolveOptions({ serverCount: 8 }).serverIds).toEqual(a);
  });

  it.each([
    [{ tenantId: 'abc', otherTenantId: 'abc' }, /tenantId and otherTenantId/],
    [{ serverIds: ['b9d262ee-902b-4020-8eab-7d99cf420fa3'], serverCount: 2 }, /serverIds has 1 ids but serverCount is 2/],
    [{ tenantId: 'Not Hex' }, /tenantId "Not Hex"/],
    [{ staticToken: '' }, /staticToken is empty/],
    [{ rebuildTiming: { rebuildingMs: -1 } }, /rebuildTiming.rebuildingMs/],
  ])('refuses %j', (options, message) => {
    expect(() => resolveOptions(options)).toThrow(message);
  });

  it('reads COMPUTE_SIM_* for the CLI and refuses a bad port', () => {
    expect(
      optionsFromEnv({ COMPUTE_SIM_PORT: '0', COMPUTE_SIM_SERVERS: '2', COMPUTE_SIM_TENANT: 'abc123', COMPUTE_SIM_TOKEN: 't' }),
    ).toEqual({ port: 0, serverCount: 2, tenantId: 'abc123', staticToken: 't' });
    expect(() => optionsFromEnv({ COMPUTE_SIM_PORT: 'eighty' })).toThrow(/COMPUTE_SIM_PORT="eighty"/);
  });
});

describe('the CLI', () => {
  it('prints its URLs, tenant, servers and credentials, and stops on SIGTERM', async () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/sim/main.ts'], {
      cwd: root,
      env: { ...process.env, COMPUTE_SIM_PORT: '0', COMPUTE_SIM_SERVERS: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`CLI printed: ${out}`)), 20_000);
      child.stdout.on('data', () => {
        if (out.includes('servers')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const code = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await code).toBe(0);
    expect(out).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(out).toContain('6f70656e737461636b20342065766572');
    expect(out).toContain('sim-user / sim-password');
    expect(out).toContain('b9d262ee-902b-4020-8eab-7d99cf420fa3');
  }, 30_000);
});
