// Pins what Baton relies on inside XState (src/runtime/xstate-internals.ts):
// an XState upgrade that changes any of it fails here, by name.
import { createActor, fromPromise, sendTo, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { fromAgent } from '../src/index.js';
import type { InspectionEvent } from 'xstate';
import { logicKind, onSchedule, schedule, scheduledEvent, scheduledEvents, tapInspection } from '../src/runtime/xstate-internals.js';

const child = setup({}).createMachine({ id: 'kid', initial: 'a', states: { a: { after: { 5000: 'b' } }, b: {} } });
const machine = setup({
  actors: { child, work: fromPromise(() => new Promise<number>(() => undefined)) },
}).createMachine({
  id: 'root',
  initial: 'waiting',
  invoke: [
    { id: 'kid', src: 'child' },
    { id: 'job', src: 'work' },
  ],
  states: {
    waiting: {
      after: { 60_000: 'late' },
      entry: sendTo('kid', { type: 'poke' }, { delay: 1000, id: 'poke-1' }),
      on: { go: 'done' },
    },
    late: {},
    done: {},
  },
});

describe('XState internals Baton relies on', () => {
  it("a system's pending delayed events: source, target, event, delay and id, keyed by the source's session id and the id", () => {
    const actor = createActor(machine).start();
    const events = scheduledEvents(actor);
    // The root's `after`, its delayed send to the child, and the child's own `after`.
    expect(events.map((e) => e.delay).sort((a, b) => a - b)).toEqual([1000, 5000, 60_000]);
    const poke = events.find((e) => e.id === 'poke-1')!;
    expect(poke.source).toBe(actor);
    expect(poke.target).toBe(actor.getSnapshot().children.kid);
    expect(poke.event).toEqual({ type: 'poke' });
    expect(scheduledEvent(actor, actor, 'poke-1')).toBe(poke);
    actor.stop();
  });

  it("leaving the state cancels its `after` events (by id), which is why a re-armed timer keeps its id", () => {
    const actor = createActor(machine).start();
    const id = scheduledEvents(actor).find((e) => e.delay === 60_000)!.id;
    actor.send({ type: 'go' });
    expect(scheduledEvent(actor, actor, id)).toBeUndefined();
    // The delayed send stays (XState cancels it only on `cancel(id)`), and so does the child's own `after`.
    expect(scheduledEvents(actor).map((e) => e.delay).sort((a, b) => a - b)).toEqual([1000, 5000]);
    actor.stop();
  });

  it('the scheduler can be wrapped (every delayed event passes through it) and scheduled into directly', () => {
    const seen: Array<[string, number]> = [];
    const actor = createActor(machine);
    onSchedule(actor, (source, id, delay) => seen.push([source === actor ? 'root' : 'other', delay]));
    actor.start();
    expect(seen.filter(([who]) => who === 'root').map(([, d]) => d).sort((a, b) => a - b)).toEqual([1000, 60_000]);
    schedule(actor, actor, actor, { type: 'go' }, 10_000, 'manual');
    expect(scheduledEvent(actor, actor, 'manual')?.delay).toBe(10_000);
    actor.stop();
  });

  it("a child's logic says what it is: a machine (root), one of Baton's agents (config.agent), or other", () => {
    const actor = createActor(machine).start();
    const children = actor.getSnapshot().children as Record<string, never>;
    expect(logicKind(children.kid!)).toBe('machine');
    expect(logicKind(children.job!)).toBe('other');
    // (Not started: outside a Baton runtime an agent child fails at once.)
    expect(logicKind(createActor(fromAgent('agent')))).toBe('agent');
    actor.stop();
  });

  it("every inspection event of the system, children's included, passes through its `_sendInspectionEvent`; an inspector still gets its own", () => {
    const tapped: InspectionEvent[] = [];
    const inspected: InspectionEvent[] = [];
    const actor = createActor(machine, { inspect: (e) => inspected.push(e) });
    tapInspection(actor, (e) => tapped.push(e));
    actor.start();
    actor.send({ type: 'go' });
    const kid = (actor.getSnapshot().children as Record<string, unknown>).kid;
    const snapshots = tapped.filter((e) => e.type === '@xstate.snapshot');
    // The root's move on `go`, and the child's start, each reported with its actor.
    expect(snapshots.some((e) => e.actorRef === actor && (e as { event: { type: string } }).event.type === 'go')).toBe(true);
    expect(snapshots.some((e) => e.actorRef === kid)).toBe(true);
    expect(tapped.some((e) => e.type === '@xstate.event' && e.event.type === 'go')).toBe(true);
    // The inspector saw the same events, in the same order, after the tap (as copies with the root's id).
    expect(inspected.filter((e) => e.type !== '@xstate.actor').map((e) => e.type)).toEqual(tapped.map((e) => e.type));
    expect(inspected.every((e) => e.rootId === actor.sessionId)).toBe(true);
    actor.stop();
  });
});
