/** The benchmark's table (stdout) and JSON results file. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Cost } from './env.js';
import { round } from './stats.js';

/** Units of the table: rates, latencies, durations and bytes. */
export type Unit = 'tx/s' | 'jobs/s' | 'ms' | 's' | 'B';

export interface Row {
  key: string;
  figure: string;
  unit: Unit;
  baton: number;
  baseline: number;
  /** What the baseline is. */
  baselineIs: string;
  /** Baton ÷ baseline. */
  ratio: number;
  /** Human-readable aim, e.g. "ratio >= 0.7". */
  aim: string;
  /** Whether the aim is met; null when the row has no aim. */
  met: boolean | null;
}

/**
 * A throughput row. `ratio` defaults to baton ÷ baseline; figures measured in
 * rounds pass the median of the per-round ratios instead (see figures.ts).
 */
export function throughputRow(
  key: string,
  figure: string,
  baton: number,
  baseline: number,
  baselineIs: string,
  opts: { minRatio?: number; ratio?: number } = {},
): Row {
  const ratio = opts.ratio ?? baton / baseline;
  const { minRatio } = opts;
  if (minRatio === undefined) return { key, figure, unit: 'tx/s', baton, baseline, baselineIs, ratio, aim: '-', met: null };
  return { key, figure, unit: 'tx/s', baton, baseline, baselineIs, ratio, aim: `ratio >= ${minRatio}`, met: ratio >= minRatio };
}

export function latencyRow(key: string, figure: string, baton: number, baseline: number, baselineIs: string, maxMs?: number): Row {
  return {
    key,
    figure,
    unit: 'ms',
    baton,
    baseline,
    baselineIs,
    ratio: baton / baseline,
    aim: maxMs === undefined ? '-' : `<= ${maxMs} ms`,
    met: maxMs === undefined ? null : baton <= maxMs,
  };
}

/**
 * A row of any unit with an optional aim: `min` (Baton ÷ baseline at least),
 * `maxRatio` (at most) or `max` (Baton itself at most, in the row's unit).
 * `ratio` defaults to Baton ÷ baseline.
 */
export function row(
  key: string,
  figure: string,
  unit: Unit,
  baton: number,
  baseline: number,
  baselineIs: string,
  opts: { ratio?: number; minRatio?: number; maxRatio?: number; max?: number } = {},
): Row {
  const ratio = opts.ratio ?? baton / baseline;
  if (opts.minRatio !== undefined) return { key, figure, unit, baton, baseline, baselineIs, ratio, aim: `ratio >= ${opts.minRatio}`, met: ratio >= opts.minRatio };
  if (opts.maxRatio !== undefined) return { key, figure, unit, baton, baseline, baselineIs, ratio, aim: `ratio <= ${opts.maxRatio}`, met: ratio <= opts.maxRatio };
  if (opts.max !== undefined) return { key, figure, unit, baton, baseline, baselineIs, ratio, aim: `<= ${opts.max} ${unit}`, met: baton <= opts.max };
  return { key, figure, unit, baton, baseline, baselineIs, ratio, aim: '-', met: null };
}

function fmt(v: number, unit: Unit): string {
  if (!Number.isFinite(v)) return String(v);
  if (unit === 'tx/s' || unit === 'jobs/s') return `${Math.round(v).toLocaleString('en-US')} ${unit}`;
  if (unit === 'B') return `${Math.round(v).toLocaleString('en-US')} B`;
  if (unit === 's') return `${v.toFixed(2)} s`;
  return `${v.toFixed(3)} ms`;
}

function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return '-';
  return Math.abs(r) >= 100 ? r.toFixed(0) : r.toFixed(2);
}

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export function renderRows(rows: Row[]): string {
  const body = rows.map((r) => [
    r.figure,
    fmt(r.baton, r.unit),
    fmt(r.baseline, r.unit),
    fmtRatio(r.ratio),
    r.aim,
    r.met === null ? '' : r.met ? 'yes' : 'NO',
  ]);
  const legend = [...new Map(rows.map((r) => [r.baselineIs, r.baselineIs])).values()];
  return [
    table(['figure', 'Baton', 'baseline', 'ratio', 'aim', 'met'], body),
    '',
    `baselines: ${legend.join('; ')}`,
    'throughput: median of per-round rates; ratio: median over rounds of Baton / baseline measured in the same round',
    'ms/s/B rows: ratio = Baton / baseline (lower is better)',
  ].join('\n');
}

export interface CostRow {
  what: string;
  /** What one counted unit is. @default 'committed transition' */
  per?: string;
  count: number;
  elapsedMs: number;
  cost: Cost;
}

/** Per-transition cost: wall time, node CPU, Redis CPU, scripts and Redis commands. */
export function perTransition(c: CostRow) {
  const calls = c.cost.redis.calls;
  const total = Object.entries(calls)
    .filter(([k]) => k !== 'info')
    .reduce((s, [, v]) => s + v, 0);
  const scripts = (calls.evalsha ?? 0) + (calls.eval ?? 0);
  const per = (v: number) => v / c.count;
  return {
    wallUs: per(c.elapsedMs * 1000),
    nodeCpuUs: per(c.cost.nodeCpuMicros),
    redisCpuUs: per(c.cost.redis.cpuMicros),
    scripts: per(scripts),
    redisCommands: per(total),
  };
}

export function renderCosts(rows: CostRow[]): string {
  const groups = new Map<string, CostRow[]>();
  for (const r of rows) {
    const per = r.per ?? 'committed transition';
    groups.set(per, [...(groups.get(per) ?? []), r]);
  }
  return [...groups]
    .map(([per, rs]) => {
      const body = rs.map((r) => {
        const p = perTransition(r);
        return [r.what, p.wallUs.toFixed(1), p.nodeCpuUs.toFixed(1), p.redisCpuUs.toFixed(1), p.scripts.toFixed(2), p.redisCommands.toFixed(1)];
      });
      return table([`per ${per}`, 'wall µs', 'node CPU µs', 'redis CPU µs', 'scripts', 'redis cmds'], body);
    })
    .join('\n\n');
}

export function costJson(c: CostRow) {
  const p = perTransition(c);
  return {
    per: c.per ?? 'committed transition',
    count: c.count,
    elapsedMs: round(c.elapsedMs),
    perTransition: Object.fromEntries(Object.entries(p).map(([k, v]) => [k, round(v)])),
    redisCalls: c.cost.redis.calls,
  };
}

export function writeJson(file: string, data: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
}
