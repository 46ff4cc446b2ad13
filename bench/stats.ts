/**
 * Timing and statistics helpers for the benchmark: monotonic clock,
 * percentiles, rates and a small concurrency limiter.
 */

/** Monotonic time in nanoseconds (process.hrtime.bigint). */
export const now = (): bigint => process.hrtime.bigint();

/** Nanoseconds between two hrtime readings, as milliseconds. */
export const ms = (from: bigint, to: bigint = now()): number => Number(to - from) / 1e6;

/** Percentile (0..100) of `values`, nearest-rank on a sorted copy. NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Median of `values` (mean of the middle two for an even count). NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** p50 / p90 / p99 / max / mean of a sample, in its own unit. */
export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarise(values: readonly number[]): Summary {
  const n = values.length;
  let sum = 0;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    sum += v;
    if (v > max) max = v;
  }
  return {
    n,
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max: n ? max : Number.NaN,
    mean: n ? sum / n : Number.NaN,
  };
}

/** Operations per second for `count` operations over `elapsedMs`. */
export const rate = (count: number, elapsedMs: number): number => (elapsedMs > 0 ? (count * 1000) / elapsedMs : 0);

/** Round to `digits` significant-ish decimals for JSON output. */
export function round(v: number, digits = 3): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/**
 * Run `task(i)` for i in [0, count) with at most `limit` in flight; resolves
 * when all are done. The first error rejects (the rest still settle).
 */
export async function windowed(count: number, limit: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) {
      const i = next++;
      await task(i);
    }
  });
  await Promise.all(lanes);
}

/** Resolve after `msDelay` ms. */
export const sleep = (msDelay: number): Promise<void> => new Promise((r) => setTimeout(r, msDelay));

/** CPU time of this process in µs (user + system) since `since` (a process.cpuUsage() reading). */
export function cpuMicros(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return d.user + d.system;
}
