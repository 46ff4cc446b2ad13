// What the runtime processes under test/procs (runtime.ts, agent-runtime.ts) do
// around their runtime, in the line protocol test/helpers/runtime-child.ts reads:
// one JSON object a line on stdout.
import type { InspectionEvent } from 'xstate';
import type { Runtime } from '../../src/index.js';

/** Print `o` as one line of JSON. */
export const out = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

/** An inspect callback printing {"held":<id>} when a task's root actor (no parent) is created here: once per activation in this process. */
export function reportHeld(ev: InspectionEvent): void {
  if (ev.type === '@xstate.actor' && !(ev.actorRef as { _parent?: unknown })._parent) out({ held: (ev.actorRef as { id?: string }).id });
}

/**
 * Prints {"ready":true,"owner":...,"pid":...}; spawns SPAWN_MACHINE's task (SPAWN_ID,
 * SPAWN_INPUT as JSON) and prints {"spawned":<id>}; on SIGTERM closes the runtime,
 * then `after`, and exits 0.
 */
export async function serve(runtime: Runtime, owner: string, after: () => Promise<unknown>): Promise<void> {
  out({ ready: true, owner, pid: process.pid });

  if (process.env.SPAWN_MACHINE) {
    const input = process.env.SPAWN_INPUT ? JSON.parse(process.env.SPAWN_INPUT) : undefined;
    const task = await runtime.spawn(process.env.SPAWN_MACHINE, { id: process.env.SPAWN_ID, input });
    out({ spawned: task.id });
  }

  process.on('SIGTERM', () => {
    void runtime
      .close()
      .then(after)
      .finally(() => process.exit(0));
  });
}
