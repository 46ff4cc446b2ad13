import type { AnyActorRef } from 'xstate';
import { actorPath } from '../actors/actor-path.js';
import type { PersistedTimer } from '../persistence/codec.js';
import type { Clock } from './clock.js';
import { onSchedule, schedule, scheduledEvent, scheduledEvents } from './xstate-internals.js';

/**
 * XState 5 keeps delayed events (`after`, `sendTo(..., { delay })`) only in
 * memory: restoring a snapshot does not re-arm them. These helpers read the
 * pending ones out of the actor system at each commit and re-arm them after a
 * restore at their original deadline.
 */

/**
 * Stamp each scheduled event with its deadline by the runtime's clock
 * (XState records `Date.now()`, which an injected clock does not move).
 */
export function instrumentScheduler(root: AnyActorRef, clock: Clock): void {
  onSchedule(root, (source, id, delay) => {
    const entry = scheduledEvent(root, source, id);
    if (entry) entry.dueAt = clock.now() + delay;
  });
}

/** Find the actor at `path` below `root`, or undefined when it no longer exists. */
export function resolvePath(root: AnyActorRef, path: string[]): AnyActorRef | undefined {
  let cur: AnyActorRef | undefined = root;
  for (const id of path) {
    const children: Record<string, AnyActorRef> | undefined = (cur?.getSnapshot() as { children?: Record<string, AnyActorRef> } | undefined)?.children;
    cur = children?.[id];
    if (!cur) return undefined;
  }
  return cur;
}

/** The delayed events pending in `root`'s system, ready to commit. */
export function captureTimers(root: AnyActorRef, clock: Clock): PersistedTimer[] {
  const out: PersistedTimer[] = [];
  for (const entry of scheduledEvents(root)) {
    out.push({
      source: actorPath(entry.source),
      target: actorPath(entry.target),
      event: entry.event as PersistedTimer['event'],
      id: entry.id,
      dueAt: entry.dueAt ?? clock.now() + entry.delay,
    });
  }
  out.sort((a, b) => a.dueAt - b.dueAt);
  return out;
}

/**
 * Re-arm committed timers on a restored actor, each at `max(0, dueAt - now)`,
 * keeping its id so that leaving the state still cancels it. Timers whose
 * source or target actor no longer exists are dropped (returned for the log).
 */
export function rearmTimers(root: AnyActorRef, timers: PersistedTimer[], clock: Clock): PersistedTimer[] {
  const dropped: PersistedTimer[] = [];
  for (const t of timers) {
    const source = resolvePath(root, t.source);
    const target = resolvePath(root, t.target);
    if (!source || !target) {
      dropped.push(t);
      continue;
    }
    schedule(root, source, target, t.event, Math.max(0, t.dueAt - clock.now()), t.id);
    const entry = scheduledEvent(root, source, t.id);
    if (entry) entry.dueAt = t.dueAt;
  }
  return dropped;
}
