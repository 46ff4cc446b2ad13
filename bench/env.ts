/**
 * The benchmark's Redis: connections, per-run key prefixes, cleanup, and
 * server-side counters (CPU and per-command call counts from INFO).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export interface RedisCounters {
  /** used_cpu_user + used_cpu_sys of the server, in µs. */
  cpuMicros: number;
  /** Calls per command name (INFO commandstats), including commands run inside scripts. */
  calls: Record<string, number>;
}

export class BenchEnv {
  readonly runId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  private readonly prefixes: string[] = [];
  /** Plain connection for setup, counters and cleanup (never used inside a measured loop). */
  readonly admin: Redis;

  constructor(readonly url: string) {
    this.admin = new Redis(url, { maxRetriesPerRequest: 2 });
  }

  /** A key prefix unique to this run; every key under it is deleted by {@link cleanup}. */
  prefix(name: string): string {
    const p = `bench-${this.runId}-${name}`;
    this.prefixes.push(p);
    return p;
  }

  /** A new plain ioredis connection (caller closes it). */
  connect(options: { autoPipelining: boolean }): Redis {
    return new Redis(this.url, { enableAutoPipelining: options.autoPipelining, maxRetriesPerRequest: 2 });
  }

  async counters(): Promise<RedisCounters> {
    const [cpu, stats] = await Promise.all([this.admin.info('cpu'), this.admin.info('commandstats')]);
    const field = (name: string) => Number(cpu.match(new RegExp(`^${name}:([0-9.]+)`, 'm'))?.[1] ?? 0);
    const calls: Record<string, number> = {};
    for (const m of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]!] = Number(m[2]);
    return { cpuMicros: Math.round((field('used_cpu_user') + field('used_cpu_sys')) * 1e6), calls };
  }

  /** Delete every key under this run's prefixes (Baton keys and BullMQ's `{prefix}` keys). Returns the count. */
  async cleanup(): Promise<number> {
    let deleted = 0;
    for (const p of this.prefixes) {
      for (const pattern of [`${p}:*`, `{${p}}:*`]) {
        let cursor = '0';
        do {
          const [next, keys] = await this.admin.scan(cursor, 'MATCH', pattern, 'COUNT', 2000);
          cursor = next;
          if (keys.length) deleted += await this.admin.unlink(...keys);
        } while (cursor !== '0');
      }
    }
    return deleted;
  }

  async close(): Promise<void> {
    await this.admin.quit().catch(() => this.admin.disconnect());
  }
}

/** Difference of two counter readings: server CPU µs and calls per command (non-zero only). */
export function counterDelta(a: RedisCounters, b: RedisCounters): RedisCounters {
  const calls: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.calls)) {
    const d = v - (a.calls[k] ?? 0);
    if (d > 0) calls[k] = d;
  }
  return { cpuMicros: b.cpuMicros - a.cpuMicros, calls };
}

/** What a measured section cost: node CPU of this process and the server's CPU and commands. */
export interface Cost {
  /** CPU time of this node process, µs. */
  nodeCpuMicros: number;
  /** Server CPU and per-command calls (INFO deltas; includes commands run inside scripts). */
  redis: RedisCounters;
}

/** Run `fn` and report its cost alongside its result. */
export async function withCost<T>(env: BenchEnv, fn: () => Promise<T>): Promise<{ value: T; cost: Cost }> {
  const before = await env.counters();
  const cpu0 = process.cpuUsage();
  const value = await fn();
  const cpu = process.cpuUsage(cpu0);
  const after = await env.counters();
  return { value, cost: { nodeCpuMicros: cpu.user + cpu.system, redis: counterDelta(before, after) } };
}

/** Sum of two costs (for measurements taken in several rounds). */
export function addCost(a: Cost | undefined, b: Cost): Cost {
  if (!a) return b;
  const calls: Record<string, number> = { ...a.redis.calls };
  for (const [k, v] of Object.entries(b.redis.calls)) calls[k] = (calls[k] ?? 0) + v;
  return { nodeCpuMicros: a.nodeCpuMicros + b.nodeCpuMicros, redis: { cpuMicros: a.redis.cpuMicros + b.redis.cpuMicros, calls } };
}
