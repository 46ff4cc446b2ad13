// A runtime in its own process, for crash / pause tests. Run with runChild().
//
// Environment:
//   REDIS_URL        Redis (inherited from the test process), unless BATON_CLUSTER is set
//   BATON_CLUSTER    JSON array of {host, port}: connect to this Redis Cluster instead
//   BATON_PREFIX     key prefix (required)
//   BATON_LEASE_MS   lease in ms (default 500)
//   SPAWN_MACHINE    when set, spawn one task of this machine in this process
//   SPAWN_ID         its id
//   SPAWN_INPUT      its input (JSON)
//   RUNS_KEY         Redis list where sevenSteps' steps record "<step>:<pid>" (and the rh* machines their side effects)
//   BLOCK_STEP       sevenSteps' step that never resolves in this process
//   BATON_AGENT_LOCK_MS  agentLockMs (an agent job a killed process ran goes to another after about this long)
//   FANOUT           number of child tasks the `fanout` machine starts (default 100)
//   TALK_MS          the pause of the `talker` agent of `talk` after each word it streams (default 0)
//   SQUARE_MS        how long the `square` agent of the `leaf` child tasks takes (default 0)
//
// Output (stdout, one JSON object a line):
//   {"ready":true,"owner":...,"pid":...}     the runtime is started
//   {"spawned":"<id>"}                      SPAWN_MACHINE's task is spawned
//   {"held":"<id>"}                         this process started (or restored) the task's actor
//   {"log":"<msg>",...}                     every runtime log line
import { Cluster, Redis } from 'ioredis';
import { createRuntime, type ConnectionOption } from '../../src/index.js';
import { lateTimer, longTimer, sevenSteps, slowParent, slowTimer, strictCounter } from '../fixtures/durable.js';
import { counter, parent, promiseStep, timer } from '../fixtures/machines.js';
import { rehydrationMachines } from '../fixtures/rehydration-machines.js';
import { taskMachines } from '../fixtures/task-machines.js';
import { talk } from '../fixtures/stream-machines.js';
import { out, reportHeld, serve } from './serve.js';

const prefix = process.env.BATON_PREFIX;
if (!prefix) throw new Error('BATON_PREFIX is required');
const leaseMs = Number(process.env.BATON_LEASE_MS ?? 500);

const nodes = process.env.BATON_CLUSTER ? (JSON.parse(process.env.BATON_CLUSTER) as Array<{ host: string; port: number }>) : undefined;
const connection: ConnectionOption = nodes ? { cluster: nodes } : process.env.REDIS_URL!;
const recorder = nodes ? new Cluster(nodes) : new Redis(process.env.REDIS_URL!);
const runsKey = process.env.RUNS_KEY ?? `${prefix}:runs`;
const blockAt = process.env.BLOCK_STEP ? Number(process.env.BLOCK_STEP) : undefined;
const steps = sevenSteps(async (n) => {
  await recorder.rpush(runsKey, `${n}:${process.pid}`);
}, blockAt);
// test/rehydration.test.ts's machines record their side effects as "<what>:<pid>" in RUNS_KEY.
const rehydration = rehydrationMachines((what) => void recorder.rpush(runsKey, `${what}:${process.pid}`).catch(() => undefined));

const owner = `proc-${process.pid}`;
const runtime = await createRuntime({
  connection,
  prefix,
  leaseMs,
  owner,
  ...(process.env.BATON_AGENT_LOCK_MS ? { agentLockMs: Number(process.env.BATON_AGENT_LOCK_MS) } : {}),
  ...(process.env.BATON_ACTIVATION_CONCURRENCY ? { activationConcurrency: Number(process.env.BATON_ACTIVATION_CONCURRENCY) } : {}),
  machines: { counter, timer, parent, promiseStep, sevenSteps: steps, slowTimer, lateTimer, longTimer, slowParent, strictCounter, ...rehydration, ...taskMachines(Number(process.env.FANOUT ?? 100)), talk },
  // test/child-tasks-crash.test.ts's leaves: each run records "<n>:<pid>" in RUNS_KEY, after SQUARE_MS.
  agents: {
    // test/streams-crash.test.ts's agent: streams its words, one every TALK_MS.
    talker: async ({ input, stream }: { input: { words: string[] }; stream: { write(c: unknown): Promise<string> } }) => {
      for (const w of input.words) {
        await stream.write(w);
        await new Promise((r) => setTimeout(r, Number(process.env.TALK_MS ?? 0)));
      }
      return { said: input.words.length };
    },
    square: async ({ input }: { input: { n: number } }) => {
      await new Promise((r) => setTimeout(r, Number(process.env.SQUARE_MS ?? 0)));
      await recorder.rpush(runsKey, `${input.n}:${process.pid}`);
      return { sq: input.n * input.n };
    },
  },
  log: (msg, extra) => out({ log: msg, ...extra }),
  inspect: reportHeld,
});
await serve(runtime, owner, () => recorder.quit());
