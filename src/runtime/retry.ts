/**
 * Run `fn` until it succeeds, waiting 50 ms, then twice as long each time, up
 * to 1 s, between tries (Redis unreachable: commits, effects and in-process
 * deliveries all wait it out this way). Stops and throws when `fatal` says the
 * error is an answer rather than an outage; resolves undefined, without
 * trying again, when `stop` says the work is no longer wanted.
 */
export async function retry<T>(
  fn: () => Promise<T>,
  opts: {
    fatal?: (err: unknown) => boolean;
    stop?: () => boolean;
    /** Aborting it ends the wait between tries: resolves undefined. */
    signal?: AbortSignal;
    onRetry?: (err: unknown, delayMs: number) => void;
  } = {},
): Promise<T | undefined> {
  let delay = 50;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (opts.fatal?.(err)) throw err;
      if (opts.stop?.() || opts.signal?.aborted) return undefined;
      opts.onRetry?.(err, delay);
      await pause(delay, opts.signal);
      if (opts.signal?.aborted) return undefined;
      delay = Math.min(delay * 2, 1000);
    }
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
