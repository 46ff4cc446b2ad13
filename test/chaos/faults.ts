// Fault injection: each kind in a loop at random moments, every injection
// logged (faults.jsonl) for the checker. Redis faults go through separate raw
// connections (test/helpers redisCommand) to the suite's OWN redis-server,
// never the shared one from REDIS_URL.
import { readFileSync, statSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { redisCommand, type RedisServerHandle } from '../helpers/redis-server.ts';
import { FILES, type FaultKind, type FaultRecord, type RunLog } from './log.js';
import type { WorkerPool } from './procs.js';
import type { Deployment } from './deployment.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const between = (lo: number, hi: number) => lo + Math.random() * (hi - lo);
const pick = <T>(xs: T[]): T | undefined => (xs.length ? xs[Math.floor(Math.random() * xs.length)] : undefined);

export interface FaultContext {
  /** The one redis-server of a single-server run (the Redis faults act on it). */
  redis?: RedisServerHandle;
  /** A replicated deployment (the failover acts on it). */
  deployment?: Deployment;
  /** Every task's state key (the failover times the first commit on the new master by them). */
  stateKeys?: string[];
  /** How long the replica's link is cut before the master is SIGKILLed, ms. @default 1000 */
  cutMs?: number;
  pool: WorkerPool;
  log: RunLog;
  leaseMs: number;
  /** How long a paused Redis stays paused (CLIENT PAUSE), ms. @default 2000 */
  pauseMs?: number;
  /** How long a SIGSTOPped worker stays frozen, ms. @default leaseMs * 2 + 2500 … + 1000 */
  freezeMs?: () => number;
  /** How long Redis stays down between SIGKILL and restart, ms. @default 0 … 500 */
  downMs?: () => number;
  /** Respawn delay after a worker SIGKILL, ms. @default 200 … 1500 */
  respawnMs?: () => number;
  /** The run's key prefix (to find who holds what). */
  prefix?: string;
  /** Size history of the AOF, for the emulated power cut (see AofSampler). */
  aof?: AofSampler;
  /** How much un-fsynced AOF a power cut loses, ms. @default 1000 (appendfsync everysec's interval) */
  powercutLossMs?: number;
}

/**
 * Samples the size of the live AOF file (Redis 7 multi-part AOF: the last
 * `incr` file of the manifest) every 20 ms. A power cut loses what was
 * written but not yet fsynced; with `appendfsync everysec` that is up to the
 * last second of writes. SIGKILL alone loses nothing (written pages stay in the
 * kernel), so the power cut is emulated: Redis is frozen, killed, and the AOF
 * truncated to its size of `powercutLossMs` ago, then restarted.
 */
export class AofSampler {
  private readonly samples: Array<{ at: number; file: string; size: number }> = [];
  private timer?: NodeJS.Timeout;
  constructor(private readonly dir: string) {}

  /** The live incr AOF file (from the manifest). */
  file(): string | undefined {
    try {
      const manifest = readFileSync(path.join(this.dir, 'appendonlydir', 'appendonly.aof.manifest'), 'utf8');
      const incr = manifest.split('\n').filter((l) => / type i/.test(l)).pop();
      const name = incr?.split(' ')[1];
      return name ? path.join(this.dir, 'appendonlydir', name) : undefined;
    } catch {
      return undefined;
    }
  }

  start(): this {
    this.timer = setInterval(() => {
      const file = this.file();
      if (!file) return;
      try {
        this.samples.push({ at: Date.now(), file, size: statSync(file).size });
        if (this.samples.length > 1000) this.samples.splice(0, 500);
      } catch {
        /* between files */
      }
    }, 20);
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The last sample at or before `at` of `file`. */
  sizeAt(file: string, at: number): number | undefined {
    let best: number | undefined;
    for (const s of this.samples) if (s.file === file && s.at <= at) best = s.size;
    return best;
  }
}

/** The live, unfrozen worker that holds the most task leases right now (read from Redis). */
async function busiest(ctx: FaultContext): Promise<import('./procs.js').WorkerProc | undefined> {
  if (!ctx.prefix || !ctx.redis) return undefined;
  const port = ctx.redis.port;
  const keys: string[] = [];
  let cursor = '0';
  do {
    const r = (await redisCommand(port, ['SCAN', cursor, 'MATCH', `${ctx.prefix}:task:*:lease`, 'COUNT', '1000'])) as [string, string[]];
    cursor = r[0];
    keys.push(...r[1]);
  } while (cursor !== '0');
  if (!keys.length) return undefined;
  const owners = (await redisCommand(port, ['MGET', ...keys])) as Array<string | null>;
  const counts = new Map<string, number>();
  for (const o of owners) if (o) counts.set(o, (counts.get(o) ?? 0) + 1);
  const live = ctx.pool.live().filter((x) => !x.frozen);
  return live.sort((a, b) => (counts.get(b.owner) ?? 0) - (counts.get(a.owner) ?? 0))[0];
}

/** Inject one fault of `kind`; resolves once its effect is over (worker respawned, Redis back, pause over). */
export async function inject(ctx: FaultContext, kind: FaultKind): Promise<FaultRecord | undefined> {
  const at = Date.now();
  let rec: FaultRecord | undefined;
  const server = () => {
    if (!ctx.redis) throw new Error(`${kind} needs a single redis-server`);
    return ctx.redis;
  };
  switch (kind) {
    case 'redis-failover': {
      if (!ctx.deployment) throw new Error('redis-failover needs a replicated deployment');
      const { timings: t, affected } = await ctx.deployment.failover(ctx.cutMs ?? 1000, ctx.stateKeys ?? []);
      const ms = (x?: number) => (x === undefined ? 'never' : `${x - t.killAt} ms`);
      rec = {
        t: 'fault', kind, at: t.cutAt, until: t.rejoinedAt, timings: { ...t },
        tasks: affected.map((k) => k.slice(k.indexOf('{') + 1, k.lastIndexOf('}'))),
        detail: `${affected.length} tasks on the failed master; link cut ${t.killAt - t.cutAt} ms before the SIGKILL; promoted after ${ms(t.promotedAt)}, first commit on the new master after ${ms(t.firstCommitAt)}, old master a replica after ${ms(t.rejoinedAt)}`,
      };
      break;
    }
    case 'sigkill-worker': {
      const w = pick(ctx.pool.live().filter((x) => !x.frozen));
      if (!w) return undefined;
      await ctx.pool.kill(w);
      rec = { t: 'fault', kind, at, pid: w.pid };
      await sleep((ctx.respawnMs ?? (() => between(200, 1500)))());
      const fresh = await ctx.pool.start(w.slot);
      rec.until = Date.now();
      rec.detail = `replaced by ${fresh.pid}`;
      break;
    }
    case 'sigstop-worker': {
      // The worker holding the most leases: freezing it makes it a stale writer of as many tasks as possible.
      const w = (await busiest(ctx)) ?? pick(ctx.pool.live().filter((x) => !x.frozen));
      if (!w) return undefined;
      ctx.pool.freeze(w);
      const ms = (ctx.freezeMs ?? (() => ctx.leaseMs * 2 + between(2500, 3500)))();
      await sleep(ms);
      ctx.pool.thaw(w);
      rec = { t: 'fault', kind, at, until: Date.now(), pid: w.pid, detail: `frozen ${Math.round(ms)} ms` };
      break;
    }
    case 'redis-restart': {
      await server().kill('SIGKILL');
      const down = (ctx.downMs ?? (() => between(0, 500)))();
      await sleep(down);
      await server().restart();
      rec = { t: 'fault', kind, at, until: Date.now(), pid: server().pid, detail: `down ${Math.round(down)} ms + restart` };
      break;
    }
    case 'redis-powercut': {
      if (!ctx.aof) throw new Error('redis-powercut needs an AofSampler (AOF on)');
      server().pause(); // nothing more reaches the file
      const cutAt = Date.now();
      const file = ctx.aof.file();
      await server().kill('SIGKILL');
      const size = file ? statSync(file).size : 0;
      const keep = file ? (ctx.aof.sizeAt(file, cutAt - (ctx.powercutLossMs ?? 1000)) ?? size) : 0;
      if (file && keep < size) truncateSync(file, keep);
      await server().restart();
      rec = { t: 'fault', kind, at: cutAt, until: Date.now(), pid: server().pid, detail: `AOF ${path.basename(file ?? '?')} cut from ${size} to ${keep} bytes (${size - keep} un-fsynced bytes lost)` };
      break;
    }
    case 'client-kill-type': {
      const r = await redisCommand(server().port, ['CLIENT', 'KILL', 'TYPE', 'normal']);
      rec = { t: 'fault', kind, at, until: Date.now(), detail: `killed ${String(r)} normal connections` };
      break;
    }
    case 'client-kill-pubsub': {
      const r = await redisCommand(server().port, ['CLIENT', 'KILL', 'TYPE', 'pubsub']);
      rec = { t: 'fault', kind, at, until: Date.now(), detail: `killed ${String(r)} pubsub connections` };
      break;
    }
    case 'client-kill-addr': {
      const list = await redisCommand(server().port, ['CLIENT', 'LIST']);
      const clients = String(list)
        .split('\n')
        .map((l) => Object.fromEntries(l.trim().split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])))
        .filter((c) => c.addr && c.cmd !== 'client|list');
      const victims = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => pick(clients)).filter((c) => !!c);
      const killed: string[] = [];
      for (const v of victims) {
        const r = await redisCommand(server().port, ['CLIENT', 'KILL', 'ADDR', v.addr!]).catch((e: Error) => e);
        if (r === 'OK') killed.push(`${v.addr} (${v.cmd})`);
      }
      rec = { t: 'fault', kind, at, until: Date.now(), detail: `killed ${killed.join(', ') || 'none'}` };
      break;
    }
    case 'client-pause': {
      const ms = ctx.pauseMs ?? 2000;
      await redisCommand(server().port, ['CLIENT', 'PAUSE', String(ms), 'ALL']);
      await sleep(ms);
      rec = { t: 'fault', kind, at, until: at + ms, detail: `CLIENT PAUSE ${ms} ALL` };
      break;
    }
  }
  if (rec) ctx.log.append(FILES.faults, rec);
  return rec;
}

/**
 * Inject faults of the given kinds, one at a time at random moments (a pause
 * of 0.5-1.5 × `meanMs` between one fault's end and the next), until
 * `done()` says so. Resolves with the faults injected.
 */
export async function faultLoop(
  ctx: FaultContext,
  opts: {
    kinds: FaultKind[];
    meanMs: number;
    done: () => boolean;
    max?: number;
    /** Inject exactly these, in this order, then stop. */
    sequence?: FaultKind[];
    /** Start only once this says so (e.g. halfway through the sends). */
    gate?: () => boolean;
  },
): Promise<FaultRecord[]> {
  const out: FaultRecord[] = [];
  const queue = opts.sequence ? [...opts.sequence] : undefined;
  while (opts.gate && !opts.gate() && !opts.done()) await sleep(20);
  while (!opts.done() && (opts.max === undefined || out.length < opts.max) && (!queue || queue.length > 0)) {
    const wait = between(0.5, 1.5) * opts.meanMs;
    const until = Date.now() + wait;
    while (Date.now() < until && !opts.done()) await sleep(Math.min(50, until - Date.now()));
    if (opts.done()) break;
    const kind = queue ? queue.shift()! : pick(opts.kinds)!;
    try {
      const rec = await inject(ctx, kind);
      if (rec) out.push(rec);
    } catch (err) {
      // A fault that could not be injected (e.g. CLIENT LIST while Redis restarts) is skipped, not counted.
      ctx.log.append(FILES.faults, { t: 'fault', kind, at: Date.now(), detail: `not injected: ${(err as Error).message}` } as FaultRecord);
    }
  }
  return out;
}

/** Counts of injected faults per kind. */
export function countFaults(records: FaultRecord[]): Partial<Record<FaultKind, number>> {
  const out: Partial<Record<FaultKind, number>> = {};
  for (const r of records) if (!r.detail?.startsWith('not injected')) out[r.kind] = (out[r.kind] ?? 0) + 1;
  return out;
}
