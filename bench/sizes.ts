/**
 * Figure 9, state sizes: what one committed transition costs as a task's
 * state grows, for tasks held by a runtime in this process, fed one `send`
 * at a time (each awaited: from the holding process, `send` resolves once the
 * event is applied and committed).
 *
 * Two groups, each against its smallest task:
 * - context: a root context of 100 B, 10 KB, 100 KB and 1 MB, the bulk in one
 *   key (`items`) that the event leaves alone, plus a `count` it increments;
 *   and at 100 KB and 1 MB an event that appends one ~200 B item to `items`
 *   (`items: [...items, item]`; a fresh task each round, so `items` grows by
 *   at most 10 % during a round).
 * - children: 1, 100 and 1,000 machine children of the root, each with a
 *   small context; the event is forwarded (`sendTo`) to one of them (in turn),
 *   whose context it changes.
 *
 * Per variant: ms per transition (median over rounds; ratio: median over rounds
 * of variant ÷ smallest of its group in the same round), bytes written to
 * Redis per commit (INFO stats `total_net_input_bytes` delta on a connection
 * of its own, less what the counter reads themselves send) and commands per
 * commit (INFO commandstats, in the costs table). Baseline, measured in the
 * same rounds: the bare commit script awaited in a loop (bench/baseline.ts,
 * CommitLoop), against the smallest task of each group.
 *
 * The variants run round-robin (a round runs every variant once; odd rounds
 * in reverse order), so drift of the machine hits them alike. Only the public
 * API is used: createRuntime with `machines`, `spawn`, `send`, `get`.
 */
import type { Redis } from 'ioredis';
import { createRuntime, type Runtime } from '../src/index.js';
import type { TaskStore } from '../src/persistence/task-store.js';
import { CommitLoop, sequentialCommits } from './baseline.js';
import { addCost, withCost, type BenchEnv, type Cost } from './env.js';
import type { FigureResult, Runtimes } from './figures.js';
import { row, type CostRow, type Row } from './report.js';
import { FANOUT, ITEM_BYTES, SIZED, bulk, fanout, item, sized } from './size-machines.js';
import { median, ms, now, round } from './stats.js';

export interface SizeOptions {
  /** Rounds (each measures every variant and the baseline once). */
  rounds: number;
  /** Sending time per variant per round, ms. */
  roundMs: number;
  /** Sending time per variant in the warm-up round (not measured), ms. */
  warmupMs: number;
}

/** Ratio aimed at (at most) for the largest task of each group. */
const AIM = 1.5;

interface Measured {
  /** Transitions (sends, or bare commits) measured. */
  count: number;
  elapsedMs: number;
  /** Commits seen (seq delta): one per send expected. */
  commits: number;
  /** Bytes Redis read from its clients meanwhile, less the counter reads. */
  bytes: number;
  cost: Cost;
}

/** One measured series: a variant, or the baseline loop. */
class Series {
  count = 0;
  commits = 0;
  elapsedMs = 0;
  bytes = 0;
  cost: Cost | undefined;
  /** ms per transition, each round. */
  readonly perRound: number[] = [];

  constructor(
    readonly key: string,
    readonly label: string,
    readonly what: string,
  ) {}

  add(m: Measured): void {
    this.count += m.count;
    this.commits += m.commits;
    this.elapsedMs += m.elapsedMs;
    this.bytes += m.bytes;
    this.cost = addCost(this.cost, m.cost);
    this.perRound.push(m.elapsedMs / m.count);
  }

  /** Median over rounds of ms per transition. */
  get msPer(): number {
    return median(this.perRound);
  }

  get bytesPerCommit(): number {
    return this.bytes / this.commits;
  }

  /** Median over rounds of this ÷ `base` (the same round). */
  ratioTo(base: Series): number {
    return median(this.perRound.map((v, i) => v / base.perRound[i]!));
  }

  costRow(): CostRow {
    return { what: this.what, count: this.commits, elapsedMs: this.elapsedMs, cost: this.cost! };
  }

  json() {
    const calls = Object.entries(this.cost?.redis.calls ?? {}).filter(([k]) => k !== 'info');
    const commands = calls.reduce((s, [, v]) => s + v, 0);
    const scripts = calls.filter(([k]) => k === 'evalsha' || k === 'eval').reduce((s, [, v]) => s + v, 0);
    return {
      count: this.count,
      commits: this.commits,
      elapsedMs: round(this.elapsedMs),
      msPerTransitionMedian: round(this.msPer, 4),
      msPerTransitionPerRound: this.perRound.map((v) => round(v, 4)),
      bytesPerCommit: Math.round(this.bytesPerCommit),
      commandsPerCommit: round(commands / this.commits, 2),
      scriptsPerCommit: round(scripts / this.commits, 2),
    };
  }
}

/** A Baton variant: its task(s) and the event it sends. */
interface Variant {
  series: Series;
  group: 'context' | 'children';
  /** The task to send to in the next round (spawned here when it needs a fresh one). */
  task(round: number): Promise<string>;
  event(i: number): { type: string; [k: string]: unknown };
  /** At most this many sends per round. */
  maxPerRound: number;
  /** Aimed at: ratio to the group's smallest task at most {@link AIM}. */
  aim: boolean;
}

const KB = 1000;
const sizeLabel = (b: number) => (b >= 1e6 ? `${b / 1e6} MB` : b >= KB ? `${b / KB} KB` : `${b} B`);

async function inputBytes(conn: Redis): Promise<number> {
  const s = await conn.info('stats');
  return Number(s.match(/^total_net_input_bytes:(\d+)/m)?.[1] ?? Number.NaN);
}

export async function sizesFigure(env: BenchEnv, rts: Runtimes, store: TaskStore, o: SizeOptions): Promise<FigureResult> {
  const stats = env.connect({ autoPipelining: false }); // INFO stats only: its own bytes are known
  try {
    return await measureSizes(env, rts, store, stats, o);
  } finally {
    await stats.quit().catch(() => stats.disconnect());
  }
}

async function measureSizes(env: BenchEnv, rts: Runtimes, store: TaskStore, stats: Redis, o: SizeOptions): Promise<FigureResult> {
  const rt: Runtime = await rts.track(
    createRuntime({ connection: env.url, prefix: env.prefix('sizes'), idleMs: 0, machines: { [SIZED]: sized, [FANOUT]: fanout } }),
  );
  const seq = async (id: string) => (await rt.get(id))?.seq ?? 0;

  // What the counter reads add to total_net_input_bytes (INFO commands): the least of a few empty measurements.
  const window = async <T>(fn: () => Promise<T>) => {
    const b0 = await inputBytes(stats);
    const r = await withCost(env, fn);
    const b1 = await inputBytes(stats);
    return { ...r, bytes: b1 - b0 };
  };
  let overhead = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) overhead = Math.min(overhead, (await window(async () => undefined)).bytes);

  const loop = await CommitLoop.create(store, 'sizes-loop');
  const base = new Series('sizes.baseline', 'bare commit script loop', 'baseline: commit script, sequential (fig.9)');

  const variants: Variant[] = [];
  const spawnSized = async (id: string, bytes: number) => (await rt.spawn(SIZED, { id, input: { bytes } })).id;
  for (const bytes of [100, 10 * KB, 100 * KB, 1000 * KB]) {
    const id = await spawnSized(`ctx-${bytes}`, bytes);
    variants.push({
      series: new Series(`sizes.context.${sizeLabel(bytes).replace(' ', '')}`, `context ${sizeLabel(bytes)}, event changes a counter`, `Baton: context ${sizeLabel(bytes)}, counter event`),
      group: 'context',
      task: async () => id,
      event: () => ({ type: 'inc' }),
      maxPerRound: Number.POSITIVE_INFINITY,
      aim: bytes === 1000 * KB,
    });
  }
  for (const bytes of [100 * KB, 1000 * KB]) {
    variants.push({
      series: new Series(`sizes.append.${sizeLabel(bytes).replace(' ', '')}`, `context ${sizeLabel(bytes)}, event appends ${ITEM_BYTES} B to it`, `Baton: context ${sizeLabel(bytes)}, append event`),
      group: 'context',
      task: (r) => spawnSized(`append-${bytes}-${r < 0 ? 'warm' : `r${r}`}`, bytes),
      event: (i) => ({ type: 'add', item: item(1_000_000 + i) }),
      maxPerRound: Math.ceil((0.1 * bytes) / ITEM_BYTES),
      aim: false,
    });
  }
  for (const children of [1, 100, 1000]) {
    const id = (await rt.spawn(FANOUT, { id: `kids-${children}`, input: { children } })).id;
    const n = children.toLocaleString('en-US');
    variants.push({
      series: new Series(
        `sizes.children.${children}`,
        children === 1 ? '1 child, event forwarded to it' : `${n} children, event forwarded to one`,
        `Baton: ${n} child${children === 1 ? '' : 'ren'}, forwarded event`,
      ),
      group: 'children',
      task: async () => id,
      event: (i) => ({ type: 'poke', k: i % children }),
      maxPerRound: Number.POSITIVE_INFINITY,
      aim: children === 1000,
    });
  }
  const counters = new Map<Variant, number>(variants.map((v) => [v, 0]));

  const runVariant = async (v: Variant, r: number, durationMs: number): Promise<Measured> => {
    const id = await v.task(r);
    const seq0 = await seq(id);
    const w = await window(async () => {
      const t0 = now();
      const deadline = t0 + BigInt(Math.round(durationMs * 1e6));
      let sent = 0;
      let i = counters.get(v)!;
      while (sent < v.maxPerRound && now() < deadline) {
        await rt.send(id, v.event(i++));
        sent++;
      }
      counters.set(v, i);
      return { count: sent, elapsedMs: ms(t0) };
    });
    const commits = (await seq(id)) - seq0;
    return { ...w.value, commits, bytes: w.bytes - overhead, cost: w.cost };
  };
  const runBase = async (durationMs: number): Promise<Measured> => {
    const w = await window(() => sequentialCommits(loop, durationMs));
    return { ...w.value, commits: w.value.count, bytes: w.bytes - overhead, cost: w.cost };
  };

  // Warm-up of every path (not measured), then the rounds.
  await runBase(o.warmupMs);
  for (const v of variants) await runVariant(v, -1, o.warmupMs);
  for (let r = 0; r < o.rounds; r++) {
    const order = r % 2 ? [...variants].reverse() : variants;
    base.add(await runBase(o.roundMs));
    for (const v of order) v.series.add(await runVariant(v, r, o.roundMs));
  }

  const groupBase = (g: Variant['group']) => variants.find((v) => v.group === g)!.series;
  const loopIs = 'fig.9 base rows = commit script (TaskStore.commit) awaited in a loop, plain connection';
  const groupIs = 'fig.9 other rows = the smallest task of its group (100 B context; 1 child), same rounds';
  const timeRows: Row[] = [];
  const byteRows: Row[] = [];
  for (const v of variants) {
    const s = v.series;
    const b = groupBase(v.group);
    if (s === b) {
      timeRows.push(row(`${s.key}.ms`, `9 ${s.label}, per transition`, 'ms', s.msPer, base.msPer, loopIs, { ratio: s.ratioTo(base) }));
      byteRows.push(row(`${s.key}.bytes`, `9 ${s.label}, bytes to Redis per commit`, 'B', s.bytesPerCommit, base.bytesPerCommit, loopIs));
    } else {
      const aim = v.aim ? { maxRatio: AIM } : {};
      timeRows.push(row(`${s.key}.ms`, `9 ${s.label}, per transition`, 'ms', s.msPer, b.msPer, groupIs, { ratio: s.ratioTo(b), ...aim }));
      byteRows.push(row(`${s.key}.bytes`, `9 ${s.label}, bytes to Redis per commit`, 'B', s.bytesPerCommit, b.bytesPerCommit, groupIs));
    }
  }
  const all = [base, ...variants.map((v) => v.series)];
  return {
    rows: [...timeRows, ...byteRows],
    costs: all.map((s) => s.costRow()),
    details: {
      rounds: o.rounds,
      roundMs: o.roundMs,
      infoOverheadBytes: overhead,
      contextBytes: Object.fromEntries([100, 10 * KB, 100 * KB, 1000 * KB].map((b) => [sizeLabel(b), JSON.stringify({ count: 0, items: bulk(b) }).length])),
      series: Object.fromEntries(all.map((s) => [s.key, s.json()])),
    },
  };
}
