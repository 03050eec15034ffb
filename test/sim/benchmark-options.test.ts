/** The two options for benchmarks: a spread of rebuild durations, and answer latencies. */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, startComputeSimulator, type ComputeSimulator } from '../../local/sim/index.js';
import { RebuildTimer } from '../../local/sim/nova/rebuild-timing.js';
import { resolveOptions } from '../../local/sim/options.js';
import { call, getServer, postRebuild } from './helpers.js';

const BASE = { rebuildingMs: 1000, blockDeviceMappingMs: 200, spawningMs: 300 };
const SPREAD = { minFactor: 0.5, maxFactor: 2, tailFraction: 0.1, tailFactor: 10 };

let sim: ComputeSimulator | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

describe('rebuildTiming.spread', () => {
  const factors = (seed: number, n: number): number[] => {
    const timer = new RebuildTimer(resolveOptions({ rebuildTiming: { ...BASE, spread: { ...SPREAD, seed } } }));
    return Array.from({ length: n }, () => {
      const t = timer.next();
      const factor = t.rebuildingMs / BASE.rebuildingMs;
      // One factor scales all three phases.
      expect([t.blockDeviceMappingMs, t.spawningMs]).toEqual([BASE.blockDeviceMappingMs * factor, BASE.spawningMs * factor]);
      return factor;
    });
  };

  it('scales each rebuild by a uniform factor, or the tail factor for a seeded share of rebuilds', () => {
    const drawn = factors(7, 2000);
    const tail = drawn.filter((f) => f === 10);
    const body = drawn.filter((f) => f !== 10);
    expect(body.every((f) => f >= 0.5 && f <= 2)).toBe(true);
    expect(tail.length).toBeGreaterThan(2000 * 0.1 * 0.7);
    expect(tail.length).toBeLessThan(2000 * 0.1 * 1.3);
    expect(Math.min(...body)).toBeLessThan(0.6);
    expect(Math.max(...body)).toBeGreaterThan(1.9);
    expect(factors(7, 50)).toEqual(drawn.slice(0, 50));
    expect(factors(8, 50)).not.toEqual(drawn.slice(0, 50));
  });

  it('defaults to none: every rebuild takes the configured durations', () => {
    const timer = new RebuildTimer(resolveOptions({ rebuildTiming: BASE }));
    expect([timer.next(), timer.next()]).toEqual([BASE, BASE]);
  });

  it('stretches a rebuild through the API', async () => {
    const clock = new ManualClock();
    sim = await startComputeSimulator({ port: 0, clock, rebuildTiming: { ...BASE, spread: { minFactor: 2, maxFactor: 2, tailFraction: 0, tailFactor: 1 } } });
    const id = sim.serverIds[0] ?? '';
    expect((await postRebuild(sim, id)).status).toBe(202);
    clock.advance(2999);
    expect((await getServer(sim, id)).status).toBe('REBUILD');
    clock.advance(1);
    expect((await getServer(sim, id)).status).toBe('ACTIVE');
  });

  it.each([
    [{ ...SPREAD, minFactor: 3 }, /minFactor \(3\) is above maxFactor \(2\)/],
    [{ ...SPREAD, tailFraction: 1.5 }, /tailFraction must be within 0\.\.1/],
    [{ ...SPREAD, tailFactor: -1 }, /tailFactor must be a number >= 0/],
    [{ ...SPREAD, seed: 1.5 }, /seed must be an integer/],
  ])('refuses the spread %j', (spread, message) => {
    expect(() => resolveOptions({ rebuildTiming: { spread } })).toThrow(message);
  });
});

describe('latencyMs', () => {
  it('answers late, without blocking, after acting on arrival', async () => {
    sim = await startComputeSimulator({ port: 0, clock: new ManualClock(), latencyMs: { compute: 300 } });
    const [id = '', other = ''] = sim.serverIds;
    const started = performance.now();
    const pending = postRebuild(sim, id);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Accepted already: the state changed when the request arrived.
    expect(sim.rebuildCount(id)).toBe(1);
    expect(sim.server(id).status).toBe('REBUILD');
    // Other requests are not held behind it: both are answered about 300 ms after their own arrival.
    const second = postRebuild(sim, other);
    expect((await pending).status).toBe(202);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect((await second).status).toBe(202);
    expect(performance.now() - started).toBeLessThan(900);
    // Identity has its own latency, 0 here.
    const t0 = performance.now();
    await call(sim, 'GET', '/identity/v3');
    expect(performance.now() - t0).toBeLessThan(250);
  });

  it('adds jitter, uniform within ± jitter', async () => {
    sim = await startComputeSimulator({ port: 0, clock: new ManualClock(), latencyMs: { image: 100, jitter: 80 } });
    const times: number[] = [];
    for (let i = 0; i < 12; i++) {
      const t0 = performance.now();
      await call(sim, 'GET', '/image/v2/images', { headers: { 'X-Auth-Token': sim.staticToken ?? '' } });
      times.push(performance.now() - t0);
    }
    expect(Math.min(...times)).toBeGreaterThanOrEqual(15);
    expect(Math.max(...times)).toBeLessThan(400);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(10);
  });

  it('refuses a negative latency', () => {
    expect(() => resolveOptions({ latencyMs: { compute: -5 } })).toThrow(/latencyMs.compute/);
  });
});
