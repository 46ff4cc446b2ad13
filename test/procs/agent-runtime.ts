// A runtime (tasks and/or agents) in its own process, for the agent, failover
// and cluster-agent suites. Run with runChild(); kill it with SIGKILL.
//
// Environment:
//   REDIS_URL        Redis (inherited from the test process), unless BATON_CLUSTER is set
//   BATON_CLUSTER    JSON array of {host, port}: connect to this Redis Cluster instead
//   BATON_PREFIX     key prefix (required)
//   BATON_LEASE_MS   lease in ms (default 500)
//   BATON_IDLE_MS    passivation idle time in ms (default: the runtime's)
//   BATON_AGENT_LOCK_MS  agent job lock in ms (default: the runtime's)
//   MACHINES         '1' to run the suite's machines (test/fixtures/agent-suite.ts and counter), '0' for none (default '1')
//   AGENTS           comma-separated agent names from suiteAgents() to run here (default none)
//   SPAWN_MACHINE    when set, spawn one task of this machine in this process
//   SPAWN_ID         its id
//   SPAWN_INPUT      its input (JSON)
//
// Output (stdout, one JSON object a line):
//   {"ready":true,"owner":...,"pid":...}   the runtime is started
//   {"spawned":"<id>"}                    SPAWN_MACHINE's task is spawned
//   {"held":"<id>"}                       this process started (or restored) the task's actor
//   {"log":"<msg>",...}                   every runtime log line
import { Cluster, Redis } from 'ioredis';
import { createRuntime, createWorker, type ConnectionOption } from '../../src/index.js';
import { suiteAgents, suiteMachines } from '../fixtures/agent-suite.js';
import { counter } from '../fixtures/machines.js';
import { out, reportHeld, serve } from './serve.js';

const prefix = process.env.BATON_PREFIX;
if (!prefix) throw new Error('BATON_PREFIX is required');
const leaseMs = Number(process.env.BATON_LEASE_MS ?? 500);
const idleMs = process.env.BATON_IDLE_MS ? Number(process.env.BATON_IDLE_MS) : undefined;
const agentLockMs = process.env.BATON_AGENT_LOCK_MS ? Number(process.env.BATON_AGENT_LOCK_MS) : undefined;

const nodes = process.env.BATON_CLUSTER ? (JSON.parse(process.env.BATON_CLUSTER) as Array<{ host: string; port: number }>) : undefined;
const connection: ConnectionOption = nodes ? { cluster: nodes } : process.env.REDIS_URL!;
const recorder = nodes ? new Cluster(nodes) : new Redis(process.env.REDIS_URL!);

const all = suiteAgents(recorder, prefix);
const agents = Object.fromEntries(
  (process.env.AGENTS ?? '')
    .split(',')
    .filter(Boolean)
    .map((name) => {
      const fn = all[name];
      if (!fn) throw new Error(`unknown agent ${name}`);
      return [name, fn];
    }),
);
const machines = process.env.MACHINES === '0' ? undefined : { ...suiteMachines, counter };

const owner = process.env.BATON_OWNER ?? `agent-proc-${process.pid}`;
// With no machines this is an agent-only worker process (createWorker).
const runtime = await (machines ? createRuntime : createWorker)({
  connection,
  prefix,
  leaseMs,
  ...(idleMs !== undefined ? { idleMs } : {}),
  ...(agentLockMs !== undefined ? { agentLockMs } : {}),
  owner,
  ...(machines ? { machines } : {}),
  agents,
  log: (msg, extra) => out({ log: msg, ...extra }),
  inspect: reportHeld,
});
await serve(runtime, owner, () => recorder.quit());
