// Polling instead of sleeping: tests wait for a condition, never for a duration.
import { inspect } from 'node:util';

export interface WaitOptions {
  /** Give up after this many ms. Default 10_000. */
  timeout?: number;
  /** Delay between attempts in ms. Default 10. */
  interval?: number;
  /** Prefix of the error thrown on timeout. */
  message?: string;
}

const NOTHING = Symbol('nothing');

/**
 * Calls fn until it returns (or resolves to) a truthy value and returns that value.
 * Thrown errors / rejections count as "not yet". A single call that hangs is cut
 * off at the deadline. On timeout throws an Error with `message` plus the last
 * value or error seen.
 */
export async function waitUntil<T>(
  fn: () => T | Promise<T>,
  opts: WaitOptions = {},
): Promise<NonNullable<T>> {
  const timeout = opts.timeout ?? 10_000;
  const interval = opts.interval ?? 10;
  const deadline = Date.now() + timeout;
  let last: unknown = NOTHING;
  let lastError: unknown = NOTHING;

  for (;;) {
    const remaining = deadline - Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const value = await Promise.race([
        Promise.resolve().then(fn),
        new Promise<typeof NOTHING>((resolve) => {
          timer = setTimeout(() => resolve(NOTHING), Math.max(remaining, 0));
        }),
      ]);
      if (value !== NOTHING) {
        if (value) return value as NonNullable<T>;
        last = value;
        lastError = NOTHING;
      }
    } catch (err) {
      lastError = err;
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, Math.min(interval, Math.max(deadline - Date.now(), 0))));
  }

  const parts = [`${opts.message ?? 'waitUntil: condition not met'} (timed out after ${timeout} ms)`];
  if (lastError !== NOTHING) {
    parts.push(`last error: ${lastError instanceof Error ? (lastError.stack ?? lastError.message) : inspect(lastError)}`);
  } else if (last !== NOTHING) {
    parts.push(`last value: ${inspect(last, { depth: 4, breakLength: 120 })}`);
  } else {
    parts.push('fn never completed');
  }
  const error = new Error(parts.join('; '));
  if (lastError instanceof Error) (error as Error & { cause?: unknown }).cause = lastError;
  throw error;
}
