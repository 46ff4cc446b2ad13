import { createActor, type AnyActor, type InspectionEvent } from 'xstate';
import { registerBridge, withBridge, type AgentBridge } from '../actors/agent-bridge.js';
import type { PersistedTimer } from '../persistence/codec.js';
import type { StateFields } from '../persistence/task-store.js';
import { decodeCommitted, describeError } from './committed-state.js';
import type { TaskDefinition } from './definition.js';
import { withDeferredPromises } from './deferred-starts.js';
import type { HostContext } from './host-context.js';
import { stableInspector } from './inspection.js';
import { instrumentScheduler, rearmTimers } from './timers.js';
import { tapInspection } from './xstate-internals.js';

/** A restored (or new) actor, started, with what the restore decided. */
export interface Restored {
  actor: AnyActor;
  /** True when it was restored from a committed snapshot (its agent children re-dispatch). */
  fromSnapshot: boolean;
}

/**
 * Create the task's actor from its committed fields (or its input, before the
 * first commit) and start it. Throws an Error whose message is the readable
 * quarantine reason when the committed state does not restore on this
 * machine (the actor is stopped first: nothing it did may be committed), or
 * an InputRefusedError when the spawn input fails the machine's schema.
 * `starting(true)` brackets the start: what the actor does meanwhile is the
 * restore, not a step of its own.
 */
export function restoreActor(a: {
  taskId: string;
  machineName: string;
  def: TaskDefinition;
  fields: StateFields;
  ctx: HostContext;
  bridge: AgentBridge;
  onInspect: (ev: InspectionEvent) => void;
  starting: (on: boolean) => void;
  /** Called before a failed restore stops the actor (the host lets go first). */
  onFailure: () => void;
}): Restored {
  const { snapshot, timers, input } = decodeCommitted(a.fields, a.def, a.machineName);
  const extra = a.ctx.inspect ? stableInspector(a.taskId, a.ctx.inspect) : undefined;
  const actor = withBridge(a.bridge, () =>
    createActor(withDeferredPromises(a.def.machine), {
      ...(snapshot ? { snapshot: snapshot as never } : { input }),
      id: a.taskId,
      clock: a.ctx.clock,
      ...(extra ? { inspect: extra } : {}),
    }),
  );
  // The host's own view of the system's events, uncopied and before any inspector's.
  tapInspection(actor, a.onInspect);
  actor.subscribe({ error: () => undefined }); // a failing actor is data (status 'error'), never a crash
  registerBridge(actor.system, a.bridge);
  instrumentScheduler(actor, a.ctx.clock);
  a.starting(true);
  try {
    actor.start();
  } finally {
    a.starting(false);
  }
  if (snapshot) check(actor, snapshot, timers, a);
  return { actor, fromSnapshot: !!snapshot };
}

function check(actor: AnyActor, snapshot: Record<string, unknown>, timers: PersistedTimer[], a: Parameters<typeof restoreActor>[0]): void {
  const fail = (reason: string): never => {
    a.onFailure();
    actor.stop();
    throw new Error(reason);
  };
  const now = actor.getSnapshot();
  if (now.status === 'error' && snapshot.status !== 'error') fail(`snapshot does not restore on the current machine: ${describeError(now.error)}`);
  // XState restores a child whose logic the machine no longer registers by leaving it out, silently.
  const persisted = (snapshot.children ?? {}) as Record<string, { snapshot?: { status?: string }; src?: unknown }>;
  const live = (now as { children?: Record<string, unknown> }).children ?? {};
  const lost = Object.entries(persisted).filter(([cid, c]) => c?.snapshot?.status === 'active' && !live[cid]);
  if (lost.length) fail(`snapshot has active children the machine cannot restore: ${lost.map(([cid, c]) => `${cid} (src ${JSON.stringify(c?.src)})`).join(', ')}`);
  const dropped = rearmTimers(actor, timers, a.ctx.clock);
  if (dropped.length) a.ctx.log('timers dropped on restore: their actor is gone', { taskId: a.taskId, dropped: dropped.map((t) => t.id) });
}
