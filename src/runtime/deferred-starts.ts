import type { AnyActorLogic, AnyActorRef } from 'xstate';
import { bridgeOf } from '../actors/agent-bridge.js';

type Logic = {
  transition: (state: unknown, event: unknown, scope: unknown) => unknown;
  start?: (state: unknown, scope: { self: AnyActorRef; system: object }) => void;
};

const PROBE = Symbol('baton.probe');

/** True for `fromPromise` logic: it settles on `xstate.promise.resolve` (the only logic that does). */
function isPromiseLogic(logic: unknown): logic is Logic {
  if (!logic || typeof logic !== 'object' || typeof (logic as Logic).transition !== 'function' || typeof (logic as Logic).start !== 'function') return false;
  if ('root' in logic) return false; // a machine
  try {
    const s = (logic as Logic).transition({ status: 'active', output: undefined, error: undefined, input: undefined }, { type: 'xstate.promise.resolve', data: PROBE }, {}) as
      | { status?: string; output?: unknown }
      | undefined;
    return s?.status === 'done' && s.output === PROBE;
  } catch {
    return false;
  }
}

/** The same promise logic, whose promise is created only once the commit that invoked it has landed. */
function deferStart(logic: Logic): Logic {
  return {
    ...logic,
    start: (state, scope) => {
      const bridge = bridgeOf(scope.system);
      if (!bridge) return logic.start!(state, scope);
      bridge.afterCommit(() => {
        const now = scope.self.getSnapshot() as { status?: string };
        if (now.status === 'active') logic.start!(now, scope); // stopped meanwhile (its state was left): never started
      });
    },
  };
}

const cache = new WeakMap<object, AnyActorLogic>();

/**
 * The machine with its registered `fromPromise` children started after the
 * commit that invoked them (as agents are dispatched), instead of inside the
 * transition: a step that finishes at once is still committed on its own, and
 * a crash re-runs only the promise whose invoking commit landed and whose
 * result did not. Children of nested machines keep XState's timing.
 */
export function withDeferredPromises(machine: AnyActorLogic): AnyActorLogic {
  const hit = cache.get(machine);
  if (hit) return hit;
  const m = machine as AnyActorLogic & { provide?: (i: { actors: Record<string, unknown> }) => AnyActorLogic; implementations?: { actors?: Record<string, unknown> } };
  let out: AnyActorLogic = machine;
  if (typeof m.provide === 'function') {
    const wrapped: Record<string, unknown> = {};
    for (const [src, logic] of Object.entries(m.implementations?.actors ?? {})) if (isPromiseLogic(logic)) wrapped[src] = deferStart(logic);
    if (Object.keys(wrapped).length) out = m.provide({ actors: wrapped });
  }
  cache.set(machine, out);
  return out;
}
