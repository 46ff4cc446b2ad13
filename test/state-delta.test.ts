// The delta encoder against XState's own persisted snapshot: after every
// step, the parts it wrote (applied as the commit script applies them)
// assemble to exactly what `actor.getPersistedSnapshot()` says, while an
// event that changes one child writes only that child's parts.
import { describe, expect, it } from 'vitest';
import { createActor, type AnyActor } from 'xstate';
import { encodeJson } from '../src/persistence/codec.js';
import { assemble, groupParts, splitSnapshot } from '../src/persistence/parts.js';
import { mergeDelta, StateDelta, type Delta } from '../src/runtime/state-delta.js';
import { bigTask } from './fixtures/big.js';

/** Apply a delta to stored fields the way commit-7.lua does. */
function store(fields: Record<string, string>, d: Delta): void {
  for (let i = 0; i < d.set.length; i += 2) fields[d.set[i]!] = d.set[i + 1]!;
  for (let i = 0; i < d.app.length; i += 3) {
    const old = fields[d.app[i]!] ?? '[]';
    fields[d.app[i]!] = old === '[]' ? `[${d.app[i + 1]}]` : `${old.slice(0, -1)},${d.app[i + 1]}]`;
  }
  for (const f of d.del) delete fields[f];
}

const roundTrip = (v: unknown) => JSON.parse(encodeJson(v)) as unknown;
const stored = (fields: Record<string, string>) => assemble(groupParts(fields));

function start(kids: number): AnyActor {
  return createActor(bigTask, { input: { kids, blobBytes: 2000 } }).start();
}

describe('StateDelta', () => {
  it('after every step, the stored parts assemble to the actor\'s persisted snapshot', () => {
    const actor = start(5);
    const fields: Record<string, string> = {};
    const delta = new StateDelta({}, actor);
    store(fields, delta.take(actor));
    expect(stored(fields)).toEqual(roundTrip(actor.getPersistedSnapshot()));
    const events = [
      { type: 'poke', i: 2, note: 'a' },
      { type: 'note', text: 'one' },
      { type: 'note', text: 'two' },
      { type: 'drop', i: 0 },
      { type: 'add', i: 9 },
      { type: 'poke', i: 9 },
      { type: 'poke', i: 9, note: 'b' },
      { type: 'add', i: 0 },
      { type: 'finish' },
    ];
    for (const e of events) {
      actor.send(e as never);
      store(fields, delta.take(actor));
      expect(stored(fields), e.type).toEqual(roundTrip(actor.getPersistedSnapshot()));
    }
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
    expect(poke.app).toEqual([]);
    expect(poke.del).toEqual([]);
    actor.send({ type: 'note', text: 'hello' } as never);
    expect(delta.take(actor)).toEqual({ set: [], app: ['x::items', '"hello"', '0'], del: [] });
    actor.send({ type: 'note', text: 'again' } as never);
    expect(delta.take(actor)).toEqual({ set: [], app: ['x::items', '"again"', '1'], del: [] });
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
    expect(new StateDelta(fields, restored).take(restored)).toEqual({ set: [], app: [], del: [] });
    const legacy = new StateDelta({ snapshot: '{}' }, restored).take(restored);
    expect(Object.fromEntries(Array.from({ length: legacy.set.length / 2 }, (_, i) => [legacy.set[2 * i], legacy.set[2 * i + 1]]))).toEqual(fields);
    // A stored part no actor has any more (a migration dropped it) is deleted by the first delta.
    expect(new StateDelta({ ...fields, 'x::gone': '1' }, restored).take(restored)).toEqual({ set: [], app: [], del: ['x::gone'] });
  });

  it('merged deltas (one capture for a cascade) do what both do, in order', () => {
    const a: Delta = { set: ['x::a', '1', 'x::l', '[1]'], app: ['x::m', '2', '1'], del: ['x::z'] };
    const b: Delta = { set: ['x::a', '2', 'x::z', '3'], app: ['x::l', '2', '1', 'x::m', '3', '2'], del: ['x::q'] };
    const fields = { 'x::m': '[1]', 'x::z': '0', 'x::q': '9' };
    const seq = { ...fields };
    store(seq, a);
    store(seq, b);
    const merged = { ...fields };
    store(merged, mergeDelta(a, b));
    expect(merged).toEqual(seq);
  });
});
