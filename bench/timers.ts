/**
 * Timer figure: lateness of durable `after` timers, from the deadline saved
 * with the commit (`view.timers[].dueAt`) to the committed transition
 * (`historyEntry.at`), for tasks held in memory and for passivated tasks
 * (woken through the due set, a sweep and an activation). Baseline: Node's own
 * setTimeout lateness for the same delays in the same process and run.
 */
import type { Redis } from 'ioredis';
import { createClient, createRuntime, type TaskApi, type Runtime } from '../src/index.js';
import { timer } from './agent-machines.js';
import { summaryJson, waitFinished } from './agents.js';
import type { BenchEnv } from './env.js';
import type { FigureResult, Runtimes } from './figures.js';
import { row } from './report.js';
import { sleep, summarise, windowed } from './stats.js';

export interface TimerOptions {
  /** Tasks per group (held, passivated). */
  tasks: number;
  minMs: number;
  maxMs: number;
  /** idleMs of the passivating runtime. */
  idleMs: number;
  /** Arms per second, both groups together (paced, so that timers fire at about this rate too). */
  rate: number;
}

interface Group {
  name: 'held' | 'passivated';
  rt: Runtime;
  obs: TaskApi;
  ids: string[];
}

/** Deterministic pseudo-random delays (the same in every run). */
function delays(n: number, min: number, max: number): number[] {
  let x = 0x2545f491;
  return Array.from({ length: n }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return min + ((x >>> 0) % (max - min + 1));
  });
}

/** setTimeout lateness (ms, by Date.now like Baton's commit times; and by hrtime) for `ds`, all armed at once. */
async function nodeLateness(ds: number[]): Promise<{ ms: number[]; hr: number[] }> {
  const out = { ms: [] as number[], hr: [] as number[] };
  await Promise.all(
    ds.map((d) => {
      const t0 = Date.now();
      const h0 = process.hrtime.bigint();
      return new Promise<void>((resolve) =>
        setTimeout(() => {
          out.ms.push(Date.now() - (t0 + d));
          out.hr.push(Number(process.hrtime.bigint() - h0) / 1e6 - d);
          resolve();
        }, d),
      );
    }),
  );
  return out;
}

export async function timerFigure(env: BenchEnv, rts: Runtimes, reader: Redis, o: TimerOptions): Promise<FigureResult> {
  const make = async (name: Group['name'], idleMs: number): Promise<Group> => {
    const prefix = env.prefix(`timers-${name}`);
    const rt = await rts.track(createRuntime({ connection: env.url, prefix, idleMs, machines: { timer } }));
    const obs = createClient({ connection: env.url, prefix });
    const ids = Array.from({ length: o.tasks }, (_, i) => `${name}-${i}`);
    return { name, rt, obs, ids };
  };
  const held = await make('held', 0); // never passivates
  const passive = await make('passivated', o.idleMs);
  const groups = [held, passive];
  const offs: Array<() => void> = [];
  try {
    for (const g of groups) await windowed(g.ids.length, 100, (i) => g.rt.spawn('timer', { id: g.ids[i]! }));
    while (passive.rt.heldCount > 0) await sleep(20); // every passivated task starts out of memory

    // Each task's deadline, from the first commit notice that carries its timer;
    // and whether its runtime held it in memory 2 ms before the deadline.
    const dueAt = new Map<string, number>();
    const heldAtDeadline = new Map<string, boolean>();
    const checks: NodeJS.Timeout[] = [];
    for (const g of groups) {
      await windowed(g.ids.length, 200, async (i) => {
        const id = g.ids[i]!;
        const off = await g.obs.subscribeReady(id, (v) => {
          const t = v.timers[0];
          if (!t || dueAt.has(id)) return;
          dueAt.set(id, t.dueAt);
          checks.push(setTimeout(() => heldAtDeadline.set(id, g.rt.hosts.has(id)), Math.max(0, t.dueAt - Date.now() - 2)));
        });
        offs.push(off);
      });
    }
    const ds = delays(o.tasks * 2, o.minMs, o.maxMs);
    // Interleave the groups so both see the same load.
    const all = held.ids.flatMap((id, i) => [
      { g: held, id, ms: ds[2 * i]! },
      { g: passive, id: passive.ids[i]!, ms: ds[2 * i + 1]! },
    ]);
    const t0 = Date.now();
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < all.length; i++) {
      const wait = t0 + (i * 1000) / o.rate - Date.now();
      if (wait >= 1) await sleep(wait);
      sends.push(all[i]!.g.rt.send(all[i]!.id, { type: 'arm', ms: all[i]!.ms }));
    }
    await Promise.all(sends);
    const armMs = Date.now() - t0;
    for (const g of groups) await waitFinished(reader, g.rt, g.ids, 60_000);
    for (const c of checks) clearTimeout(c);

    const lateness = { held: [] as number[], passivated: [] as number[], passivatedButHeld: [] as number[] };
    for (const g of groups) {
      await windowed(g.ids.length, 50, async (i) => {
        const id = g.ids[i]!;
        const h = await g.rt.history(id, { limit: 10 });
        const fired = h.find((e) => e.to === 'fired');
        const due = dueAt.get(id);
        if (!fired || due === undefined) throw new Error(`timer task ${id}: no fired commit or no deadline seen`);
        const late = fired.at - due;
        if (g === held) lateness.held.push(late);
        else if (heldAtDeadline.get(id) === false) lateness.passivated.push(late);
        else lateness.passivatedButHeld.push(late);
      });
    }
    const node = await nodeLateness(ds);
    const nh = summarise(lateness.held);
    const np = summarise(lateness.passivated);
    const nn = summarise(node.ms);
    // A ratio only against a baseline above zero (setTimeout is often on time to the millisecond).
    const ratioOf = (b: number) => (b > 0 ? undefined : Number.NaN);
    const is = 'fig.8 = Node setTimeout lateness for the same delays (Date.now, ms), all armed at once in this process';
    return {
      rows: [
        row('timers.held.p50', `8 timer lateness, held task, p50 (${nh.n})`, 'ms', nh.p50, nn.p50, is, { ratio: ratioOf(nn.p50) }),
        row('timers.held.p99', '8 timer lateness, held task, p99', 'ms', nh.p99, nn.p99, is, { ratio: ratioOf(nn.p99) }),
        row('timers.passivated.p50', `8 timer lateness, passivated task, p50 (${np.n})`, 'ms', np.p50, nn.p50, is, { ratio: ratioOf(nn.p50) }),
        row('timers.passivated.p99', '8 timer lateness, passivated task, p99', 'ms', np.p99, nn.p99, is, { ratio: ratioOf(nn.p99) }),
      ],
      costs: [],
      details: {
        ...o,
        armMs,
        measured: 'historyEntry.at of the commit into `fired` minus the dueAt committed with the timer (both ms since the epoch, by the runtime clock)',
        held: summaryJson(nh),
        passivated: summaryJson(np),
        passivatedGroupStillHeldAtDeadline: summaryJson(summarise(lateness.passivatedButHeld)),
        nodeSetTimeoutMs: summaryJson(nn),
        nodeSetTimeoutHrMs: summaryJson(summarise(node.hr)),
      },
    };
  } finally {
    for (const off of offs) off();
    for (const g of groups) {
      await g.obs.close();
      await rts.close(g.rt);
    }
  }
}
