// A Baton worker process for the fault suite: runs the chaos machines and/or
// agents against one prefix. Started (and SIGKILLed, SIGSTOPped) by
// test/chaos/procs.ts.
//
// Environment:
//   CHAOS_CONNECTION      JSON: a Redis URL string, ioredis options ({ host, port, username, password, tls }
//                         or { sentinels, name }) or { cluster: nodes }
//   CHAOS_PREFIX          key prefix (required)
//   CHAOS_LEASE_MS        lease (default 1000)
//   CHAOS_IDLE_MS         passivation idle time (default 3000; 0 disables)
//   CHAOS_AGENT_LOCK_MS   agent job lock (default 1500)
//   CHAOS_ROLE            'all' (machines and agents, default), 'tasks' or 'agents'
//   CHAOS_CONCURRENCY     activation concurrency (default the runtime's)
//   CHAOS_AGENT_CONCURRENCY  agent jobs at once per agent (default 16)
//   CHAOS_MAX_OUTPUT_BYTES   largest agent output (default 16384)
//   CHAOS_MEM_MS          when set, print {"mem":…} this often (ms)
//   CHAOS_DURABILITY      JSON: Baton's durability ({ replicas, timeoutMs })
//
// Output (stdout, one JSON object a line):
//   {"ready":true,"owner":…,"pid":…}
//   {"log":"<msg>","at":ms,…}   every runtime log line (fenced, lease lost, quarantined, …)
//   {"mem":{heapUsed,rss,…},"held":n}
//   {"crash":"<stack>"}          an uncaught exception or unhandled rejection (then exit 70)
import v8 from 'node:v8';
import vm from 'node:vm';
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import { createRuntime, type ConnectionOption } from '../../src/index.js';
import { chaosAgents, chaosMachines } from './machines.js';

const out = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
const crash = (kind: string) => (err: unknown) => {
  out({ crash: `${kind}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` });
  process.exit(70);
};
process.on('uncaughtException', crash('uncaughtException'));
process.on('unhandledRejection', crash('unhandledRejection'));

const prefix = process.env.CHAOS_PREFIX;
if (!prefix) throw new Error('CHAOS_PREFIX is required');
const connection = JSON.parse(process.env.CHAOS_CONNECTION ?? JSON.stringify(process.env.REDIS_URL ?? '')) as string | RedisOptions | { cluster: ClusterNode[] };
const role = process.env.CHAOS_ROLE ?? 'all';
const num = (name: string, dflt: number) => (process.env[name] !== undefined && process.env[name] !== '' ? Number(process.env[name]) : dflt);

const recorder =
  typeof connection === 'string' ? new Redis(connection) : 'cluster' in connection ? new Cluster(connection.cluster) : new Redis({ ...connection });
recorder.on('error', () => undefined); // reconnects by itself; the runtime logs what matters

const owner = `chaos-${process.pid}`;
const agents = role === 'tasks' ? {} : Object.fromEntries(
  Object.entries(chaosAgents(recorder as Redis, prefix)).map(([name, run]) => [name, { run, concurrency: num('CHAOS_AGENT_CONCURRENCY', 16) }]),
);
const runtime = await createRuntime({
  connection: connection as ConnectionOption,
  prefix,
  owner,
  leaseMs: num('CHAOS_LEASE_MS', 1000),
  idleMs: num('CHAOS_IDLE_MS', 3000),
  agentLockMs: num('CHAOS_AGENT_LOCK_MS', 1500),
  maxOutputBytes: num('CHAOS_MAX_OUTPUT_BYTES', 16 * 1024),
  ...(process.env.CHAOS_DURABILITY ? { durability: JSON.parse(process.env.CHAOS_DURABILITY) as { replicas: number; timeoutMs: number } } : {}),
  ...(process.env.CHAOS_CONCURRENCY ? { activationConcurrency: Number(process.env.CHAOS_CONCURRENCY) } : {}),
  ...(role === 'agents' ? {} : { machines: chaosMachines }),
  agents,
  log: (msg, extra) => out({ log: msg, at: Date.now(), ...extra }),
});
out({ ready: true, owner, pid: process.pid });

if (process.env.CHAOS_MEM_MS) {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const every = Number(process.env.CHAOS_MEM_MS);
  const report = (collect: boolean) => {
    if (collect) gc();
    const m = process.memoryUsage();
    out({ mem: { heapUsed: m.heapUsed, heapTotal: m.heapTotal, rss: m.rss, external: m.external, gc: collect }, held: runtime.heldCount, at: Date.now() });
  };
  setInterval(() => report(false), every).unref();
  // SIGUSR2: a report after a full GC (the retained heap).
  process.on('SIGUSR2', () => report(true));
}

process.on('SIGTERM', () => {
  void runtime
    .close()
    .then(() => recorder.quit())
    .finally(() => process.exit(0));
});
