/**
 * A worker process of bench/tasks.ts: a runtime (`createWorker`) running the
 * fan-out machines of one variant. Started with `node --import tsx
 * bench/tasks-worker.ts` by bench/tasks.ts.
 *
 * Env: REDIS_URL, BENCH_PREFIX, BENCH_MODE (`tasks`: machines `parent` and
 * `leafTask`, the leaves as child tasks; `tree`: `parent` with the leaves in
 * its own tree), BENCH_SHAPE (`regions`: the parent is `fanout` /
 * `fanoutTree`, one parallel region per leaf; `spawn`: `spawnFanout` /
 * `spawnFanoutTree`, the leaves spawned in one state), BENCH_CHILDREN (the
 * fan-out's width), BENCH_WARM (the warm-up fan-out's width, machine
 * `parentWarm`), BENCH_LEASE_MS,
 * BENCH_LEAF (`agent`: the leaf calls agent `square`, registered here with
 * concurrency BENCH_CHILDREN so every call runs in process; `promise`: an
 * in-process `fromPromise`).
 *
 * Protocol (commands a line on stdin, replies one JSON object a line on stdout):
 *   (start)  -> {"ready":true,"owner":...,"pid":...}
 *   mark     -> {"marked":k}                     CPU reading k taken; tasks activated from now on are recorded
 *   report   -> {"report":k,"cpuMicros":...,"wallMs":...,"held":[ids]}
 *                                                CPU (user + system) and wall time since mark k, and the
 *                                                tasks whose root actor this process started since then
 *   SIGTERM -> closes the runtime and exits 0 (stdin closed: exits at once)
 */
import type { InspectionEvent } from 'xstate';
import { createWorker, type MachineEntry } from '../src/index.js';
import { fanout, fanoutTree, leaf, promiseLeaf, spawnFanout, spawnFanoutTree, square } from './task-machines.js';

const need = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const mode = need('BENCH_MODE');
const children = Number(need('BENCH_CHILDREN'));
const warm = Number(need('BENCH_WARM'));
const kind = need('BENCH_LEAF');
const child = kind === 'agent' ? leaf : kind === 'promise' ? promiseLeaf : undefined;
if (!child) throw new Error(`BENCH_LEAF must be agent or promise, not ${kind}`);
const owner = `tasks-${mode}-${process.pid}`;
const out = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

let held = new Set<string>();
/** A task's root actor (no parent) started here: once per activation in this process. */
const inspect = (ev: InspectionEvent) => {
  if (ev.type === '@xstate.actor' && !(ev.actorRef as { _parent?: unknown })._parent) held.add(String((ev.actorRef as { id?: string }).id));
};

const shape = need('BENCH_SHAPE');
const parent = shape === 'regions' ? { tasks: fanout, tree: fanoutTree } : shape === 'spawn' ? { tasks: spawnFanout, tree: spawnFanoutTree } : undefined;
if (!parent) throw new Error(`BENCH_SHAPE must be regions or spawn, not ${shape}`);
const machines: Record<string, MachineEntry> | undefined =
  mode === 'tasks'
    ? { parent: parent.tasks(children, 'leafTask'), parentWarm: parent.tasks(warm, 'leafTask'), leafTask: child }
    : mode === 'tree'
      ? { parent: parent.tree(children, child), parentWarm: parent.tree(warm, child) }
      : undefined;
if (!machines) throw new Error(`BENCH_MODE must be tasks or tree, not ${mode}`);

// Concurrency of the agent: every invocation runs in process, in both variants (none through its queue).
const agents = { square: { run: square, concurrency: children } };
const leaseMs = Number(need('BENCH_LEASE_MS'));
const runtime = await createWorker({ connection: need('REDIS_URL'), prefix: need('BENCH_PREFIX'), owner, machines, agents, inspect, leaseMs });
out({ ready: true, owner, pid: process.pid });

let mark = 0;
let cpu0 = process.cpuUsage();
let wall0 = process.hrtime.bigint();
let buf = '';
process.stdin.setEncoding('utf8').on('data', (d: string) => {
  buf += d;
  for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
    const cmd = buf.slice(0, nl).trim();
    buf = buf.slice(nl + 1);
    if (cmd === 'mark') {
      mark++;
      held = new Set();
      cpu0 = process.cpuUsage();
      wall0 = process.hrtime.bigint();
      out({ marked: mark });
    } else if (cmd === 'report') {
      const c = process.cpuUsage(cpu0);
      out({ report: mark, cpuMicros: c.user + c.system, wallMs: Number(process.hrtime.bigint() - wall0) / 1e6, held: [...held] });
    }
  }
});
// The bench process gone (its end of stdin closed): nothing is left behind.
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => {
  void runtime.close().finally(() => process.exit(0));
});
