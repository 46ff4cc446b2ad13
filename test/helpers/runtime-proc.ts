// Start test/procs/runtime.ts in a child process and keep track of it, so a
// failing test never leaves a runtime behind (see killAll in afterEach).
import type { ChildHandle } from './child.ts';
import { redisUrl } from './redis-url.ts';
import { startRuntimeChild, type RuntimeChild, type SpawnAtStart } from './runtime-child.ts';

export interface RuntimeProcOptions {
  prefix: string;
  leaseMs?: number;
  spawn?: SpawnAtStart;
  env?: Record<string, string>;
}

export interface RuntimeProc extends RuntimeChild {
  /** Owner id of the runtime in the child (`proc-<pid>`). */
  owner: string;
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
  return startRuntimeChild('test/procs/runtime.ts', { env, spawn: opts.spawn, owner: (pid) => `proc-${pid}`, timeoutMs: 20_000, started });
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
