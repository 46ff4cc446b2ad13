/**
 * Child tasks and sends between tasks, on a private redis-server started here.
 *
 *   1 Fan-out: a parent of N children, each one leaf (one call of agent
 *     `square`, n², run in process: the same work on both sides;
 *     `--leaf=promise` makes it an in-process `fromPromise`). Child tasks:
 *     each leaf a task of its own (`fromTask('leafTask')`), held by any of W
 *     worker processes (bench/tasks-worker.ts, mode `tasks`; the parent
 *     spawned by a client). Baseline: the leaves as XState children inside
 *     the parent's own tree (one task), held by one worker process (mode
 *     `tree`). Two parent shapes: `regions`, the test fixture's fanout(N)
 *     (one parallel region per child, each invoking it), and `spawn` (N
 *     children spawned with `spawnChild` in one state). Time from the
 *     client's spawn() to the parent's done commit, commits (each task's
 *     `seq`, summed), CPU per commit of each worker process
 *     (process.cpuUsage() between a `mark` and a `report` command, over the
 *     commits of the tasks whose root actor that process started) and of
 *     Redis (INFO cpu).
 *   2 Sends between tasks: pinger/ponger (sendToTask, R round trips: 2R
 *     sends) in one runtime in this process. Baselines in the same rounds:
 *     `client.send` awaited one after another to a counter task held by the
 *     same runtime (to its last commit), the same with `wait: 'applied'`
 *     (each send waits for its commit, as each ping waits for its pong), and
 *     a bare XADD loop (ioredis, auto-pipelining off).
 *
 *   node --import tsx bench/tasks.ts [--children=1000] [--workers=3] [--round-trips=2000]
 *     [--rounds=3] [--region-rounds=1] [--shapes=regions,spawn] [--leaf=agent|promise]
 *     [--region-lease-ms=120000]
 *
 * `--rounds` applies to the spawn shape and the sends, `--region-rounds` to
 * the regions shape (~35 s a variant at 1,000). Not part of `npm run bench`
 * (it starts its own server and processes); results in bench/results/README.md.
 */
import os from 'node:os';
import { Redis } from 'ioredis';
import { createClient, createRuntime, type BatonClient, type TaskView } from '../src/index.js';
import { numArg, privateRedis, table } from './script.js';
import { killChildren, startChild, type Child } from './child.js';
import { counter, INC, MACHINE } from './machines.js';
import { median } from './stats.js';
import { pinger, ponger } from './task-machines.js';

const arg = numArg;
const CHILDREN = arg('children', 1000);
const WORKERS = arg('workers', 3);
const ROUND_TRIPS = arg('round-trips', 2000);
const ROUNDS = arg('rounds', 3);
const LEAF = process.argv.find((a) => a.startsWith('--leaf='))?.slice(7) ?? 'agent';
if (LEAF !== 'agent' && LEAF !== 'promise') throw new Error('--leaf must be agent or promise');
const WARM = 20;
const SHAPES = (process.argv.find((a) => a.startsWith('--shapes='))?.slice(9) ?? 'regions,spawn').split(',') as Array<'regions' | 'spawn'>;
if (!SHAPES.length || SHAPES.some((x) => x !== 'regions' && x !== 'spawn')) throw new Error('--shapes: regions, spawn or both');
const REGION_ROUNDS = arg('region-rounds', 1);
/** The regions parent blocks its process for longer than the default lease (5 s) at 1,000 regions: see the README. */
const REGION_LEASE_MS = arg('region-lease-ms', 120_000);
const log = (msg: string) => process.stderr.write(`[tasks] ${msg}\n`);
const started = Date.now();

const server = await privateRedis(log);
const admin = new Redis(server.url);
const prefix = `bench-tasks-${Date.now().toString(36)}`;
const redisCpu = async () => {
  const info = await admin.info('cpu');
  const f = (n: string) => Number(info.match(new RegExp(`^${n}:([0-9.]+)`, 'm'))?.[1] ?? 0);
  return (f('used_cpu_user') + f('used_cpu_sys')) * 1e6;
};

type Variant = 'tasks' | 'tree';
type Shape = 'regions' | 'spawn';
interface Proc {
  child: Child;
  marks: number;
  label: string;
}
interface ProcRound {
  cpuMicros: number;
  wallMs: number;
  commits: number;
  tasks: number;
  holdsParent: boolean;
}
interface FanRound {
  elapsedMs: number;
  firstCommitMs: number;
  commits: number;
  redisCpuMicros: number;
  procs: ProcRound[];
}

function startWorker(mode: Variant, shape: Shape, p: string, leaseMs: number, label: string): Proc {
  const env = {
    REDIS_URL: server.url,
    BENCH_PREFIX: p,
    BENCH_MODE: mode,
    BENCH_SHAPE: shape,
    BENCH_CHILDREN: String(CHILDREN),
    BENCH_WARM: String(WARM),
    BENCH_LEAF: LEAF,
    BENCH_LEASE_MS: String(leaseMs),
  };
  return { child: startChild('tasks-worker.ts', env, [], { stdin: true }), marks: 0, label };
}

/** `mark` or `report` to every process; resolves with their replies. */
async function tell(procs: Proc[], cmd: 'mark' | 'report'): Promise<Array<Record<string, unknown>>> {
  return Promise.all(
    procs.map((p) => {
      if (cmd === 'mark') p.marks++;
      const k = p.marks;
      p.child.proc.stdin!.write(`${cmd}\n`);
      return p.child.waitFor((o) => (cmd === 'mark' ? o.marked === k : o.report === k), 30_000);
    }),
  );
}

/** One fan-out: mark the processes, spawn the parent through the client, wait for its done commit, collect. */
async function fanRound(variant: Variant, procs: Proc[], client: BatonClient, machine: string, id: string, width: number): Promise<FanRound> {
  await tell(procs, 'mark');
  const r0 = await redisCpu();
  const t0 = Date.now();
  await client.spawn(machine, { id });
  const done = await client.waitFor(id, (v) => v.status !== 'active', { timeoutMs: 150_000 });
  const elapsedMs = done.updatedAt - t0;
  const first = (await client.history(id, { limit: 100_000 }))[0];
  const firstCommitMs = (first?.at ?? Number.NaN) - t0;
  const redisCpuMicros = (await redisCpu()) - r0;
  const reports = await tell(procs, 'report');
  const out = done.output as { results?: number; errors?: Record<string, unknown> } | undefined;
  if (done.status !== 'done' || out?.results !== width || Object.keys(out.errors ?? {}).length) throw new Error(`${variant} fan-out ${id} ended ${done.status} ${JSON.stringify(out).slice(0, 300)}`);
  const kids: TaskView[] = variant === 'tasks' ? await client.list({ parent: id, limit: width + 10 }) : [];
  if (variant === 'tasks' && (kids.length !== width || kids.some((k) => k.status !== 'done'))) throw new Error(`${id}: ${kids.length} child tasks, ${kids.filter((k) => k.status === 'done').length} done`);
  const seq = new Map<string, number>([[id, done.seq], ...kids.map((k) => [k.id, k.seq] as const)]);
  const commits = [...seq.values()].reduce((a, b) => a + b, 0);
  const seen = new Map<string, number>();
  const rows = reports.map((r) => {
    const held = (r.held as string[]).filter((t) => seq.has(t));
    for (const t of held) seen.set(t, (seen.get(t) ?? 0) + 1);
    return {
      cpuMicros: Number(r.cpuMicros),
      wallMs: Number(r.wallMs),
      commits: held.reduce((a, t) => a + seq.get(t)!, 0),
      tasks: held.length,
      holdsParent: held.includes(id),
    };
  });
  const twice = [...seen.values()].filter((n) => n > 1).length;
  if (seen.size !== seq.size || twice) log(`  WARNING ${id}: ${seq.size - seen.size} tasks held by no process, ${twice} activated in more than one: per-process commits are approximate`);
  return { elapsedMs, firstCommitMs, commits, redisCpuMicros, procs: rows };
}

// ---- 1 Fan-out -------------------------------------------------------------
log(`redis on port ${server.port}; ${os.cpus().length} cores; fan-out of ${CHILDREN} over ${WORKERS} workers against one task; shapes ${SHAPES.join(', ')}`);
const fan: Record<Shape, Record<Variant, FanRound[]>> = { regions: { tasks: [], tree: [] }, spawn: { tasks: [], tree: [] } };
const procsOf: Partial<Record<Shape, Proc[]>> = {};
for (const shape of SHAPES) {
  const rounds = shape === 'regions' ? REGION_ROUNDS : ROUNDS;
  const p = `${prefix}-${shape}`;
  const leaseMs = shape === 'regions' ? REGION_LEASE_MS : 5000;
  const taskProcs = Array.from({ length: WORKERS }, (_, i) => startWorker('tasks', shape, `${p}-ct`, leaseMs, `worker ${i + 1}`));
  const treeProcs = [startWorker('tree', shape, `${p}-tree`, leaseMs, 'one task')];
  procsOf[shape] = taskProcs;
  const clients = { tasks: createClient({ connection: server.url, prefix: `${p}-ct` }), tree: createClient({ connection: server.url, prefix: `${p}-tree` }) };
  try {
    await Promise.all([...taskProcs, ...treeProcs].map((w) => w.child.waitFor((o) => o.ready === true, 120_000)));
    log(`${shape}: ${rounds} round${rounds > 1 ? 's' : ''}, lease ${leaseMs} ms`);
    // Warm-up of both paths (narrow fan-outs), then rounds alternating the order.
    await fanRound('tasks', taskProcs, clients.tasks, 'parentWarm', 'warm', WARM);
    await fanRound('tree', treeProcs, clients.tree, 'parentWarm', 'warm', WARM);
    for (let r = 0; r < rounds; r++) {
      for (const v of (r % 2 ? ['tasks', 'tree'] : ['tree', 'tasks']) as Variant[]) {
        const res = await fanRound(v, v === 'tasks' ? taskProcs : treeProcs, clients[v], 'parent', `fan-${r}`, CHILDREN);
        fan[shape][v].push(res);
        log(`  round ${r + 1} ${v}: ${res.elapsedMs} ms, ${res.commits} commits, ${res.procs.map((w) => `${w.tasks} tasks / ${w.commits} commits / ${(w.cpuMicros / 1000).toFixed(0)} ms CPU`).join('; ')}`);
      }
    }
  } finally {
    for (const c of Object.values(clients)) await c.close();
    await Promise.all([...taskProcs, ...treeProcs].map((w) => w.child.stop('SIGTERM', 10_000)));
  }
}

// ---- 2 Sends between tasks ---------------------------------------------------
const ppPrefix = `${prefix}-pp`;
const rt = await createRuntime({ connection: server.url, prefix: ppPrefix, machines: { pinger, ponger, [MACHINE]: counter } });
const client = createClient({ connection: server.url, prefix: ppPrefix });
const raw = new Redis(server.url, { enableAutoPipelining: false });
const SENDS = 2 * ROUND_TRIPS;
type Send = { perSec: number; cpuUsPerSend: number; redisUsPerSend: number };
const sends: Record<'pp' | 'client' | 'applied' | 'xadd', Send[]> = { pp: [], client: [], applied: [], xadd: [] };

/** `fn` returns its elapsed ms for SENDS sends; CPU of this process and of Redis per send. */
async function measure(fn: () => Promise<number>): Promise<Send> {
  const r0 = await redisCpu();
  const c0 = process.cpuUsage();
  const elapsedMs = await fn();
  const c = process.cpuUsage(c0);
  const r = (await redisCpu()) - r0;
  return { perSec: (SENDS * 1000) / elapsedMs, cpuUsPerSend: (c.user + c.system) / SENDS, redisUsPerSend: r / SENDS };
}
const pingPong = (tag: string, n: number) => async () => {
  await rt.spawn('ponger', { id: `pong-${tag}` });
  const t0 = Date.now();
  await rt.spawn('pinger', { id: `ping-${tag}`, input: { peer: `pong-${tag}`, max: n } });
  const done = await client.waitFor(`ping-${tag}`, (v) => v.status !== 'active', { timeoutMs: 120_000 });
  const out = done.output as { n: number; outOfOrder: number };
  const p = await client.get(`pong-${tag}`);
  const pc = p?.context as { seen: number; outOfOrder: number } | undefined;
  if (done.status !== 'done' || out.n !== n || out.outOfOrder || pc?.seen !== n || pc.outOfOrder) throw new Error(`ping-pong ${tag}: ${JSON.stringify(out)} / ${JSON.stringify(pc)}`);
  ppCommits.push((done.seq + p!.seq) / (2 * n));
  return done.updatedAt - t0;
};
const ppCommits: number[] = [];
const clientSends = (id: string, n: number, applied: boolean) => async () => {
  const want = countOf.get(id)! + n;
  const t0 = Date.now();
  for (let i = 0; i < n; i++) await client.send(id, INC, applied ? { wait: 'applied' } : {});
  const v = await client.waitFor(id, (x) => (x.context as { count: number }).count >= want, { timeoutMs: 60_000 });
  countOf.set(id, (v.context as { count: number }).count);
  return v.updatedAt - t0;
};
const countOf = new Map<string, number>();
const xadds = (key: string, n: number) => async () => {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await raw.xadd(key, '*', 'type', 'inc');
  return Number(process.hrtime.bigint() - t0) / 1e6;
};
try {
  log(`sends between tasks: ${ROUND_TRIPS} round trips (${SENDS} sends), ${ROUNDS} rounds`);
  for (const id of ['seq', 'applied']) {
    await rt.spawn(MACHINE, { id });
    countOf.set(id, 0);
  }
  // Warm-up of every path.
  await pingPong('warm', 200)();
  await clientSends('seq', 400, false)();
  await clientSends('applied', 400, true)();
  await xadds(`${ppPrefix}:xadd`, 400)();
  for (let r = 0; r < ROUNDS; r++) {
    sends.xadd.push(await measure(xadds(`${ppPrefix}:xadd`, SENDS)));
    sends.client.push(await measure(clientSends('seq', SENDS, false)));
    sends.applied.push(await measure(clientSends('applied', SENDS, true)));
    sends.pp.push(await measure(pingPong(`r${r}`, ROUND_TRIPS)));
    log(`  round ${r + 1}: ping-pong ${Math.round(sends.pp.at(-1)!.perSec)} sends/s, client.send ${Math.round(sends.client.at(-1)!.perSec)}, applied ${Math.round(sends.applied.at(-1)!.perSec)}, XADD ${Math.round(sends.xadd.at(-1)!.perSec)}`);
  }
} finally {
  await client.close();
  await rt.close();
  raw.disconnect();
}
await killChildren();
admin.disconnect();
await server.stop();

// ---- Table -----------------------------------------------------------------
const int = (v: number) => Math.round(v).toLocaleString('en-US');
const ratio = (v: number) => (Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)) : '-');
/** Median over rounds of f(child tasks), f(one task) and of their per-round ratio (rounds pair up: the same machine state). */
const paired = (rounds: Record<Variant, FanRound[]>, f: (r: FanRound) => number) => {
  const a = rounds.tasks.map(f);
  const b = rounds.tree.map(f);
  return [median(a), median(b), median(a.map((x, i) => x / b[i]!))] as const;
};
const sumProcs = (r: FanRound, k: 'cpuMicros' | 'commits') => r.procs.reduce((s, p) => s + p[k], 0);
const fanRows: Array<[string, (r: FanRound) => number]> = [
  ['time to done (spawn -> parent done commit), ms', (r) => r.elapsedMs],
  ["  of which spawn -> parent's first commit, ms", (r) => r.firstCommitMs],
  ['commits (steps), all tasks', (r) => r.commits],
  ['worker CPU, all processes, ms', (r) => sumProcs(r, 'cpuMicros') / 1000],
  ['worker CPU per commit, all processes, µs', (r) => sumProcs(r, 'cpuMicros') / sumProcs(r, 'commits')],
  ['Redis CPU, ms', (r) => r.redisCpuMicros / 1000],
  ['Redis CPU per commit, µs', (r) => r.redisCpuMicros / r.commits],
];
const SHAPE_IS: Record<Shape, string> = {
  regions: `parent = fanout(${int(CHILDREN)}): one parallel region per child, each invoking it`,
  spawn: `parent = ${int(CHILDREN)} children spawned (spawnChild) in one state`,
};
const body: string[][] = [];
for (const shape of SHAPES) {
  const rounds = fan[shape];
  body.push([`${SHAPE_IS[shape]}; ${rounds.tasks.length} round${rounds.tasks.length > 1 ? 's' : ''}`, '', '', '']);
  for (const [label, f] of fanRows) {
    const [a, b, q] = paired(rounds, f);
    body.push([`  ${label}`, int(a), int(b), ratio(q)]);
  }
  // Each worker over all rounds: its CPU over the commits of the tasks it held, against the one-task process's.
  const tree = rounds.tree.reduce((s, r) => ({ cpu: s.cpu + r.procs[0]!.cpuMicros, commits: s.commits + r.procs[0]!.commits }), { cpu: 0, commits: 0 });
  const treePerCommit = tree.cpu / tree.commits;
  procsOf[shape]!.forEach((p, i) => {
    const cpu = rounds.tasks.reduce((s, r) => s + r.procs[i]!.cpuMicros, 0);
    const commits = rounds.tasks.reduce((s, r) => s + r.procs[i]!.commits, 0);
    const tasks = rounds.tasks.reduce((s, r) => s + r.procs[i]!.tasks, 0) / rounds.tasks.length;
    const parents = rounds.tasks.filter((r) => r.procs[i]!.holdsParent).length;
    body.push([
      `    ${p.label}: ${int(tasks)} tasks a round${parents ? `, the parent in ${parents} of ${rounds.tasks.length}` : ''}; CPU per commit µs (its commits)`,
      `${int(cpu / commits)} (${int(commits / rounds.tasks.length)})`,
      `${int(treePerCommit)} (${int(tree.commits / rounds.tree.length)})`,
      ratio(cpu / commits / treePerCommit),
    ]);
  });
}

const sendRow = (label: string, base: Send[]) => {
  const b = median(base.map((s) => s.perSec));
  const q = median(sends.pp.map((s, i) => s.perSec / base[i]!.perSec));
  return [label, int(median(sends.pp.map((s) => s.perSec))), int(b), ratio(q), `${int(median(base.map((s) => s.cpuUsPerSend)))} / ${int(median(base.map((s) => s.redisUsPerSend)))}`];
};
const pp = sends.pp;
const sendBody = [
  sendRow('vs client.send awaited in a loop, to a counter task (to its last commit)', sends.client),
  sendRow("vs client.send { wait: 'applied' } awaited in a loop (each to its commit)", sends.applied),
  sendRow('vs bare XADD awaited in a loop (ioredis)', sends.xadd),
];

process.stdout.write(
  [
    '',
    `child tasks: ${int(CHILDREN)} children, ${WORKERS} worker processes (medians over rounds); ${os.cpus().length} cores, Node ${process.version}; leaf = ${LEAF === 'agent' ? 'one call of agent square (n², run in process)' : 'one in-process fromPromise (n²)'}`,
    table(['1 fan-out', `child tasks (${WORKERS} workers)`, 'baseline: in one task (1 process)', 'ratio'], body),
    '',
    `sends between tasks: pinger/ponger, ${int(ROUND_TRIPS)} round trips = ${int(SENDS)} sends, one runtime in this process, ${ROUNDS} rounds; ping-pong node / Redis CPU per send ${int(median(pp.map((s) => s.cpuUsPerSend)))} / ${int(median(pp.map((s) => s.redisUsPerSend)))} µs, commits per send ${ppCommits.at(-1)!.toFixed(3)}`,
    table(['2 sends/s', 'Baton: ping-pong (sendToTask)', 'baseline', 'ratio', 'baseline node / Redis CPU µs per send'], sendBody),
    '',
    'ratios: median over rounds of Baton / baseline in the same round; fan-out rounds alternate the order of the two variants',
    `run took ${((Date.now() - started) / 1000).toFixed(1)} s`,
    '',
  ].join('\n'),
);
