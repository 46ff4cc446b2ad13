import type { AnyActorRef } from 'xstate';

/**
 * The time inside an action, by the actor's clock. XState gives actions no
 * clock of their own; the clock passed to `createActor(logic, { clock })`
 * belongs to the actor system, shared by every actor of the tree, and XState
 * exposes it on the system as `_clock` (declared in its `ActorSystem` type).
 * Baton's runtime passes its injected `Clock` there, and XState's
 * `SimulatedClock` tells the time too, so a clock with `now()` is read; the
 * default clock (timers only) falls back to `Date.now()`.
 *
 * @example
 * entry: assign(({ self }) => ({ startedAt: actorNow(self) }))
 */
export function actorNow(self: Pick<AnyActorRef, 'system'>): number {
  const clock = self.system?._clock as { now?: () => number } | undefined;
  return typeof clock?.now === 'function' ? clock.now() : Date.now();
}
