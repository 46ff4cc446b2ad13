/**
 * Baton's figures, measured through the public API (a runtime in this process
 * running counter tasks, fed by `runtime.send`, observed with `waitFor` and
 * `subscribeReady`); figure 2 also reads each task's committed seq straight
 * from its state hash (key names from `runtime.keys`).
 */
import type { Redis } from 'ioredis';
import { createRuntime, type TaskApi, type Runtime } from '../src/index.js';
import type { BenchEnv } from './env.js';
import { counter, INC, MACHINE } from './machines.js';
import { ms, now, sleep, windowed } from './stats.js';

export interface Throughput {
  /** Committed transitions measured. */
  count: number;
  /** First send to the last commit visible, ms. */
  elapsedMs: number;
}

/** A runtime on its own prefix, running the bench counter. */
export async function startRuntime(env: BenchEnv, name: string): Promise<Runtime> {
  return createRuntime({ connection: env.url, prefix: env.prefix(name), machines: { [MACHINE]: counter } });
}

/** Spawn a counter; resolves once its first commit (seq 1) is durable. */
export async function spawnCounter(rt: Runtime, id: string): Promise<string> {
  const h = await rt.spawn(MACHINE, { id });
  return h.id;
}

/** Wait until the task's committed seq reaches `seq` (seen through a commit notice or a read). */
export async function waitSeq(rt: TaskApi, id: string, seq: number, timeout = 60_000): Promise<void> {
  await rt.waitFor(id, (v) => v.seq >= seq, { timeout });
}

/** The committed seq of a task now. */
export async function seqOf(rt: TaskApi, id: string): Promise<number> {
  return (await rt.get(id))?.seq ?? 0;
}

/**
 * Figure 1: one task fed back to back, then until its last commit is visible.
 * `window` = 1 awaits each send before the next; more keeps that many sends in
 * flight. Sends stop after `limit.ms` of sending or `limit.count` events,
 * whichever comes first.
 */
export async function singleTask(rt: TaskApi, id: string, window: number, limit: { ms?: number; count?: number }): Promise<Throughput> {
  const base = await seqOf(rt, id);
  const t0 = now();
  const deadline = limit.ms === undefined ? undefined : t0 + BigInt(Math.round(limit.ms * 1e6));
  const max = limit.count ?? Number.POSITIVE_INFINITY;
  let sent = 0;
  const lane = async () => {
    while (sent < max && (deadline === undefined || now() < deadline)) {
      sent++;
      await rt.send(id, INC);
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  await waitSeq(rt, id, base + sent);
  return { count: sent, elapsedMs: ms(t0) };
}

/**
 * Wait until every task's committed seq (HGET of its state hash) reaches its
 * target: one pipelined read of the tasks still behind per pass. Cheaper than
 * a `waitFor` (subscribe + read + parse) per task, which would add ~5% to
 * figure 2.
 */
export async function waitAllSeq(redis: Redis, rt: { keys: import("../src/persistence/keys.js").Keys }, targets: Map<string, number>, timeoutMs = 60_000): Promise<void> {
  let pending = [...targets.keys()];
  const deadline = Date.now() + timeoutMs;
  while (pending.length) {
    const p = redis.pipeline();
    for (const id of pending) p.hget(rt.keys.task(id).state, 'seq');
    const res = (await p.exec()) ?? [];
    pending = pending.filter((id, i) => Number(res[i]?.[1] ?? 0) < targets.get(id)!);
    if (!pending.length) return;
    if (Date.now() > deadline) throw new Error(`${pending.length} tasks did not reach their seq within ${timeoutMs} ms`);
    await sleep(1);
  }
}

/**
 * Figure 2: `perTask` events to each task, each task's sends in order, all
 * tasks at once; ends when every task's last commit is visible in Redis.
 */
export async function manyTasks(rt: TaskApi & { keys: import("../src/persistence/keys.js").Keys }, redis: Redis, ids: string[], perTask: number): Promise<Throughput> {
  const targets = new Map<string, number>();
  await windowed(ids.length, 200, async (i) => void targets.set(ids[i]!, (await seqOf(rt, ids[i]!)) + perTask));
  const t0 = now();
  await Promise.all(
    ids.map(async (id) => {
      for (let i = 0; i < perTask; i++) await rt.send(id, INC);
    }),
  );
  await waitAllSeq(redis, rt, targets);
  return { count: ids.length * perTask, elapsedMs: ms(t0) };
}

export interface LatencySample {
  /** send() resolved → commit notice received, ms. */
  afterSend: number[];
  /** send() called → commit notice received, ms. */
  total: number[];
  /** send() called → send() resolved, ms. */
  send: number[];
}

/**
 * Figure 3: one event at a time (the previous one committed), timing from
 * send() resolving to the commit notice of that event arriving through
 * `subscribeReady`. The first `warmup` samples are dropped.
 */
export async function latency(rt: TaskApi, id: string, samples: number, warmup: number): Promise<LatencySample> {
  let seq = await seqOf(rt, id);
  let want = -1;
  let arrived: ((t: bigint) => void) | undefined;
  const off = await rt.subscribeReady(id, (v) => {
    if (v.seq === want && arrived) {
      const fn = arrived;
      arrived = undefined;
      fn(now());
    }
  });
  const out: LatencySample = { afterSend: [], total: [], send: [] };
  try {
    for (let i = 0; i < samples + warmup; i++) {
      want = seq + 1;
      const seen = new Promise<bigint>((resolve) => (arrived = resolve));
      const t0 = now();
      await rt.send(id, INC);
      const t1 = now();
      const t2 = await withTimeout(seen, 10_000, `commit notice of seq ${want}`);
      seq = want;
      if (i >= warmup) {
        out.afterSend.push(Math.max(0, ms(t1, t2)));
        out.total.push(ms(t0, t2));
        out.send.push(ms(t0, t1));
      }
    }
  } finally {
    off();
  }
  return out;
}

export function withTimeout<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
}
