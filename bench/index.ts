/**
 * Baton benchmark (`npm run bench`): each figure next to a baseline measured
 * in the same run on the same Redis. Prints a table and writes
 * bench/results/core-latest.json.
 *
 *   1  one task: committed transitions/s       vs the commit script in a loop
 *   2  1,000 tasks: transitions/s               vs the commit script pipelined
 *   3  send -> commit latency                   vs PING
 *   agents    agent jobs/s                      vs raw BullMQ, same jobs
 *   steps     seven agent steps end to end      vs a hand-rolled BullMQ chain
 *   failover  kill 1 of 3 workers -> 1,000 done vs the same run without a kill
 *   memory    heap and Redis per passivated task vs plain Redis hashes
 *   timers    durable timer lateness            vs setTimeout
 *   sizes     (9) one transition as the state grows: context 100 B-1 MB,
 *             1-1,000 children                  vs the smallest task, and the
 *                                                commit script in a loop
 *
 * Options: --only=1,agents,timers (keys above; `core` = 1,2,3) and --quick
 * (short run). Core: --rounds=N, --duration=MS, --window-events=N, --tasks=N,
 * --per-task=N, --samples=N, --no-remote. Others: --agent-rounds=N,
 * --agent-tasks=N, --agent-jobs=N, --agent-concurrency=N, --step-runs=N,
 * --failover-tasks=N, --failover-rounds=N, --memory-tasks=N, --timer-tasks=N, --timer-rate=N,
 * --size-rounds=N, --size-ms=MS.
 * Before measuring it waits (up to --max-wait=S seconds, default 240) for the
 * 1-minute load average to drop below --max-load (default 1.5).
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { agentThroughput, sevenStepLatency, type AgentOptions, type StepsOptions } from './agents.js';
import { storeOn } from './baseline.js';
import { killChildren } from './child.js';
import { BenchEnv } from './env.js';
import { failoverFigure, type FailoverOptions } from './failover.js';
import { figure1, figure2, figure3, Runtimes, type FigureResult, type Options } from './figures.js';
import { memoryFigure, type MemoryOptions } from './memory.js';
import { cpuMeter, loadNow, waitForQuiet, type CpuShare } from './quiet.js';
import { costJson, renderCosts, renderRows, writeJson } from './report.js';
import { sizesFigure, type SizeOptions } from './sizes.js';
import { round } from './stats.js';
import { timerFigure, type TimerOptions } from './timers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results', 'core-latest.json');
const KEYS = ['1', '2', '3', 'agents', 'steps', 'failover', 'memory', 'timers', 'sizes'];

interface AllOptions extends Options {
  agents: AgentOptions;
  steps: StepsOptions;
  failover: FailoverOptions;
  memory: MemoryOptions;
  timers: TimerOptions;
  sizes: SizeOptions;
  maxLoad: number;
  maxWaitSec: number;
}

function parseOptions(argv: string[]): AllOptions {
  const quick = argv.includes('--quick');
  const num = (name: string, dflt: number) => {
    const a = argv.find((x) => x.startsWith(`--${name}=`));
    const v = a ? Number(a.slice(name.length + 3)) : dflt;
    if (!(v > 0)) throw new Error(`--${name} must be a positive number`);
    return v;
  };
  const only = new Set<string>();
  for (const k of (argv.find((x) => x.startsWith('--only='))?.slice(7) ?? KEYS.join(',')).split(',')) {
    if (k === 'core') ['1', '2', '3'].forEach((c) => only.add(c));
    else if (KEYS.includes(k)) only.add(k);
    else throw new Error(`--only: unknown figure '${k}' (one of ${KEYS.join(', ')}, core)`);
  }
  return {
    rounds: num('rounds', quick ? 1 : 5),
    durationMs: num('duration', quick ? 1000 : 4500),
    windowEvents: num('window-events', quick ? 5000 : 30_000),
    tasks: num('tasks', 1000),
    perTask: num('per-task', quick ? 5 : 30),
    samples: num('samples', quick ? 500 : 3000),
    warmupSamples: quick ? 100 : 300,
    remote: !argv.includes('--no-remote'),
    only,
    agents: {
      rounds: num('agent-rounds', quick ? 1 : 5),
      tasks: num('agent-tasks', 256),
      jobsPerTask: num('agent-jobs', quick ? 5 : 20),
      concurrency: num('agent-concurrency', 16),
    },
    steps: { runs: num('step-runs', quick ? 30 : 300), warmup: 10 },
    failover: {
      tasks: num('failover-tasks', 1000),
      steps: 3,
      stepMs: 100,
      concurrency: 50,
      leaseMs: 1000,
      agentLockMs: 2000,
      at: 0.3,
      rounds: num('failover-rounds', quick ? 1 : 3),
    },
    memory: { tasks: num('memory-tasks', quick ? 2000 : 10_000), idleMs: 4000 },
    timers: { tasks: num('timer-tasks', quick ? 200 : 1000), minMs: 50, maxMs: 500, idleMs: 20, rate: num('timer-rate', 500) },
    sizes: { rounds: num('size-rounds', quick ? 3 : 5), roundMs: num('size-ms', quick ? 200 : 700), warmupMs: quick ? 100 : 300 },
    maxLoad: num('max-load', 1.5),
    maxWaitSec: num('max-wait', 240),
  };
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/** The commit measured, and the files of src/ that differ from it (others may be editing). */
function gitState(): { commit: string; srcChanges: string[] } | undefined {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const commit = git('rev-parse', '--short', 'HEAD');
    const srcChanges = git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean);
    return { commit, srcChanges };
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set: run through `npm run bench`, which starts a private Redis');
  const o = parseOptions(process.argv.slice(2));
  const env = new BenchEnv(url);
  const rts = new Runtimes();
  // Baselines use a connection configured like Baton's command connection (auto-pipelining on);
  // `raw` has it off: one command per write, the plain round-trip limit.
  const ap: Redis = env.connect({ autoPipelining: true });
  const raw: Redis = env.connect({ autoPipelining: false });
  const load = await waitForQuiet(o.maxLoad, o.maxWaitSec, log);
  const started = Date.now();
  try {
    const server = await env.admin.info('server');
    const redisVersion = server.match(/^redis_version:(\S+)/m)?.[1] ?? 'unknown';
    log(`run ${env.runId} on redis ${redisVersion}: ${[...o.only].join(', ')}`);
    const basePrefix = env.prefix('base');
    const stores = { ap: storeOn(ap, basePrefix), raw: storeOn(raw, basePrefix) };

    const results: Record<string, FigureResult> = {};
    const loadAt: Record<string, number[]> = {};
    const cpuAt: Record<string, CpuShare> = {};
    const run = async (key: string, name: string, what: string, fn: () => Promise<FigureResult>) => {
      if (!o.only.has(key)) return;
      loadAt[name] = loadNow();
      log(`${what} (load ${loadAt[name].join(' ')})`);
      const redis0 = (await env.counters()).cpuMicros;
      const meter = cpuMeter();
      results[name] = await fn();
      const c = (cpuAt[name] = meter((await env.counters()).cpuMicros - redis0));
      log(`  ${name} took ${c.wallSec.toFixed(1)} s; CPU cores busy ${c.busyCores}: bench ${c.benchCores}, its Redis ${c.redisCores}, other work ${c.otherCores}`);
      if (c.otherCores > 0.3) log(`  WARNING: other work used ${c.otherCores} of ${os.cpus().length} cores during ${name}: its figures are disturbed`);
    };
    await run('1', 'single', `figure 1: one task, ${o.durationMs} ms of sequential sends, ${o.windowEvents} events 64 in flight`, () =>
      figure1(env, rts, stores.raw, o),
    );
    await run('2', 'many', `figure 2: ${o.tasks} tasks x ${o.perTask} events`, () => figure2(env, rts, stores.ap, raw, o));
    await run('3', 'latency', `figure 3: latency, ${o.samples} samples${o.remote ? ', in process and from a client process' : ''}`, () =>
      figure3(env, rts, { ap, raw }, stores.ap, o),
    );
    const a = o.agents;
    await run('agents', 'agents', `figure 4: agent jobs/s, ${a.tasks} tasks x ${a.jobsPerTask} jobs, concurrency ${a.concurrency}, ${a.rounds} rounds`, () =>
      agentThroughput(env, rts, raw, a),
    );
    await run('steps', 'steps', `figure 5: seven agent steps end to end, ${o.steps.runs} runs a side`, () => sevenStepLatency(env, rts, o.steps));
    const f = o.failover;
    await run('failover', 'failover', `figure 6: failover, ${f.tasks} tasks on 3 workers, lease ${f.leaseMs} ms, agentLockMs ${f.agentLockMs}`, () =>
      failoverFigure(env, raw, f),
    );
    await run('memory', 'memory', `figure 7: memory per passivated task, ${o.memory.tasks} tasks`, () => memoryFigure(env, o.memory));
    const t = o.timers;
    await run('timers', 'timers', `figure 8: timer lateness, ${t.tasks} held + ${t.tasks} passivated, ${t.minMs}-${t.maxMs} ms, ${t.rate} arms/s`, () =>
      timerFigure(env, rts, raw, t),
    );
    const z = o.sizes;
    await run('sizes', 'sizes', `figure 9: state sizes, context 100 B-1 MB and 1-1,000 children, ${z.rounds} rounds of ${z.roundMs} ms a variant`, () =>
      sizesFigure(env, rts, stores.raw, z),
    );

    const rows = Object.values(results).flatMap((r) => r.rows);
    const costs = Object.values(results).flatMap((r) => r.costs);
    process.stdout.write(`\n${renderRows(rows)}\n\n${renderCosts(costs)}\n`);
    const num4 = (v: number) => (Number.isFinite(v) ? round(v, 4) : null);
    writeJson(RESULTS, {
      runId: env.runId,
      at: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      node: process.version,
      redis: redisVersion,
      git: gitState(),
      host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: round(os.totalmem() / 2 ** 30, 1), platform: `${os.platform()} ${os.release()}` },
      load: { ...load, atFigure: loadAt, atEnd: loadNow(), cpuDuringFigure: cpuAt },
      options: { ...o, only: [...o.only] },
      rows: rows.map((r) => ({ ...r, baton: num4(r.baton), baseline: num4(r.baseline), ratio: num4(r.ratio) })),
      costs: Object.fromEntries(costs.map((c) => [c.what, costJson(c)])),
      details: Object.fromEntries(Object.entries(results).map(([k, r]) => [k, r.details])),
    });
    log(`wrote ${path.relative(ROOT, RESULTS)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await killChildren();
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
