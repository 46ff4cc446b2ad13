/**
 * A worker process of the failover figure: a runtime running `flow` tasks and
 * the `work` agent. Started by bench/failover.ts (`node --import tsx`), killed
 * with SIGKILL or stopped with SIGTERM.
 *
 * Env: REDIS_URL, BENCH_PREFIX, LEASE_MS, AGENT_LOCK_MS, CONCURRENCY,
 * RUNS_KEY (a counter incremented as every agent execution starts, re-runs included).
 * Prints one JSON line `{ ready, owner, pid }` once started.
 */
import { Redis } from 'ioredis';
import { createRuntime } from '../src/index.js';
import { flow } from './agent-machines.js';

const need = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const url = need('REDIS_URL');
const runsKey = need('RUNS_KEY');
const counter = new Redis(url);
const owner = `failover-${process.pid}`;
const runtime = await createRuntime({
  connection: url,
  prefix: need('BENCH_PREFIX'),
  owner,
  leaseMs: Number(need('LEASE_MS')),
  agentLockMs: Number(need('AGENT_LOCK_MS')),
  machines: { flow },
  agents: {
    work: {
      run: async ({ input }: { input: { ms: number; i: number } }) => {
        await counter.incr(runsKey); // at the start: a job cut short by the kill and run again counts twice
        await new Promise((r) => setTimeout(r, input.ms));
        return { i: input.i };
      },
      concurrency: Number(need('CONCURRENCY')),
    },
  },
});
process.stdout.write(`${JSON.stringify({ ready: true, owner, pid: process.pid })}\n`);

process.on('SIGTERM', () => {
  void runtime
    .close()
    .then(() => counter.quit())
    .finally(() => process.exit(0));
});
