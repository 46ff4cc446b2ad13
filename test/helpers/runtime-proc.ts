// Start test/procs/runtime.ts in a child process and keep track of it, so a
// failing test never leaves a runtime behind (see killAll in afterEach).
import { runChild, type ChildHandle } from './child.ts';
import { redisUrl } from './redis-url.ts';

export interface RuntimeProcOptions {
  prefix: string;
  leaseMs?: number;
  spawn?: { machine: string; id: string; input?: unknown };
  env?: Record<string, string>;
}

export interface RuntimeProc extends ChildHandle {
  /** Owner id of the runtime in the child (`proc-<pid>`). */
  owner: string;
  /** Log lines (`{"log": ...}`) printed by the child's runtime so far. */
  logs(): Array<{ log: string; [k: string]: unknown }>;
  /** Task ids whose actor this process started or restored, in order. */
  held(): string[];
}

const started = new Set<ChildHandle>();

/** Start a runtime process; resolves once it is started (and its task, if any, is spawned). */
export async function startRuntimeProc(opts: RuntimeProcOptions): Promise<RuntimeProc> {
  const env: Record<string, string> = {
    REDIS_URL: redisUrl(),
    BATON_PREFIX: opts.prefix,
    BATON_LEASE_MS: String(opts.leaseMs ?? 500),
    ...opts.env,
  };
  if (opts.spawn) {
    env.SPAWN_MACHINE = opts.spawn.machine;
    env.SPAWN_ID = opts.spawn.id;
    if (opts.spawn.input !== undefined) env.SPAWN_INPUT = JSON.stringify(opts.spawn.input);
  }
  const child = runChild('test/procs/runtime.ts', { env });
  started.add(child);
  void child.exited.then(() => started.delete(child));
  await child.waitForJson((o) => o.ready === true, 20_000);
  if (opts.spawn) await child.waitForJson((o) => o.spawned === opts.spawn!.id, 20_000);
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
    owner: `proc-${child.pid}`,
    logs: () => json().filter((o): o is { log: string } => typeof o.log === 'string'),
    held: () => json().flatMap((o) => (typeof o.held === 'string' ? [o.held] : [])),
  });
}

/** SIGKILL every runtime process still running (afterEach). SIGCONT first, in case a test paused one. */
export async function killAllRuntimeProcs(): Promise<void> {
  await Promise.all(
    [...started].map(async (c) => {
      try {
        process.kill(c.pid, 'SIGCONT');
      } catch {
        /* gone */
      }
      await c.kill('SIGKILL');
    }),
  );
}
