import type { AnyActorRef, InspectionEvent } from 'xstate';
import type { AnyEvent } from './mailbox.js';

/**
 * Tells a host's own steps from the moves its actor makes by itself (a timer
 * firing, a promise child settling), from XState's inspection events of the
 * whole actor system (the root's `subscribe` misses child-only changes), and
 * remembers the event that caused a move, for the history.
 */
export class ActorEvents {
  /** True while the host itself changes the actor: what the actor does then is that step, not one of its own. */
  private applying = false;
  private cause: AnyEvent | undefined;
  private causeToRoot = false;

  /** Run `change` as the host's own step (its snapshots are not moves of the actor's own). */
  during(change: () => void): void {
    this.applying = true;
    try {
      change();
    } finally {
      this.applying = false;
    }
    this.cause = undefined;
    this.causeToRoot = false;
  }

  /** Bracket a restore the same way. */
  set starting(on: boolean) {
    this.applying = on;
  }

  /**
   * Feed one inspection event; calls `moved(cause)` when the actor moved on
   * its own. The history names the first event of the step; a new child's
   * `xstate.init` is a consequence, not a cause, and the root's event is
   * preferred over the child event that caused it (`xstate.done.actor.*` over
   * `xstate.promise.resolve`).
   */
  inspect(ev: InspectionEvent, root: AnyActorRef, moved: (cause: AnyEvent) => void): void {
    if (ev.type === '@xstate.event') {
      if (ev.event.type === 'xstate.init') return;
      const toRoot = ev.actorRef === root;
      if (!this.cause || (toRoot && !this.causeToRoot)) {
        this.cause = ev.event as AnyEvent;
        this.causeToRoot = toRoot;
      }
    } else if (ev.type === '@xstate.snapshot' && !this.applying) {
      const cause = this.cause ?? { type: 'xstate.internal' };
      this.cause = undefined;
      this.causeToRoot = false;
      moved(cause);
    }
  }
}
