import type { AnyActorRef, InspectionEvent } from 'xstate';

/**
 * The one door to XState's internals (xstate 5.33). Baton relies on a few
 * members XState does not publish; they are read here and nowhere else, and
 * test/xstate-internals.test.ts pins each behaviour, so an XState upgrade
 * that changes one fails there, by name.
 *
 * - The actor system's scheduler and its table of pending delayed events
 *   (`system._snapshot._scheduledEvents`, keyed `<source sessionId>.<id>`):
 *   XState keeps `after` timers and delayed sends only in memory.
 * - An actor's logic (`actorRef.logic`): a machine has `root`, Baton's agent
 *   logic has `config.agent`.
 * - The system's `_sendInspectionEvent`, through which every inspection event
 *   passes (actors look it up on the system each time).
 */

/** A delayed event XState holds, as its system stores it. */
export interface ScheduledEvent {
  source: AnyActorRef;
  target: AnyActorRef;
  event: { type: string };
  delay: number;
  id: string;
  /** Stamped by Baton: the deadline by the runtime's clock. */
  dueAt?: number;
}

interface SchedulerSystem {
  scheduler: {
    schedule(source: AnyActorRef, target: AnyActorRef, event: unknown, delay: number, id?: string): void;
  };
  _snapshot: { _scheduledEvents: Record<string, ScheduledEvent> };
}

function systemOf(root: AnyActorRef): SchedulerSystem {
  return root.system as unknown as SchedulerSystem;
}

/** Every delayed event pending in `root`'s system. */
export function scheduledEvents(root: AnyActorRef): ScheduledEvent[] {
  return Object.values(systemOf(root)._snapshot._scheduledEvents);
}

/** The pending entry of a delayed event `id` sent by `source`, if any. */
export function scheduledEvent(root: AnyActorRef, source: AnyActorRef, id: string): ScheduledEvent | undefined {
  return systemOf(root)._snapshot._scheduledEvents[`${source.sessionId}.${id}`];
}

/** Schedule a delayed event as XState's own `after`/delayed `sendTo` does (the id lets leaving the state cancel it). */
export function schedule(root: AnyActorRef, source: AnyActorRef, target: AnyActorRef, event: unknown, delay: number, id: string): void {
  systemOf(root).scheduler.schedule(source, target, event, delay, id);
}

/** Call `after(source, id, delay)` each time the system schedules a delayed event (ids are made up for those without one). */
export function onSchedule(root: AnyActorRef, after: (source: AnyActorRef, id: string, delay: number) => void): void {
  const scheduler = systemOf(root).scheduler;
  const original = scheduler.schedule.bind(scheduler);
  scheduler.schedule = (source, target, event, delay, id) => {
    const sendId = id ?? `baton-${++counter}`;
    original(source, target, event, delay, sendId);
    after(source, sendId, delay);
  };
}
let counter = 0;

/** What kind of logic a child actor runs: a machine, one of Baton's agents, or other (promise, callback, observable). */
export function logicKind(child: AnyActorRef): 'machine' | 'agent' | 'other' {
  const logic = (child as unknown as { logic?: { config?: unknown } }).logic;
  if (logic && 'root' in logic) return 'machine';
  if (logic?.config && typeof logic.config === 'object' && 'agent' in logic.config) return 'agent';
  return 'other';
}

/**
 * A machine actor's persisted snapshot without its context and children
 * (XState's own `getPersistedSnapshot` on a copy whose children are empty,
 * so nothing below is walked): what a node part stores.
 */
export function persistedNode(ref: AnyActorRef): Record<string, unknown> {
  const snap = ref.getSnapshot() as Record<string, unknown>;
  const logic = (ref as unknown as { logic: { getPersistedSnapshot(s: unknown): Record<string, unknown> } }).logic;
  const { context: _context, children: _children, ...node } = logic.getPersistedSnapshot({ ...snap, children: {}, context: undefined });
  return node;
}

/** How a parent's persisted snapshot refers to child `ref` (beside the child's own snapshot). */
export function childMeta(ref: AnyActorRef): { src: unknown; systemId: unknown; syncSnapshot: unknown } {
  const r = ref as unknown as { src: unknown; systemId?: unknown; _syncSnapshot?: unknown };
  return { src: r.src, systemId: r.systemId, syncSnapshot: r._syncSnapshot };
}

/** The live children of an actor (XState keeps them on its snapshot), or undefined for logic without. */
export function childrenOf(ref: AnyActorRef): Record<string, AnyActorRef> | undefined {
  return (ref.getSnapshot() as { children?: Record<string, AnyActorRef> }).children;
}

/**
 * One context value as XState persists it: actor references anywhere inside
 * become `{ xstate$$type: 1, id }` (XState's `persistContext`, not exported).
 * The value itself when it holds none.
 */
export function persistValue(value: unknown): unknown {
  if (!value || typeof value !== 'object') return value;
  if ('sessionId' in value && 'send' in value && 'ref' in value) return { xstate$$type: 1, id: (value as unknown as { id: string }).id };
  let copy: Record<string, unknown> | unknown[] | undefined;
  const obj = value as Record<string, unknown>;
  for (const key in obj) {
    const v = obj[key];
    if (!v || typeof v !== 'object') continue;
    const p = persistValue(v);
    if (p !== v) {
      copy ??= Array.isArray(value) ? value.slice() : { ...obj };
      (copy as Record<string, unknown>)[key] = p;
    }
  }
  return copy ?? value;
}

/**
 * Hand `handler` every inspection event of `actor`'s system as XState raises
 * it: the object XState built, before it copies it for each observer
 * registered with `inspect` (which still get theirs). XState copies and
 * dispatches every event (an event, a microstep, each action, a snapshot) to
 * its observers: about 4 µs per transition of a small machine, for a host
 * that needs two kinds. Install it before the actor starts.
 */
export function tapInspection(actor: AnyActorRef, handler: (event: InspectionEvent) => void): void {
  const system = actor.system as unknown as { _sendInspectionEvent(event: InspectionEvent): void };
  const forward = system._sendInspectionEvent;
  system._sendInspectionEvent = (event) => {
    handler(event);
    forward(event);
  };
}
