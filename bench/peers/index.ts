/**
 * Baton next to the peers users would pick instead (`npm run bench:peers`):
 * DBOS Transact, Restate, LangGraph with its PostgreSQL checkpointer, a
 * hand-rolled BullMQ job chain and the floor (one Redis SET per step), on the
 * same machine, in the same run, on the same workloads:
 *
 *   A  seven sequential steps, state durable after each: one task end to end
 *      (p50/p90), and N tasks at concurrency C (tasks/s, steps/s);
 *   B  SIGKILL during step 4, a fresh process resumes: did steps 1-3 re-run,
 *      and how long from the restart to completion;
 *   C  two agents in parallel, outputs compared and reconciled: end-to-end
 *      time and the lines of glue each peer needed.
 *
 * Each peer runs in its own host process (host.ts); the orchestrator hands
 * out the work in rounds, rotating the order, so drift hits all peers alike.
 * Writes bench/peers/results/latest.json and latest.md. Options: env PEERS_*
 * (lib/config.ts, README.md).
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CrashResult, Command } from './host.js';
import { loadConfig, share, type Config } from './lib/config.js';
import { cleanupRedis, createDatabase, dropDatabase, freePort, pgInfo, redisAof, redisInfo, startRestateServer, type RestateServer } from './lib/infra.js';
import { installedVersion, PEERS, PEERS_DIR, ROOT, type PeerCtx, type PeerInfo } from './lib/peer.js';
import { countGlue, render, type PeerResult, type RunResults } from './lib/report.js';
import { sleep } from './lib/stats.js';

const log = (m: string) => process.stderr.write(`[bench:peers] ${m}\n`);

/** A peer's host process, driven over IPC. */
class Host {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private exited = false;
  readonly done: Promise<void>;

  private constructor(
    readonly info: PeerInfo,
    private readonly proc: ChildProcess,
    readonly logFile: string,
  ) {
    this.done = new Promise((resolve) =>
      proc.on('exit', (code, signal) => {
        this.exited = true;
        for (const [, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`host process exited (${code ?? signal}); log tail:\n${this.tail()}`));
        }
        this.pending.clear();
        resolve();
      }),
    );
    proc.on('message', (m: { id?: number; ok?: boolean; result?: unknown; error?: string }) => {
      if (m.id === undefined) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error ?? 'unknown error'));
    });
  }

  static async start(info: PeerInfo, ctx: PeerCtx, tmp: string): Promise<Host> {
    const logFile = path.join(tmp, `host-${info.name}.log`);
    const fd = openSync(logFile, 'a');
    const proc = fork(path.join(PEERS_DIR, 'host.ts'), [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, PEERS_CTX: JSON.stringify(ctx), PEERS_TMP: tmp, LANGCHAIN_TRACING_V2: 'false', LANGSMITH_TRACING: 'false', DO_NOT_TRACK: '1' },
      stdio: ['ignore', fd, fd, 'ipc'],
    });
    closeSync(fd);
    const host = new Host(info, proc, logFile);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`host did not start within 60 s; log tail:\n${host.tail()}`)), 60_000);
      proc.once('message', () => (clearTimeout(t), resolve()));
      proc.once('exit', () => (clearTimeout(t), reject(new Error(`host exited at start; log tail:\n${host.tail()}`))));
    });
    return host;
  }

  get alive(): boolean {
    return !this.exited;
  }

  call<T>(command: Command, timeoutMs: number): Promise<T> {
    if (this.exited) return Promise.reject(new Error('host process is gone'));
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`'${command.cmd}' timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.proc.send({ id, command });
    });
  }

  tail(n = 25): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    await this.call({ cmd: 'teardown' }, 30_000).catch((err: Error) => log(`${this.info.name}: teardown failed: ${err.message.split('\n')[0]}`));
    this.proc.disconnect();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await this.done;
    clearTimeout(t);
  }
}

async function waitForLoad(cfg: Config, capS: number): Promise<{ before: number[]; after: number[]; waitedS: number }> {
  const before = os.loadavg();
  const t0 = Date.now();
  let l = before;
  while (l[0]! >= cfg.maxLoad && Date.now() - t0 < capS * 1000) {
    if (Date.now() - t0 < 1000 || Math.round((Date.now() - t0) / 1000) % 30 === 0) {
      log(`1-minute load ${l[0]!.toFixed(2)} >= ${cfg.maxLoad}: waiting (up to ${capS} s)`);
    }
    await sleep(5000);
    l = os.loadavg();
  }
  const waitedS = Math.round((Date.now() - t0) / 1000);
  if (l[0]! >= cfg.maxLoad) log(`load still ${l[0]!.toFixed(2)} after ${waitedS} s: measuring anyway (noted in the results)`);
  else log(`1-minute load ${l[0]!.toFixed(2)} (waited ${waitedS} s)`);
  return { before, after: l, waitedS };
}

function rotate<T>(xs: T[], k: number): T[] {
  const n = xs.length;
  return n ? xs.map((_, i) => xs[(i + k) % n]!) : xs;
}

async function main(): Promise<void> {
  const cfg = loadConfig();
  const redisUrl = process.env.REDIS_URL;
  if (!redisUrl) throw new Error('REDIS_URL is not set: run through `npm run bench:peers`, which starts a private Redis');
  const started = Date.now();
  const runId = `${started.toString(36)}${randomBytes(2).toString('hex')}`;
  const tmp = mkdtempSync(path.join(os.tmpdir(), `bpeers-${runId}-`));
  const selected = PEERS.filter((p) => !cfg.only || cfg.only.includes(p.name));
  if (cfg.only) for (const n of cfg.only) if (!PEERS.some((p) => p.name === n)) throw new Error(`PEERS_ONLY: unknown peer '${n}'`);
  log(`run ${runId}: ${selected.map((p) => p.name).join(', ')}; workloads ${[...cfg.workloads].join('')}; ${cfg.rounds} rounds; logs in ${tmp}`);

  const load = await waitForLoad(cfg, cfg.loadWaitS);

  const results: Record<string, PeerResult> = {};
  for (const info of selected) {
    results[info.name] = {
      name: info.name,
      label: info.label,
      baton: !!info.baton,
      durable: info.durable,
      versions: {
        ...(info.baton ? { baton: batonVersion() } : {}),
        ...Object.fromEntries(info.packages.map((p) => [p, installedVersion(p)])),
      },
      status: 'ok',
      errors: [],
      A: { single: [], batches: [] },
      B: { trials: [] },
      C: { samples: [], glueLines: countGlue(path.join(PEERS_DIR, 'peers', info.file), info.name) },
    };
  }

  const restoreRedis = cfg.redisAppendfsync ? await redisAof(redisUrl, cfg.redisAppendfsync) : undefined;
  const infra: RunResults['infra'] = { redis: await redisInfo(redisUrl) };
  let restateServer: RestateServer | undefined;
  const databases: string[] = [];
  const hosts = new Map<string, Host>();
  const fail = (name: string, why: unknown) => {
    const r = results[name]!;
    r.status = 'unavailable';
    r.unavailable = why instanceof Error ? why.message : String(why);
    log(`${name}: cannot run here: ${r.unavailable.split('\n')[0]}`);
  };

  try {
    if (selected.some((p) => p.needs.includes('pg'))) {
      try {
        infra.postgres = await pgInfo(cfg.pgUrl);
      } catch (err) {
        for (const p of selected.filter((x) => x.needs.includes('pg'))) fail(p.name, new Error(`PostgreSQL at ${cfg.pgUrl} unreachable: ${(err as Error).message}`));
      }
    }
    if (selected.some((p) => p.needs.includes('restate'))) {
      try {
        restateServer = await startRestateServer(log);
        infra.restateServer = { version: restateServer.version, releaseCheck: restateServer.releaseCheck };
      } catch (err) {
        for (const p of selected.filter((x) => x.needs.includes('restate'))) fail(p.name, err);
      }
    }

    // ------------------------------------------------------------ set up every peer
    for (const info of selected) {
      const r = results[info.name]!;
      if (r.status === 'unavailable') continue;
      try {
        const ctx: PeerCtx = {
          runId,
          peer: info.name,
          redisUrl,
          prefix: `bpeers-${runId}-${info.name}`,
          failoverMs: cfg.failoverMs,
          concurrency: cfg.concurrency,
        };
        if (info.needs.includes('pg')) {
          const db = `bpeers_${runId}_${info.name.replace(/-/g, '_')}`;
          ctx.pgUrl = await createDatabase(cfg.pgUrl, db);
          databases.push(db);
        }
        if (info.needs.includes('restate') && restateServer) {
          ctx.restate = { ingress: restateServer.ingress, admin: restateServer.admin, crashPort: await freePort() };
        }
        log(`${info.name}: starting its host`);
        const host = await Host.start(info, ctx, tmp);
        hosts.set(info.name, host);
        const s = await host.call<{ config: string }>({ cmd: 'setup' }, 120_000);
        r.config = s.config;
        if (cfg.warmup > 0) await host.call({ cmd: 'warmup', tasks: cfg.warmup, batch: cfg.batchTasks, concurrency: cfg.concurrency }, 300_000);
        log(`${info.name}: ready (${s.config})`);
      } catch (err) {
        fail(info.name, err);
        await hosts.get(info.name)?.stop().catch(() => undefined);
        hosts.delete(info.name);
      }
    }

    // ------------------------------------------------------------ rounds
    // Setting up and warming up seven peers raises the load by itself: let it settle before measuring.
    const settle = await waitForLoad(cfg, Math.min(cfg.loadWaitS, 90));
    const loadAtStart = os.loadavg();
    const roundStarted = Date.now();
    const names = selected.map((p) => p.name).filter((n) => hosts.has(n));
    const failedWorkload = new Set<string>();
    const attempt = async (name: string, w: 'A' | 'B' | 'C', round: number, fn: (h: Host) => Promise<void>) => {
      const host = hosts.get(name);
      if (!host?.alive || failedWorkload.has(`${name}:${w}`)) return;
      try {
        await fn(host);
      } catch (err) {
        const message = (err as Error).message;
        results[name]!.errors.push({ workload: w, round, message });
        results[name]!.status = 'partial';
        failedWorkload.add(`${name}:${w}`);
        log(`${name}: workload ${w} failed in round ${round + 1}: ${message.split('\n')[0]}`);
      }
    };
    for (let round = 0; round < cfg.rounds; round++) {
      const order = rotate(names, round);
      log(`round ${round + 1}/${cfg.rounds}: ${order.join(' → ')}`);
      if (cfg.workloads.has('A')) {
        for (const name of order) {
          await attempt(name, 'A', round, async (h) => {
            const n = share(cfg.singleRuns, round, cfg.rounds);
            if (n > 0) results[name]!.A.single.push(...(await h.call<number[]>({ cmd: 'single', n }, 300_000)));
            const b = await h.call<{ elapsedMs: number; latencies: number[] }>({ cmd: 'batch', tasks: cfg.batchTasks, concurrency: cfg.concurrency }, 600_000);
            results[name]!.A.batches.push({ tasks: cfg.batchTasks, elapsedMs: b.elapsedMs, p50: median(b.latencies) });
          });
        }
      }
      if (cfg.workloads.has('B')) {
        for (const name of order) {
          const n = share(cfg.crashTrials, round, cfg.rounds);
          for (let i = 0; i < n; i++) {
            await attempt(name, 'B', round, async (h) => {
              results[name]!.B.trials.push(await h.call<CrashResult>({ cmd: 'crash', timeoutMs: cfg.crashTimeoutMs }, cfg.crashTimeoutMs * 3 + 30_000));
            });
          }
        }
      }
      if (cfg.workloads.has('C')) {
        for (const name of order) {
          await attempt(name, 'C', round, async (h) => {
            const n = share(cfg.parallelRuns, round, cfg.rounds);
            if (n > 0) results[name]!.C.samples.push(...(await h.call<number[]>({ cmd: 'parallel', n }, 300_000)));
          });
        }
      }
    }
    const loadAtEnd = os.loadavg();

    const run: RunResults = {
      runId,
      date: new Date(started).toISOString(),
      durationS: 0,
      measuredS: Math.round((Date.now() - roundStarted) / 1000),
      machine: {
        nproc: os.availableParallelism(),
        cpu: os.cpus()[0]?.model ?? 'unknown',
        memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
        node: process.version,
        platform: `${os.platform()} ${os.release()}`,
        load: { beforeWait: load.before, afterWait: load.after, waitedS: load.waitedS + settle.waitedS, atStart: loadAtStart, atEnd: loadAtEnd, maxLoad: cfg.maxLoad },
      },
      infra,
      config: {
        rounds: cfg.rounds,
        singleRuns: cfg.singleRuns,
        batchTasks: cfg.batchTasks,
        concurrency: cfg.concurrency,
        parallelRuns: cfg.parallelRuns,
        crashTrials: cfg.crashTrials,
        warmup: cfg.warmup,
        failoverMs: cfg.failoverMs,
        workloads: [...cfg.workloads].join(''),
      },
      peers: results,
    };

    // ------------------------------------------------------------ tear down, report
    for (const [name, h] of hosts) {
      results[name]!.notes = await h.call<string[]>({ cmd: 'notes' }, 10_000).catch(() => []);
      await h.stop();
    }
    hosts.clear();
    run.durationS = Math.round((Date.now() - started) / 1000);
    const { table, markdown, json } = render(run);
    process.stdout.write(`\n${table}\n`);
    const dir = path.join(PEERS_DIR, 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(path.join(dir, 'latest.md'), markdown);
    log(`wrote bench/peers/results/latest.json and latest.md (${run.durationS} s)`);
  } finally {
    for (const h of hosts.values()) await h.stop().catch(() => undefined);
    await restateServer?.stop().catch((err: Error) => log(`restate-server stop failed: ${err.message}`));
    for (const db of databases) await dropDatabase(cfg.pgUrl, db).catch((err: Error) => log(`could not drop database ${db}: ${err.message}`));
    await restoreRedis?.();
    const n = await cleanupRedis(redisUrl, runId).catch((err: Error) => (log(`redis cleanup failed: ${err.message}`), 0));
    log(`cleaned up: ${databases.length} databases dropped, ${n} Redis keys deleted`);
    if (!process.env.PEERS_KEEP_LOGS) rmSync(tmp, { recursive: true, force: true });
  }
}

/** Baton's own version: package.json plus the commit (and whether the tree differs from it). */
function batonVersion(): string {
  const v = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const git = (args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  const sha = git(['rev-parse', '--short', 'HEAD']).stdout?.trim();
  if (!sha) return v;
  const dirty = git(['status', '--porcelain', '--', 'src']).stdout?.trim() ? ', src/ modified' : '';
  return `${v} (git ${sha}${dirty})`;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

main().catch((err: unknown) => {
  log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
