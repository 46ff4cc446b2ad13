/**
 * A worker process of bench/tasks.ts: a runtime (`createWorker`) running the
 * fan-out machines of one variant. Started with `node --import tsx
 * bench/tasks-worker.ts` by bench/tasks.ts.
 *
 * Env: REDIS_URL, BENCH_PREFIX, BENCH_MODE (`tasks`: `fanout` + `leafTask`,
 * the leaves as child tasks; `tree`: `fanoutTree`, the leaves in the
 * parent's tree), BENCH_CHILDREN (the fan-out's width), BENCH_WARM (the
 * warm-up fan-out's width, machine `fanoutWarm` / `fanoutTreeWarm`).
 *
 * Protocol (stdout, one JSON object a line):
 *   {"ready":true,"owner":...,"pid":...}       started
 *   SIGUSR1 -> {"marked":k}                      CPU reading k taken; tasks activated from now on are recorded
 *   SIGUSR2 -> {"report":k,"cpuMicros":...,"wallMs":...,"held":[ids]}
 *                                                CPU (user + system) and wall time since mark k, and the
 *                                                tasks whose root actor this process started since then
 *   SIGTERM -> closes the runtime and exits 0
 */
import type { InspectionEvent } from 'xstate';
import { createWorker } from '../src/index.js';
import { fanout, fanoutTree, leaf } from './task-machines.js';

const need = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const mode = need('BENCH_MODE');
const children = Number(need('BENCH_CHILDREN'));
const warm = Number(need('BENCH_WARM'));
const owner = `tasks-${mode}-${process.pid}`;
const out = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

let held = new Set<string>();
/** A task's root actor (no parent) started here: once per activation in this process. */
const inspect = (ev: InspectionEvent) => {
  if (ev.type === '@xstate.actor' && !(ev.actorRef as { _parent?: unknown })._parent) held.add(String((ev.actorRef as { id?: string }).id));
};

const machines =
  mode === 'tasks'
    ? { fanout: fanout(children, 'leafTask'), fanoutWarm: fanout(warm, 'leafTask'), leafTask: leaf }
    : mode === 'tree'
      ? { fanoutTree: fanoutTree(children), fanoutTreeWarm: fanoutTree(warm) }
      : undefined;
if (!machines) throw new Error(`BENCH_MODE must be tasks or tree, not ${mode}`);

const runtime = await createWorker({ connection: need('REDIS_URL'), prefix: need('BENCH_PREFIX'), owner, machines, inspect });
out({ ready: true, owner, pid: process.pid });

let mark = 0;
let cpu0 = process.cpuUsage();
let wall0 = process.hrtime.bigint();
process.on('SIGUSR1', () => {
  mark++;
  held = new Set();
  cpu0 = process.cpuUsage();
  wall0 = process.hrtime.bigint();
  out({ marked: mark });
});
process.on('SIGUSR2', () => {
  const d = process.cpuUsage(cpu0);
  out({ report: mark, cpuMicros: d.user + d.system, wallMs: Number(process.hrtime.bigint() - wall0) / 1e6, held: [...held] });
});
process.on('SIGTERM', () => {
  void runtime.close().finally(() => process.exit(0));
});
