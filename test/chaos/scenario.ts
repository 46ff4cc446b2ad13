// One fault run: a private redis-server, N worker processes, senders feeding
// every task, a fault loop at random moments throughout, then the checker.
// Used by `npm run chaos` (test/chaos/index.ts, full size) and by
// test/chaos-fast.test.ts (scaled down).
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Cluster, Redis } from 'ioredis';
import { createClient, type BatonClient, type ConnectionOption } from '../../src/index.js';
import { check, type CheckConnection, type CheckReport } from './checker.js';
import { clusterWithReplicas, sentinelGroup, singleServer, type Deployment, type FailoverTimings, type Topology } from './deployment.js';
import { AofSampler, countFaults, faultLoop, type FaultContext } from './faults.js';
import { FILES, RunLog, readJsonl, type FaultKind, type FaultRecord, type SendRecord } from './log.js';
import { chaosMachines } from './machines.js';
import { WorkerPool } from './procs.js';
import { RateLimit, finishAll, runSenders, spawnAll, startSeqMonitor, type SendStats } from './senders.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ScenarioOptions {
  name: string;
  /** The `--only` name of a group of runs (the repeats of one run). */
  part?: string;
  workers: number;
  tasks: number;
  /** Total `ev` events (spread evenly over senders and tasks). */
  events: number;
  senders: number;
  /** The first `keyedSenders` senders use idempotency keys (and retry unknown outcomes); the rest do not. */
  keyedSenders: number;
  /** Share of tasks with a ticking timer (0..1). @default 0.1 */
  tickerShare?: number;
  /** Agent work per step, ms (uniform in the range). @default [20, 120] */
  agentMs?: [number, number];
  leaseMs?: number;
  agentLockMs?: number;
  idleMs?: number;
  /** AOF: off, or its fsync policy (single server only). */
  aof?: false | 'always' | 'everysec';
  /** One redis-server (default), a Sentinel-managed master and replica, or a Cluster of three masters with a replica each. */
  topology?: Topology;
  /** Baton's `durability` for every worker and client. */
  durability?: { replicas: number; timeoutMs: number };
  /** redis-failover: how long the replica's link is cut before the master is killed, ms. @default 1000 */
  cutMs?: number;
  faults: FaultKind[];
  faultMeanMs: number;
  /** Inject exactly these faults, in this order, at random moments (instead of random kinds until the end). */
  faultSequence?: FaultKind[];
  /** Start the faults only once this share of the events was sent (0..1). */
  faultAfterSent?: number;
  /** Stop injecting after this many faults. */
  maxFaults?: number;
  /** Send rate, events/s across all senders (spreads the run over time). */
  ratePerSec?: number;
  sendConcurrency?: number;
  /** Count lost accepted events (AOF everysec) instead of failing. */
  lossy?: boolean;
  /** How long tasks get to finish after the last `finish` was accepted. @default 120 s */
  finishTimeoutMs?: number;
  /** Where the logs go. @default a new dir under the OS temp dir */
  dir?: string;
  /** Progress messages. */
  progress?: (msg: string) => void;
  /** Fault knobs (pause length, freeze length, …). */
  faultOptions?: Partial<Pick<FaultContext, 'pauseMs' | 'freezeMs' | 'downMs' | 'respawnMs' | 'powercutLossMs'>>;
  /** Called with the run's Redis before it is stopped, when the check found violations (diagnostics). */
  postMortem?: (connection: CheckConnection, prefix: string, report: CheckReport) => Promise<void>;
}

export interface ScenarioResult {
  name: string;
  dir: string;
  prefix: string;
  durationMs: number;
  faults: FaultRecord[];
  faultCounts: Partial<Record<FaultKind, number>>;
  sends: SendStats;
  finishes: SendStats;
  spawnsWithSelfExists: number;
  check: CheckReport;
  /** Workers that exited without the suite killing them, and their crash lines. */
  crashes: Array<{ pid: number; code: number | null; signal: string | null; tail: string[] }>;
  crashLines: string[];
  /** Runtime log lines counted by message (fenced, lease lost, …). */
  logCounts: Record<string, number>;
  fencedPids: number[];
  workerProcesses: number;
  /** Tasks not final when the run gave up waiting. */
  unfinished: number;
  /** What the failover measured (redis-failover runs). */
  failover?: FailoverTimings;
}

/** Poll every task's status until none is 'active' (or the deadline). Returns how many are still active. */
async function waitFinal(redis: Redis | Cluster, prefix: string, ids: string[], timeoutMs: number, progress?: (m: string) => void): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let active = ids.length;
  let lastReport = 0;
  while (Date.now() < deadline) {
    try {
      // Auto-pipelined: one batch per node, on one server and across a cluster alike.
      const res = await Promise.all(ids.map((id) => redis.hget(`${prefix}:task:{${id}}:state`, 'status').catch(() => 'error')));
      active = res.filter((v) => v === 'error' || v === 'active').length;
      if (active === 0) return 0;
      if (Date.now() - lastReport > 5000) {
        progress?.(`${active}/${ids.length} tasks still active`);
        lastReport = Date.now();
      }
    } catch {
      /* Redis restarting */
    }
    await sleep(250);
  }
  return active;
}

/** A failover's timings, with the first send acknowledged after the kill (from the senders' log). */
function failoverTimings(faults: FaultRecord[], log: RunLog): FailoverTimings | undefined {
  const f = faults.find((x) => x.kind === 'redis-failover');
  const t = f?.timings as FailoverTimings | undefined;
  if (!t) return undefined;
  const hit = new Set(f!.tasks ?? []);
  let firstAckAt: number | undefined;
  for (const r of readJsonl<SendRecord>(log.file(FILES.events))) {
    if (r.outcome === 'accepted' && hit.has(r.task) && r.ackAt > t.killAt && (firstAckAt === undefined || r.ackAt < firstAckAt)) firstAckAt = r.ackAt;
  }
  return { ...t, firstAckAt };
}

export async function runScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  const t0 = Date.now();
  const progress = o.progress ?? (() => undefined);
  const leaseMs = o.leaseMs ?? 1000;
  const agentLockMs = o.agentLockMs ?? 1500;
  const prefix = `chaos-${o.name.replace(/[^A-Za-z0-9_-]/g, '-')}-${randomBytes(3).toString('hex')}`;
  const dir = o.dir ?? path.join(tmpdir(), 'baton-chaos', `${prefix}`);
  const log = new RunLog(dir);
  const dep: Deployment =
    o.topology === 'sentinel' ? await sentinelGroup() : o.topology === 'cluster' ? await clusterWithReplicas([`${prefix}:chaos:runs`, `{${prefix}}:activate`]) : await singleServer(o.aof);
  const pool = new WorkerPool({ connection: dep.connection, prefix, leaseMs, agentLockMs, idleMs: o.idleMs ?? 3000, durability: o.durability });
  const clients: BatonClient[] = [];
  const monitorConn = dep.reader();
  monitorConn.on('error', () => undefined);
  let faultsDone = false;
  let faultRun: Promise<FaultRecord[]> | undefined;
  let aof: AofSampler | undefined;
  try {
    await pool.startMany(o.workers);
    progress(`${o.name}: ${dep.describe}, ${o.workers} workers${o.durability ? `, durability ${JSON.stringify(o.durability)}` : ''}, logs in ${dir}`);
    for (let i = 0; i <= o.senders; i++) {
      const c = createClient({ connection: dep.connection as ConnectionOption, prefix, machines: chaosMachines, ...(o.durability ? { durability: o.durability } : {}) });
      clients.push(c);
    }
    const spawner = clients[o.senders]!;
    const ids = Array.from({ length: o.tasks }, (_, i) => `t${i}`);
    const tickers = Math.round((o.tickerShare ?? 0.1) * o.tasks);
    const [lo, hi] = o.agentMs ?? [20, 120];
    log.writeJson(FILES.tasks, ids);
    log.writeJson(FILES.meta, { prefix, redis: dep.describe, connection: dep.raw, options: { ...o, progress: undefined } });

    const stateKeys = ids.map((id) => `${prefix}:task:{${id}}:state`);
    const monitor = startSeqMonitor(monitorConn, stateKeys, log);
    if (o.aof && dep.server) aof = new AofSampler(dep.server.dir).start();
    const ctx: FaultContext = { redis: dep.server, deployment: dep, stateKeys, cutMs: o.cutMs, pool, log, leaseMs, aof, prefix, ...o.faultOptions };
    const perTask = Math.max(1, Math.round(o.events / (o.tasks * o.senders)));
    let sent = 0;
    const gate = o.faultAfterSent === undefined ? undefined : () => sent >= o.faultAfterSent! * perTask * o.tasks * o.senders;
    faultRun = faultLoop(ctx, { kinds: o.faults, meanMs: o.faultMeanMs, done: () => faultsDone, max: o.maxFaults, sequence: o.faultSequence, gate });

    const spawns = await spawnAll(
      spawner,
      log,
      ids.map((id, i) => ({ id, machine: 'chaosTask', input: { ticker: i < tickers, ms: Math.round(lo + Math.random() * (hi - lo)) } })),
    );
    const spawned = spawns.filter((s) => s.outcome === 'accepted').map((s) => s.task);
    progress(`${o.name}: ${spawned.length}/${o.tasks} tasks spawned (${Date.now() - t0} ms)`);

    const sends = await runSenders({
      senders: clients.slice(0, o.senders).map((client, i) => ({ name: `s${i}`, client, keyed: i < o.keyedSenders })),
      tasks: spawned,
      perTask,
      concurrency: o.sendConcurrency ?? 16,
      log,
      rate: o.ratePerSec ? new RateLimit(o.ratePerSec) : undefined,
      onSent: () => {
        sent++;
        if (sent % 2000 === 0) progress(`${o.name}: ${sent} events sent (${Date.now() - t0} ms)`);
      },
    });
    progress(`${o.name}: senders done: ${JSON.stringify(sends)} (${Date.now() - t0} ms)`);
    const finishes = await finishAll({ name: 'finisher', client: spawner, keyed: true }, log, spawned);
    progress(`${o.name}: finish sent to every task (${Date.now() - t0} ms)`);

    // Faults go on while the tasks drain their mailboxes and make their second agent call.
    let unfinished = await waitFinal(monitorConn, prefix, spawned, Math.min(o.finishTimeoutMs ?? 120_000, 60_000), progress);
    // A fixed sequence is injected in full, even when the tasks finished first.
    if (o.faultSequence) await faultRun;
    faultsDone = true;
    const faults = await faultRun;
    faultRun = undefined;
    progress(`${o.name}: faults stopped: ${JSON.stringify(countFaults(faults))}; ${unfinished} tasks active`);
    if (unfinished > 0) unfinished = await waitFinal(monitorConn, prefix, spawned, o.lossy ? 15_000 : (o.finishTimeoutMs ?? 120_000), progress);
    // Late re-runs of agent jobs (a stalled job picked up again) land within a lock period or two.
    await sleep(agentLockMs * 2);
    await monitor.stop();
    await pool.stopAll();

    const report = await check({ connection: dep.raw, prefix, dir, lossy: o.lossy });
    if ((!report.ok || report.notFinal > 0) && o.postMortem) await o.postMortem(dep.raw, prefix, report).catch((err: unknown) => progress(`post-mortem failed: ${String(err)}`));
    const logs = pool.logs();
    // Every worker's runtime log lines (with pid and time), for a post-mortem.
    writeFileSync(log.file('workers.jsonl'), logs.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const logCounts: Record<string, number> = {};
    for (const l of logs) logCounts[l.log] = (logCounts[l.log] ?? 0) + 1;
    const fencedPids = [...new Set(logs.filter((l) => l.log.startsWith('fenced')).map((l) => l.pid))];
    const result: ScenarioResult = {
      name: o.name,
      dir,
      prefix,
      durationMs: Date.now() - t0,
      faults,
      faultCounts: countFaults(faults),
      sends,
      finishes,
      spawnsWithSelfExists: spawns.filter((s) => s.code === 'TASK_EXISTS').length,
      check: report,
      crashes: pool.crashes,
      crashLines: pool.crashLines(),
      logCounts,
      fencedPids,
      workerProcesses: pool.all.length,
      unfinished,
      failover: failoverTimings(faults, log),
    };
    log.writeJson('result.json', result);
    return result;
  } finally {
    faultsDone = true;
    if (faultRun) await faultRun.catch(() => undefined);
    aof?.stop();
    await pool.killAll();
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    monitorConn.disconnect();
    // CHAOS_KEEP_REDIS=1 leaves the server running for a post-mortem (its URL is in meta.json).
    if (process.env.CHAOS_KEEP_REDIS === '1') progress(`${o.name}: redis kept: ${dep.describe}`);
    else await dep.stop();
  }
}
