/**
 * Baton core benchmark (`npm run bench`): committed transitions per second for
 * one task and for many, and commit latency, each next to a baseline measured
 * in the same run on the same Redis. Prints a table and writes
 * bench/results/core-latest.json.
 *
 * Options: --quick (short run), --rounds=N (alternating baseline/Baton rounds),
 * --duration=MS (figure 1, sequential sends), --window-events=N (figure 1, 64
 * in flight), --tasks=N and --per-task=N (figure 2), --samples=N (figure 3),
 * --no-remote (skip the separate-process latency), --only=1,3 (figures to run).
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { storeOn } from './baseline.js';
import { BenchEnv } from './env.js';
import { figure1, figure2, figure3, Runtimes, type FigureResult, type Options } from './figures.js';
import { costJson, renderCosts, renderRows, writeJson } from './report.js';
import { round } from './stats.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results', 'core-latest.json');

function parseOptions(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const num = (name: string, dflt: number) => {
    const a = argv.find((x) => x.startsWith(`--${name}=`));
    const v = a ? Number(a.slice(name.length + 3)) : dflt;
    if (!(v > 0)) throw new Error(`--${name} must be a positive number`);
    return v;
  };
  return {
    rounds: num('rounds', quick ? 1 : 5),
    durationMs: num('duration', quick ? 1000 : 4500),
    windowEvents: num('window-events', quick ? 5000 : 30_000),
    tasks: num('tasks', 1000),
    perTask: num('per-task', quick ? 5 : 30),
    samples: num('samples', quick ? 500 : 3000),
    warmupSamples: quick ? 100 : 300,
    remote: !argv.includes('--no-remote'),
    only: new Set((argv.find((x) => x.startsWith('--only='))?.slice(7) ?? '1,2,3').split(',').map(Number)),
  };
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

async function main(): Promise<void> {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set: run through `npm run bench`, which starts a private Redis');
  const o = parseOptions(process.argv.slice(2));
  const env = new BenchEnv(url);
  const rts = new Runtimes();
  const started = Date.now();
  // Baselines use a connection configured like Baton's command connection (auto-pipelining on);
  // `raw` has it off: one command per write, the plain round-trip limit.
  const ap: Redis = env.connect({ autoPipelining: true });
  const raw: Redis = env.connect({ autoPipelining: false });
  try {
    const server = await env.admin.info('server');
    const redisVersion = server.match(/^redis_version:(\S+)/m)?.[1] ?? 'unknown';
    log(`run ${env.runId} on redis ${redisVersion}, ${o.rounds} rounds per throughput figure`);
    const basePrefix = env.prefix('base');
    const stores = { ap: storeOn(ap, basePrefix), raw: storeOn(raw, basePrefix) };

    const results: Record<string, FigureResult> = {};
    if (o.only.has(1)) {
      log(`figure 1: one task, ${o.durationMs} ms of sequential sends, ${o.windowEvents} events 64 in flight`);
      results.single = await figure1(env, rts, stores, o);
    }
    if (o.only.has(2)) {
      log(`figure 2: ${o.tasks} tasks x ${o.perTask} events`);
      results.many = await figure2(env, rts, stores.ap, raw, o);
    }
    if (o.only.has(3)) {
      log(`figure 3: latency, ${o.samples} samples${o.remote ? ', in process and from a client process' : ''}`);
      results.latency = await figure3(env, rts, { ap, raw }, stores.ap, o);
    }

    const rows = Object.values(results).flatMap((r) => r.rows);
    const costs = Object.values(results).flatMap((r) => r.costs);
    process.stdout.write(`\n${renderRows(rows)}\n\n${renderCosts(costs)}\n`);
    writeJson(RESULTS, {
      runId: env.runId,
      at: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      node: process.version,
      redis: redisVersion,
      host: { cpus: os.cpus().length, platform: `${os.platform()} ${os.release()}` },
      options: { ...o, only: [...o.only] },
      rows: rows.map((r) => ({ ...r, baton: round(r.baton, 4), baseline: round(r.baseline, 4), ratio: round(r.ratio, 4) })),
      costs: Object.fromEntries(costs.map((c) => [c.what, costJson(c)])),
      details: Object.fromEntries(Object.entries(results).map(([k, r]) => [k, r.details])),
    });
    log(`wrote ${path.relative(ROOT, RESULTS)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await rts.closeAll();
    for (const c of [ap, raw]) await c.quit().catch(() => c.disconnect());
    const n = await env.cleanup().catch((err: Error) => {
      log(`cleanup failed: ${err.message}`);
      return 0;
    });
    log(`deleted ${n} keys under bench-${env.runId}-*`);
    await env.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
