/**
 * How long each rebuild takes. Without a spread every rebuild has the configured phase durations
 * (01e's proportions); with `rebuildTiming.spread` (benchmarks) each rebuild's three phases are
 * scaled by one factor: uniform in [minFactor, maxFactor], or tailFactor for a seeded tailFraction
 * of rebuilds, drawn in the order rebuilds are accepted, so a run with the same seed and the same
 * order of rebuilds gets the same durations.
 */
import type { RebuildSpread, RebuildTiming, ResolvedOptions } from '../options.js';

/** mulberry32: a small, fast, seedable generator of uniform numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class RebuildTimer {
  private readonly random: (() => number) | null;

  constructor(private readonly options: Pick<ResolvedOptions, 'rebuildTiming' | 'rebuildSpread'>) {
    const spread = options.rebuildSpread;
    this.random = spread ? seededRandom(spread.seed ?? DEFAULT_SPREAD_SEED) : null;
  }

  /** The factor the next rebuild's phases are scaled by (1 without a spread). */
  private nextFactor(spread: RebuildSpread | null): number {
    if (!spread || !this.random) return 1;
    if (this.random() < spread.tailFraction) return spread.tailFactor;
    return spread.minFactor + this.random() * (spread.maxFactor - spread.minFactor);
  }

  /** The phase durations of the rebuild being accepted now. */
  next(): RebuildTiming {
    const base = this.options.rebuildTiming;
    const factor = this.nextFactor(this.options.rebuildSpread);
    if (factor === 1) return { ...base };
    return {
      rebuildingMs: base.rebuildingMs * factor,
      blockDeviceMappingMs: base.blockDeviceMappingMs * factor,
      spawningMs: base.spawningMs * factor,
    };
  }
}

/** The seed when a spread names none. */
export const DEFAULT_SPREAD_SEED = 20261201;
