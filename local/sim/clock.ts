/**
 * Time for the simulator. Every state change is derived from `now()` when it is read (a rebuild's
 * task_state is computed from its start time and the configured durations), so a test moves a
 * clock instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to; the default start is the day the recordings were made. */
export class ManualClock implements Clock {
  private current: number;

  constructor(startMs: number = Date.UTC(2026, 10, 27, 2, 0, 0)) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  /** Moves the clock forward by `ms` (never backwards: state derived from time assumes it only grows). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`ManualClock.advance needs ms >= 0, got ${ms}`);
    this.current += ms;
  }
}

/**
 * Wraps the clock the simulator was given with an offset, so `advanceClock` (and the admin HTTP
 * endpoint a separate process uses) works even on the wall clock.
 */
export class OffsetClock implements Clock {
  constructor(
    private readonly base: Clock,
    /** Where this clock starts from the base: a cloud whose clock is off (negative: behind). */
    private offsetMs = 0,
  ) {}

  now(): number {
    return this.base.now() + this.offsetMs;
  }

  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`advanceClock needs ms >= 0, got ${ms}`);
    this.offsetMs += ms;
  }
}
