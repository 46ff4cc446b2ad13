// The delta encoder against XState's own persisted snapshot: after every
// step, the parts it wrote (applied as the commit script applies them)
// assemble to exactly what `actor.getPersistedSnapshot()` says, while an
// event that changes one child writes only that child's parts.
import { describe, expect, it } from 'vitest';
import { createActor, type AnyActor, type AnyActorRef } from 'xstate';
import { encodeJson } from '../src/persistence/codec.js';
import { assemble, groupParts, splitSnapshot } from '../src/persistence/parts.js';
import { mergeDelta, StateDelta, type Delta } from '../src/runtime/state-delta.js';
import { bigTask } from './fixtures/big.js';

/** Apply a delta to stored fields the way commit-7.lua does. */
function store(fields: Record<string, string>, d: Delta): void {
  for (let i = 0; i < d.set.length; i += 2) fields[d.set[i]!] = d.set[i + 1]!;
  for (const f of d.del) delete fields[f];
}

const roundTrip = (v: unknown) => JSON.parse(encodeJson(v)) as unknown;
const stored = (fields: Record<string, string>) => assemble(groupParts(fields));

/**
 * Take a delta after the start and after each event (with `dirty`: only the
 * actors it names, cleared after each take), store it as the script would, and
 * check the stored parts against XState's persisted snapshot every time.
 */
function replay(actor: AnyActor, dirty: Set<AnyActorRef> | undefined, events: Array<{ type: string; [k: string]: unknown }>): void {
  const fields: Record<string, string> = {};
  const delta = new StateDelta({}, actor);
  const take = () => {
    const d = delta.take(actor, dirty);
    dirty?.clear();
    expect(d.set.filter((_, i) => i % 2 === 0).filter((f) => d.del.includes(f)), 'a field both set and deleted').toEqual([]);
    store(fields, d);
  };
  take();
  expect(stored(fields)).toEqual(roundTrip(actor.getPersistedSnapshot()));
  for (const e of events) {
    actor.send(e as never);
    take();
    expect(stored(fields), JSON.stringify(e)).toEqual(roundTrip(actor.getPersistedSnapshot()));
  }
}

function start(kids: number): AnyActor {
  return createActor(bigTask, { input: { kids, blobBytes: 2000 } }).start();
}

describe('StateDelta', () => {
  it('after every step, the stored parts assemble to the actor\'s persisted snapshot', () => {
    replay(start(5), undefined, [
      { type: 'poke', i: 2, note: 'a' },
      { type: 'note', text: 'one' },
      { type: 'note', text: 'two' },
      { type: 'drop', i: 0 },
      { type: 'add', i: 9 },
      { type: 'poke', i: 9 },
      { type: 'poke', i: 9, note: 'b' },
      { type: 'add', i: 0 },
      { type: 'finish' },
    ]);
  });

  it('looking only at the actors XState says moved (inspection events) gives the same stored state, step by step', () => {
    const dirty = new Set<AnyActorRef>();
    const actor = createActor(bigTask, {
      input: { kids: 6, blobBytes: 100 },
      inspect: (ev) => {
        if (ev.type === '@xstate.snapshot') dirty.add(ev.actorRef as AnyActorRef);
      },
    }).start();
    replay(actor, dirty, [
      { type: 'poke', i: 2, note: 'a' },
      { type: 'note', text: 'one' },
      { type: 'drop', i: 0 },
      { type: 'poke', i: 3 },
      { type: 'add', i: 0 },
      { type: 'poke', i: 0, note: 'new' },
      { type: 'drop', i: 5 },
      { type: 'add', i: 5 },
      { type: 'poke', i: 5, note: 'again' },
      { type: 'note', text: 'two' },
      { type: 'finish' },
    ]);
  });

  it('writes only what changed: a poke writes the one child and the root counter, a note appends one item', () => {
    const actor = start(1000);
    const delta = new StateDelta({}, actor);
    const first = delta.take(actor);
    expect(first.set.length / 2).toBeGreaterThan(3000); // every part once: 1,000 children, 3 context keys each, the root
    actor.send({ type: 'poke', i: 500 } as never);
    const poke = delta.take(actor);
    // The child's node (its state value) did not change: only the two context keys are written.
    expect(poke.set.filter((_, i) => i % 2 === 0).sort()).toEqual(['x::n', 'x:k500:hits']);
    expect(poke.del).toEqual([]);
    // An array that only grew: its new items, as a chunk of their own.
    actor.send({ type: 'note', text: 'hello' } as never);
    expect(delta.take(actor)).toEqual({ set: ['a::items:1', '["hello"]'], del: [] });
    actor.send({ type: 'note', text: 'again' } as never);
    expect(delta.take(actor)).toEqual({ set: ['a::items:2', '["again"]'], del: [] });
    // After 32 chunks the array is written whole again and its chunks dropped.
    for (let i = 3; i <= 32; i++) {
      actor.send({ type: 'note', text: `n${i}` } as never);
      expect(delta.take(actor).set[0]).toBe(`a::items:${i}`);
    }
    actor.send({ type: 'note', text: 'whole' } as never);
    const compacted = delta.take(actor);
    expect(compacted.set[0]).toBe('x::items');
    expect(JSON.parse(compacted.set[1]!)).toHaveLength(33);
    expect(compacted.del).toEqual(Array.from({ length: 32 }, (_, i) => `a::items:${i + 1}`));
    actor.send({ type: 'drop', i: 3 } as never);
    const drop = delta.take(actor);
    expect(drop.del.sort()).toEqual(['n:k3', 'x:k3:hits', 'x:k3:i', 'x:k3:notes']);
    expect(drop.set).toEqual([]); // no part lists the children: removing one writes nothing else
    actor.send({ type: 'add', i: 3000 } as never);
    expect(delta.take(actor).set.filter((_, i) => i % 2 === 0).sort()).toEqual(['n:k3000', 'x:k3000:hits', 'x:k3000:i', 'x:k3000:notes']);
  });

  it('restored from its stored parts, the first delta is empty; from format 1 (no parts) it holds everything', () => {
    const actor = start(3);
    actor.send({ type: 'poke', i: 1, note: 'x' } as never);
    const fields = splitSnapshot(actor.getPersistedSnapshot() as Record<string, unknown>, encodeJson);
    const restored = createActor(bigTask, { snapshot: actor.getPersistedSnapshot(), input: { kids: 3, blobBytes: 2000 } }).start();
    expect(new StateDelta(fields, restored).take(restored)).toEqual({ set: [], del: [] });
    const legacy = new StateDelta({ snapshot: '{}' }, restored).take(restored);
    expect(Object.fromEntries(Array.from({ length: legacy.set.length / 2 }, (_, i) => [legacy.set[2 * i], legacy.set[2 * i + 1]]))).toEqual(fields);
    // A stored part no actor has any more (a migration dropped it) is deleted by the first delta.
    expect(new StateDelta({ ...fields, 'x::gone': '1' }, restored).take(restored)).toEqual({ set: [], del: ['x::gone'] });
  });

  it('merged deltas (one capture for a cascade) do what both do, in order', () => {
    const a: Delta = { set: ['x::a', '1', 'x::l', '[1]', 'a::m:1', '[2]'], del: ['x::z'] };
    const b: Delta = { set: ['x::a', '2', 'x::z', '3', 'a::l:1', '[2]', 'a::m:2', '[3]'], del: ['x::q'] };
    const fields = { 'x::m': '[1]', 'x::z': '0', 'x::q': '9' };
    const seq = { ...fields };
    store(seq, a);
    store(seq, b);
    const merged = { ...fields };
    store(merged, mergeDelta(a, b));
    expect(merged).toEqual(seq);
    expect(assemble(groupParts({ 'n:': '{"s":{"status":"active","value":"v"},"x":1}', ...merged }))?.context).toMatchObject({ l: [1, 2], m: [1, 2, 3] });
  });
});
