// Start test/procs/agent-runtime.ts in child processes and keep track of them,
// so a failing test never leaves one behind (killAgentProcs in afterEach).
import { runChild, type ChildHandle } from './child.ts';
import { redisUrl } from './redis-url.ts';

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
  spawn?: { machine: string; id: string; input?: unknown };
  /** Connect to this Redis Cluster instead of REDIS_URL. */
  cluster?: Array<{ host: string; port: number }>;
}

export interface AgentProc extends ChildHandle {
  /** Owner id of the runtime in the child (`agent-proc-<pid>`). */
  owner: string;
  /** Task ids whose actor this process started or restored, in order. */
  held(): string[];
  /** Log lines (`{"log": ...}`) printed by the child's runtime so far. */
  logs(): Array<{ log: string; [k: string]: unknown }>;
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
  if (opts.spawn) {
    env.SPAWN_MACHINE = opts.spawn.machine;
    env.SPAWN_ID = opts.spawn.id;
    if (opts.spawn.input !== undefined) env.SPAWN_INPUT = JSON.stringify(opts.spawn.input);
  }
  const child = runChild('test/procs/agent-runtime.ts', { env });
  started.add(child);
  void child.exited.then(() => started.delete(child));
  await child.waitForJson((o) => o.ready === true, 30_000);
  if (opts.spawn) await child.waitForJson((o) => o.spawned === opts.spawn!.id, 30_000);
  const json = () =>
    child.lines.flatMap((l) => {
      if (!l.startsWith('{')) return [];
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  return Object.assign(child, {
    owner: opts.owner ?? `agent-proc-${child.pid}`,
    held: () => json().flatMap((o) => (typeof o.held === 'string' ? [o.held] : [])),
    logs: () => json().filter((o): o is { log: string } => typeof o.log === 'string'),
  });
}

/** SIGKILL every agent-runtime process still running (afterEach). */
export async function killAgentProcs(): Promise<void> {
  await Promise.all([...started].map((c) => c.kill('SIGKILL')));
}
