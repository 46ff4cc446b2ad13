// Load: 10,000 tasks held by one worker process (most of them passivated),
// with a hot set kept busy. Reports the worker's Node heap (after a full GC)
// and Redis memory, and checks every event applied once (checker) and that
// the worker holds about the hot set, not every task.
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { createClient } from '../../src/index.js';
import { startRedis } from '../helpers/redis-server.ts';
import { check, type CheckReport } from './checker.js';
import { FILES, RunLog, type SendRecord } from './log.js';
import { chaosMachines } from './machines.js';
import { WorkerPool, jsonLines } from './procs.js';
import { pool, RateLimit, spawnAll } from './senders.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const MB = 1024 * 1024;

export interface LoadOptions {
  tasks: number;
  /** Tasks kept busy during the measurement. */
  hot: number;
  /** Passivation idle time of the worker. @default 2000 */
  idleMs?: number;
  /** Spawn rate, tasks/s. @default 400 */
  spawnRate?: number;
  dir?: string;
  progress?: (msg: string) => void;
}

export interface LoadResult {
  ok: boolean;
  tasks: number;
  hot: number;
  durationMs: number;
  spawnPerSec: number;
  held: { peak: number; atEnd: number };
  heapMB: { baseline: number; peak: number; steadyAfterGc: number; retainedPerTaskBytes: number; rssPeak: number; rssEnd: number };
  redis: { usedMemoryMB: number; baselineMB: number; perTaskBytes: number; keys: number };
  check: Pick<CheckReport, 'eventsChecked' | 'lost' | 'appliedTwice' | 'violations'>;
  notes: string[];
}

type Mem = { heapUsed: number; rss: number; gc: boolean };

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const t0 = Date.now();
  const progress = o.progress ?? (() => undefined);
  const prefix = `load-${randomBytes(3).toString('hex')}`;
  const dir = o.dir ?? path.join(tmpdir(), 'baton-chaos', prefix);
  const log = new RunLog(dir);
  const server = await startRedis();
  const redis = new Redis(server.url);
  const workers = new WorkerPool({ connection: server.url, prefix, leaseMs: 5000, idleMs: o.idleMs ?? 2000, role: 'tasks', memMs: 500 });
  const client = createClient({ connection: server.url, prefix, machines: chaosMachines });
  const notes: string[] = [];
  try {
    const [w] = await workers.startMany(1);
    const worker = w!;
    const mems = () => jsonLines(worker.child).filter((l) => l.mem) as Array<{ mem: Mem; held: number; at: number }>;
    const gcReport = async (): Promise<{ mem: Mem; held: number }> => {
      const from = worker.child.lines.length;
      process.kill(worker.pid, 'SIGUSR2');
      return worker.child.waitForJson((l) => !!l.mem && l.mem.gc === true, 30_000, from);
    };
    const redisMem = async () => {
      const info = await redis.info('memory');
      return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
    };
    await sleep(500);
    const baseline = await gcReport();
    const redisBaseline = await redisMem();
    progress(`load: baseline heap ${(baseline.mem.heapUsed / MB).toFixed(1)} MB, redis ${(redisBaseline / MB).toFixed(1)} MB`);

    // Spawn every task (each one activates, commits, and passivates after idleMs).
    const ids = Array.from({ length: o.tasks }, (_, i) => `L${i}`);
    log.writeJson(FILES.tasks, ids);
    const rate = new RateLimit(o.spawnRate ?? 400);
    const tSpawn = Date.now();
    const specs = ids.map((id) => ({ id, machine: 'plainTask' }));
    const spawned: string[] = [];
    for (let i = 0; i < specs.length; i += 500) {
      const batch = specs.slice(i, i + 500);
      for (let j = 0; j < batch.length; j++) await rate.take();
      const recs = await spawnAll(client, log, batch, 50);
      spawned.push(...recs.filter((r) => r.outcome === 'accepted').map((r) => r.task));
      if ((i / 500) % 4 === 0) progress(`load: ${spawned.length} spawned, worker holds ${mems().at(-1)?.held ?? '?'}`);
    }
    const spawnPerSec = Math.round((spawned.length * 1000) / (Date.now() - tSpawn));

    // One event to every task (re-activating the passivated ones), then keep a hot set busy.
    const send = async (task: string, id: string, seq: number) => {
      const sentAt = Date.now();
      const r = await client.send(task, { type: 'ev', id, sender: 'load', seq }, { idempotencyKey: id });
      const rec: SendRecord = { t: 'send', task, id, type: 'ev', sender: 'load', seq, keyed: true, outcome: 'accepted', entry: r.entryId, sentAt, ackAt: Date.now(), tries: 1 };
      log.append(FILES.events, rec);
    };
    const evRate = new RateLimit(o.spawnRate ?? 400);
    await pool(spawned, 50, async (task) => {
      await evRate.take();
      await send(task, `load.${task}.1`, 1);
    });
    progress(`load: one event sent to each of ${spawned.length} tasks (${Math.round((Date.now() - t0) / 1000)} s)`);

    const hot = spawned.slice(0, o.hot);
    let hotSeq = 1;
    let hotting = true;
    const hotLoop = (async () => {
      while (hotting) {
        hotSeq++;
        const seq = hotSeq;
        await pool(hot, 20, (task) => send(task, `load.${task}.${seq}`, seq));
        await sleep(500);
      }
    })();
    // Wait until the worker holds about the hot set (the rest passivated).
    const deadline = Date.now() + 120_000;
    for (;;) {
      const held = mems().at(-1)?.held ?? Infinity;
      if (held <= o.hot * 1.5 || Date.now() > deadline) break;
      await sleep(500);
    }
    await sleep((o.idleMs ?? 2000) + 1000);
    const steady = await gcReport();
    const redisUsed = await redisMem();
    const keys = await redis.dbsize();
    hotting = false;
    await hotLoop;
    const all = mems();
    const peakHeld = Math.max(0, ...all.map((m) => m.held));
    const peakHeap = Math.max(0, ...all.map((m) => m.mem.heapUsed));
    const rssPeak = Math.max(0, ...all.map((m) => m.mem.rss));

    // Everything applied once, in order (no finish: tasks stay open).
    await sleep(1000);
    await workers.stopAll();
    const report = await check({ connection: server.url, prefix, dir, requireFinal: false, agentMachines: [] });
    const retainedPerTask = Math.max(0, (steady.mem.heapUsed - baseline.mem.heapUsed) / o.tasks);
    const result: LoadResult = {
      ok: false,
      tasks: spawned.length,
      hot: o.hot,
      durationMs: Date.now() - t0,
      spawnPerSec,
      held: { peak: peakHeld, atEnd: steady.held },
      heapMB: {
        baseline: +(baseline.mem.heapUsed / MB).toFixed(1),
        peak: +(peakHeap / MB).toFixed(1),
        steadyAfterGc: +(steady.mem.heapUsed / MB).toFixed(1),
        retainedPerTaskBytes: Math.round(retainedPerTask),
        rssPeak: +(rssPeak / MB).toFixed(1),
        rssEnd: +(steady.mem.rss / MB).toFixed(1),
      },
      redis: {
        usedMemoryMB: +(redisUsed / MB).toFixed(1),
        baselineMB: +(redisBaseline / MB).toFixed(1),
        perTaskBytes: Math.round((redisUsed - redisBaseline) / Math.max(1, spawned.length)),
        keys,
      },
      check: { eventsChecked: report.eventsChecked, lost: report.lost, appliedTwice: report.appliedTwice, violations: report.violations.slice(0, 20) },
      notes,
    };
    if (spawned.length !== o.tasks) notes.push(`${o.tasks - spawned.length} spawns not accepted`);
    if (steady.held > o.hot * 1.5) notes.push(`the worker still holds ${steady.held} tasks (hot set ${o.hot})`);
    if (workers.crashes.length) notes.push(`worker crashed: ${JSON.stringify(workers.crashes)}`);
    result.ok = report.ok && spawned.length === o.tasks && steady.held <= o.hot * 1.5 && workers.crashes.length === 0;
    log.writeJson('load-result.json', result);
    return result;
  } finally {
    await workers.killAll();
    await client.close().catch(() => undefined);
    redis.disconnect();
    await server.stop();
  }
}
