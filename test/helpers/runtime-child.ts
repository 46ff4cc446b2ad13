// What test/procs/runtime.ts and test/procs/agent-runtime.ts have in common, as
// the test sees them: a runtime in a child process that can spawn one task as
// it starts (SPAWN_*), prints {"ready":true} (then {"spawned":<id>}), reports
// {"held":<id>} and {"log":...} lines, and is tracked until it exits so that an
// afterEach can kill whatever a failing test left behind.
import { runChild, type ChildHandle } from './child.ts';

/** A task the child spawns as soon as its runtime is started. */
export interface SpawnAtStart {
  machine: string;
  id: string;
  input?: unknown;
}

export interface RuntimeChild extends ChildHandle {
  /** Owner id of the runtime in the child. */
  owner: string;
  /** Task ids whose actor this process started or restored, in order. */
  held(): string[];
  /** Log lines (`{"log": ...}`) printed by the child's runtime so far. */
  logs(): Array<{ log: string; [k: string]: unknown }>;
}

export interface StartRuntimeChildOptions {
  /** The child's environment (over process.env); SPAWN_* are added for `spawn`. */
  env: Record<string, string>;
  spawn?: SpawnAtStart;
  /** Its owner id, from its pid. */
  owner: (pid: number) => string;
  /** How long to wait for {"ready"} and for {"spawned"}, each. */
  timeoutMs: number;
  /** Holds the child until it exits. */
  started: Set<ChildHandle>;
}

/** Start `file` (a test/procs runtime); resolves once it is ready (and its task, if any, is spawned). */
export async function startRuntimeChild(file: string, opts: StartRuntimeChildOptions): Promise<RuntimeChild> {
  const env = { ...opts.env };
  const spawn = opts.spawn;
  if (spawn) {
    env.SPAWN_MACHINE = spawn.machine;
    env.SPAWN_ID = spawn.id;
    if (spawn.input !== undefined) env.SPAWN_INPUT = JSON.stringify(spawn.input);
  }
  const child = runChild(file, { env });
  opts.started.add(child);
  void child.exited.then(() => opts.started.delete(child));
  await child.waitForJson((o) => o.ready === true, opts.timeoutMs);
  if (spawn) await child.waitForJson((o) => o.spawned === spawn.id, opts.timeoutMs);
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
    owner: opts.owner(child.pid),
    held: () => json().flatMap((o) => (typeof o.held === 'string' ? [o.held] : [])),
    logs: () => json().filter((o): o is { log: string } => typeof o.log === 'string'),
  });
}
