// Start test/procs/agent-runtime.ts in child processes and keep track of them,
// so a failing test never leaves one behind (killAgentProcs in afterEach).
import type { ChildHandle } from './child.ts';
import { redisUrl } from './redis-url.ts';
import { startRuntimeChild, type RuntimeChild, type SpawnAtStart } from './runtime-child.ts';

export interface AgentProcOptions {
  prefix: string;
  leaseMs?: number;
  idleMs?: number;
  /** Agent job lock (RuntimeOptions.agentLockMs). */
  agentLockMs?: number;
  /** Run the suite's machines (default true). */
  machines?: boolean;
  /** Stable owner id (RuntimeOptions.owner); default `agent-proc-<pid>`. */
  owner?: string;
  /** Agent names (from suiteAgents) this process runs. */
  agents?: string[];
  spawn?: SpawnAtStart;
  /** Connect to this Redis Cluster instead of REDIS_URL. */
  cluster?: Array<{ host: string; port: number }>;
}

export interface AgentProc extends RuntimeChild {
  /** Owner id of the runtime in the child (`agent-proc-<pid>`, or AgentProcOptions.owner). */
  owner: string;
}

const started = new Set<ChildHandle>();

/** Start a runtime process; resolves once it is ready (and its task, if any, is spawned). */
export async function startAgentProc(opts: AgentProcOptions): Promise<AgentProc> {
  const env: Record<string, string> = {
    BATON_PREFIX: opts.prefix,
    BATON_LEASE_MS: String(opts.leaseMs ?? 500),
    MACHINES: opts.machines === false ? '0' : '1',
    AGENTS: (opts.agents ?? []).join(','),
  };
  if (opts.cluster) env.BATON_CLUSTER = JSON.stringify(opts.cluster);
  else env.REDIS_URL = redisUrl();
  if (opts.owner !== undefined) env.BATON_OWNER = opts.owner;
  if (opts.idleMs !== undefined) env.BATON_IDLE_MS = String(opts.idleMs);
  if (opts.agentLockMs !== undefined) env.BATON_AGENT_LOCK_MS = String(opts.agentLockMs);
  return startRuntimeChild('test/procs/agent-runtime.ts', {
    env,
    spawn: opts.spawn,
    owner: (pid) => opts.owner ?? `agent-proc-${pid}`,
    timeoutMs: 30_000,
    started,
  });
}

/** SIGKILL every agent-runtime process still running (afterEach). */
export async function killAgentProcs(): Promise<void> {
  await Promise.all([...started].map((c) => c.kill('SIGKILL')));
}
