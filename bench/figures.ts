/**
 * The three figures, each measured in alternating rounds with its baseline
 * (baseline, Baton, baseline, Baton, …) so that drift of the machine during
 * the run hits both alike. A figure's rate is total count over total time.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import type { Runtime } from '../src/index.js';
import type { TaskStore } from '../src/persistence/task-store.js';
import { CommitLoop, concurrentCommits, roundTrips, sequentialCommits } from './baseline.js';
import { latency, manyTasks, singleTask, spawnCounter, startRuntime, type LatencySample, type Throughput } from './core.js';
import { addCost, withCost, type BenchEnv, type Cost } from './env.js';
import { INC } from './machines.js';
import { latencyRow, throughputRow, type CostRow, type Row } from './report.js';
import { median, rate, round, summarise, windowed, type Summary } from './stats.js';

export interface Options {
  /** Rounds per throughput figure (each round measures the baseline, then Baton). */
  rounds: number;
  /** Figure 1, sequential sends: ms of sending (all rounds together). */
  durationMs: number;
  /** Figure 1, 64 in flight: events (all rounds together). */
  windowEvents: number;
  /** Figure 2: tasks, and events per task (all rounds together). */
  tasks: number;
  perTask: number;
  /** Figure 3: samples and warm-up samples. */
  samples: number;
  warmupSamples: number;
  /** Figure 3 also from a separate client process. */
  remote: boolean;
  /** Figures to run, by key (see bench/index.ts). */
  only: Set<string>;
}

/** What a figure adds to the report. */
export interface FigureResult {
  rows: Row[];
  costs: CostRow[];
  details: Record<string, unknown>;
}

/** Accumulates rounds of one measured series. */
export class Tally {
  count = 0;
  elapsedMs = 0;
  cost: Cost | undefined;
  readonly perRound: number[] = [];

  constructor(
    readonly what: string,
    readonly per?: string,
  ) {}

  async round(env: BenchEnv, fn: () => Promise<Throughput>): Promise<void> {
    const { value, cost } = await withCost(env, fn);
    this.count += value.count;
    this.elapsedMs += value.elapsedMs;
    this.cost = addCost(this.cost, cost);
    this.perRound.push(Math.round(rate(value.count, value.elapsedMs)));
  }

  /** Median of the per-round rates: one round disturbed by the machine does not move it. */
  get rate(): number {
    return median(this.perRound);
  }

  costRow(): CostRow {
    return { what: this.what, per: this.per, count: this.count, elapsedMs: this.elapsedMs, cost: this.cost! };
  }

  json() {
    return {
      count: this.count,
      elapsedMs: round(this.elapsedMs),
      perSecMedian: round(this.rate),
      perSecOverall: round(rate(this.count, this.elapsedMs)),
      perRound: this.perRound,
    };
  }
}

/** Median over rounds of `a` ÷ `b` in the same round (rounds alternate, so each pair saw the same machine). */
export function pairedRatio(a: Tally, b: Tally): number {
  return median(a.perRound.map((v, i) => v / b.perRound[i]!));
}

/** Runtimes opened by figures, closed by {@link closeAll} even when a figure fails. */
export class Runtimes {
  private readonly open = new Set<Runtime>();

  async start(env: BenchEnv, name: string): Promise<Runtime> {
    return this.track(startRuntime(env, name));
  }

  /** Track a runtime started elsewhere (other machines or options). */
  async track(started: Promise<Runtime>): Promise<Runtime> {
    const rt = await started;
    this.open.add(rt);
    return rt;
  }

  async close(rt: Runtime): Promise<void> {
    this.open.delete(rt);
    await rt.close();
  }

  async closeAll(): Promise<void> {
    for (const rt of [...this.open]) await this.close(rt).catch(() => undefined);
  }
}

/**
 * Figure 1: one task fed back to back, sequential sends and 64 in flight,
 * against the commit script awaited in a loop on one task (a plain
 * connection: the round-trip limit). Beside it, the same loop whose commits
 * also append the event under its send token, as a send's commit does: the
 * Redis work a durable send cannot do without, so its ratio shows what
 * Baton's own code (XState, the delta, the mailbox, the promises) costs.
 */
export async function figure1(env: BenchEnv, rts: Runtimes, store: TaskStore, o: Options): Promise<FigureResult> {
  const loopRaw = await CommitLoop.create(store, 'seq-raw');
  const loopSend = await CommitLoop.create(store, 'seq-send', { append: true });
  const rt = await rts.start(env, 'one');
  for (const id of ['warm', 'seq', 'win']) await spawnCounter(rt, id);
  // Warm-up of every path measured below.
  await sequentialCommits(loopRaw, 300);
  await sequentialCommits(loopSend, 300);
  await singleTask(rt, 'warm', 1, { ms: 300 });
  await singleTask(rt, 'warm', 64, { count: 2000 });

  const base = new Tally('baseline: commit script, sequential');
  const baseSend = new Tally("baseline: same, with a send's append");
  const seq = new Tally('Baton: one task, sequential sends');
  const win = new Tally('Baton: one task, 64 sends in flight');
  const roundMs = o.durationMs / o.rounds;
  for (let r = 0; r < o.rounds; r++) {
    await base.round(env, () => sequentialCommits(loopRaw, roundMs));
    await seq.round(env, () => singleTask(rt, 'seq', 1, { ms: roundMs }));
    // Count-bound: sends outrun commits, so a time-bound run would pile up an unbounded backlog.
    await win.round(env, () => singleTask(rt, 'win', 64, { count: Math.ceil(o.windowEvents / o.rounds) }));
    await baseSend.round(env, () => sequentialCommits(loopSend, roundMs));
  }
  await rts.close(rt);

  const is = 'fig.1 = commit script (TaskStore.commit) awaited in a loop on one task, plain connection';
  return {
    rows: [
      throughputRow('single.sequential', '1 one task, sequential sends', seq.rate, base.rate, is, { minRatio: 0.8, ratio: pairedRatio(seq, base) }),
      throughputRow('single.window64', '1 one task, 64 sends in flight', win.rate, base.rate, is, { minRatio: 0.8, ratio: pairedRatio(win, base) }),
      throughputRow('single.sequentialVsSendLoop', "  sequential sends against the loop with a send's append", seq.rate, baseSend.rate, is, {
        ratio: pairedRatio(seq, baseSend),
      }),
    ],
    costs: [base.costRow(), baseSend.costRow(), seq.costRow(), win.costRow()],
    details: {
      baseline: base.json(),
      baselineWithAppend: baseSend.json(),
      sequential: seq.json(),
      window64: win.json(),
    },
  };
}

/** Figure 2: aggregate over many tasks, against the commit script auto-pipelined over as many keys. */
export async function figure2(env: BenchEnv, rts: Runtimes, store: TaskStore, reader: Redis, o: Options): Promise<FigureResult> {
  const loops: CommitLoop[] = new Array(o.tasks);
  await windowed(o.tasks, 500, async (i) => void (loops[i] = await CommitLoop.create(store, `many-${i}`)));
  const rt = await rts.start(env, 'many');
  const ids = Array.from({ length: o.tasks }, (_, i) => `t${i}`);
  const t0 = process.hrtime.bigint();
  await windowed(ids.length, 100, (i) => spawnCounter(rt, ids[i]!));
  const spawnMs = Number(process.hrtime.bigint() - t0) / 1e6;
  await concurrentCommits(loops, 2); // warm-up
  await manyTasks(rt, reader, ids, 2);

  const base = new Tally(`baseline: commit script, ${o.tasks} tasks pipelined`);
  const baton = new Tally(`Baton: ${o.tasks} tasks`);
  const per = Math.max(1, Math.round(o.perTask / o.rounds));
  for (let r = 0; r < o.rounds; r++) {
    await base.round(env, () => concurrentCommits(loops, per));
    await baton.round(env, () => manyTasks(rt, reader, ids, per));
  }
  await rts.close(rt);
  return {
    rows: [
      throughputRow(
        'many.aggregate',
        `2 ${o.tasks} tasks, aggregate`,
        baton.rate,
        base.rate,
        `fig.2 = commit script on ${o.tasks} keys, auto-pipelined`,
        { minRatio: 0.5, ratio: pairedRatio(baton, base) },
      ),
    ],
    costs: [base.costRow(), baton.costRow()],
    details: { tasks: o.tasks, perTask: per * o.rounds, spawnMs: round(spawnMs), spawnPerSec: round(rate(o.tasks, spawnMs)), baseline: base.json(), baton: baton.json() },
  };
}

const summaryJson = (x: Summary) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, round(v, 4)]));

function latencyJson(s: LatencySample) {
  return { afterSend: summaryJson(summarise(s.afterSend)), total: summaryJson(summarise(s.total)), sendCall: summaryJson(summarise(s.send)) };
}

/** Figure 3: send() resolved → commit notice, in process and from another process, against PING. */
export async function figure3(env: BenchEnv, rts: Runtimes, conns: { ap: Redis; raw: Redis }, store: TaskStore, o: Options): Promise<FigureResult> {
  await roundTrips(o.warmupSamples, () => conns.raw.ping());
  const ping = summarise(await roundTrips(o.samples, () => conns.raw.ping()));
  const pingAp = summarise(await roundTrips(o.samples, () => conns.ap.ping()));
  await store.spawn('send-only', { machine: 'counter', version: 1, input: 'null', now: Date.now(), owner: '', leaseMs: 0 });
  const sendOnce = () => store.append('send-only', { event: JSON.stringify(INC), idemTtlSec: 86_400, now: Date.now(), owner: '' });
  await roundTrips(o.warmupSamples, sendOnce);
  const sendScript = summarise(await roundTrips(o.samples, sendOnce));

  const rt = await rts.start(env, 'lat');
  await spawnCounter(rt, 'lat');
  const lat = await latency(rt, 'lat', o.samples, o.warmupSamples);
  const l = summarise(lat.afterSend);
  const sendCall = summarise(lat.send);
  const pingIs = 'fig.3 = PING round trip (auto-pipelining off)';
  const rows = [
    latencyRow('latency.p50', '3 send resolved -> commit seen, p50', l.p50, ping.p50, pingIs, 1),
    latencyRow('latency.p99', '3 send resolved -> commit seen, p99', l.p99, ping.p99, pingIs),
    latencyRow('send.p50', '  send() call itself, p50', sendCall.p50, sendScript.p50, 'send() = send script alone (TaskStore.append)'),
  ];
  let remote: LatencySample | undefined;
  if (o.remote) {
    await spawnCounter(rt, 'lat-remote');
    remote = await remoteLatency(env.url, rt.keys.prefix, 'lat-remote', o);
    const r = summarise(remote.afterSend);
    rows.push(latencyRow('remote.p50', '3 same, client in another process, p50', r.p50, ping.p50, pingIs, 1));
    rows.push(latencyRow('remote.p99', '3 same, client in another process, p99', r.p99, ping.p99, pingIs));
  }
  await rts.close(rt);
  return {
    rows,
    costs: [],
    details: {
      inProcess: latencyJson(lat),
      ...(remote ? { otherProcess: latencyJson(remote) } : {}),
      baselines: { pingRaw: summaryJson(ping), pingAutoPipelined: summaryJson(pingAp), sendScript: summaryJson(sendScript) },
    },
  };
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Figure 3 from a separate client process (bench/client-proc.ts) against a task held here. */
async function remoteLatency(url: string, prefix: string, taskId: string, o: Options): Promise<LatencySample> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join('bench', 'client-proc.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      REDIS_URL: url,
      BENCH_PREFIX: prefix,
      BENCH_TASK: taskId,
      BENCH_SAMPLES: String(o.samples),
      BENCH_WARMUP: String(o.warmupSamples),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('client process did not finish within 60 s'));
    }, 60_000);
    child.on('error', reject);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  if (code !== 0) throw new Error(`client process exited with ${code}`);
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as LatencySample;
}
