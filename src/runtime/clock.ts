/**
 * Time, injected. The runtime reads the time and arms timers only through a
 * {@link Clock}, so tests can move time forward instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Arm a timer; the handle goes back to {@link Clock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Disarm a timer. */
  clearTimeout(handle: unknown): void;
}

/** Node's longest timer (2^31 - 1 ms, about 24.8 days): a longer delay fires at once. */
const MAX_TIMEOUT = 2_147_483_647;

/** A timer longer than Node allows, armed in legs of at most {@link MAX_TIMEOUT}. */
interface LongTimer {
  t: NodeJS.Timeout;
}

/** The real clock. Delays beyond Node's ~24.8-day limit are armed in legs (a 30-day `after` fires after 30 days). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    if (!(ms > MAX_TIMEOUT)) return setTimeout(fn, ms);
    const at = Date.now() + ms;
    const handle: LongTimer = { t: undefined as unknown as NodeJS.Timeout };
    const arm = () => {
      const left = at - Date.now();
      handle.t = left > MAX_TIMEOUT ? setTimeout(arm, MAX_TIMEOUT) : setTimeout(fn, Math.max(0, left));
    };
    arm();
    return handle;
  },
  clearTimeout: (h) => clearTimeout(h && typeof h === 'object' && 't' in h ? (h as LongTimer).t : (h as NodeJS.Timeout)),
};

/**
 * A clock that only moves when told to. Timers fire, in deadline order, during
 * {@link ManualClock.advance} or {@link ManualClock.set}; a timer armed with no
 * delay fires on the next turn of the event loop.
 *
 * @example
 * const clock = new ManualClock(Date.now());
 * const runtime = await createRuntime({ connection, machines, clock });
 * clock.advance(2 * 24 * 3600_000); // two days pass; due timers fire
 */
export class ManualClock implements Clock {
  private current: number;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = Date.now()) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.current + Math.max(0, ms), fn });
    // A timer already due (a restored deadline that passed) fires at once, as on the real clock.
    if (ms <= 0) setImmediate(() => this.set(this.current));
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Move time forward by `ms`, firing every timer that falls due. */
  advance(ms: number): void {
    this.set(this.current + ms);
  }

  /** Move time to `at` (never backwards), firing every timer that falls due. */
  set(at: number): void {
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].at <= at && (!next || entry[1].at < next[1].at)) next = entry;
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.current = Math.max(this.current, next[1].at);
      next[1].fn();
    }
    this.current = Math.max(this.current, at);
  }
}
