// Change notices carry the delta of their commit: a reader's mirror applies
// it in seq order and builds the same view as one read from the stored state;
// a missed notice is a gap (the reader reloads); the snapshot is assembled
// only when a caller looks at a field that needs it.
import { describe, expect, it } from 'vitest';
import { encodeJson } from '../src/persistence/codec.js';
import { assemble, groupParts, splitSnapshot } from '../src/persistence/parts.js';
import { applyDelta, TaskMirror } from '../src/persistence/task-mirror.js';
import { encodeNotice, noticeHead, parseNotice, viewFromHash } from '../src/persistence/view.js';

const fields = { machine: 'm', version: 2, status: 'active', seq: 7, updatedAt: 50, createdAt: 10 };
const snapshot = {
  status: 'active',
  value: { steps: 'b' },
  historyValue: {},
  context: { n: 1, items: ['a'], awaiting: { decision: 'ok?', options: ['yes', 'no'], since: 1 } },
  children: {
    a: { snapshot: { status: 'active', agent: 'research', jobId: 't.1.a', input: {} }, src: 'research' },
    'odd/id:1': { snapshot: { status: 'active', value: 'w', context: { deep: { x: 1 } }, children: {} }, src: 'kid', systemId: 'worker' },
  },
};

/** The state hash of a task stored in parts at `seq`. */
function hashAt(seq: number, snap: Record<string, unknown>): Record<string, string> {
  return { machine: 'm', version: '2', status: 'active', seq: String(seq), updatedAt: '50', createdAt: '10', timers: '[]', format: '2', ...splitSnapshot(snap, encodeJson) };
}

function notice(seq: number, d: { s?: Record<string, unknown>; x?: string[] }, base = seq - 1): string {
  return noticeHead('t', { ...fields, seq, base }, '[]') + JSON.stringify({ s: d.s ?? {}, x: d.x ?? [] }) + '}';
}

describe('parts', () => {
  it('a snapshot split into parts assembles back to the same snapshot (odd child ids included)', () => {
    const parts = splitSnapshot(snapshot, encodeJson);
    expect(Object.keys(parts).sort()).toEqual(['n:', 'n:a', 'n:odd%2Fid%3A1', 'x::awaiting', 'x::items', 'x::n', 'x:odd%2Fid%3A1:deep']);
    expect(assemble(groupParts(parts))).toEqual(snapshot);
  });
  it('context keys come back in their order, whatever order the hash returns its fields in', () => {
    const parts = splitSnapshot(snapshot, encodeJson);
    const reversed = Object.fromEntries(Object.entries(parts).reverse());
    expect(Object.keys((assemble(groupParts(reversed)) as { context: object }).context)).toEqual(Object.keys(snapshot.context));
  });

  it('a corrupt part names itself', () => {
    const parts = { ...splitSnapshot(snapshot, encodeJson), 'x::n': '{{' };
    expect(() => groupParts(parts)).toThrow(/snapshot is not valid JSON: its part "x::n"/);
  });
});

describe('notices and the mirror', () => {
  it('the head parses without the delta, and the notice is one JSON document', () => {
    const message = notice(8, { s: { 'x::n': 2 } });
    expect(() => JSON.parse(message)).not.toThrow();
    const n = parseNotice(message);
    expect(n.fields.seq).toBe(8);
    expect(n.base).toBe(7);
    expect(n.delta).toEqual({ s: { 'x::n': 2 }, x: [] });
  });

  it('applies deltas in order to the same view the stored state gives; a view keeps its own commit', () => {
    const m = new TaskMirror('t');
    m.load(hashAt(7, snapshot));
    const v8 = m.apply(parseNotice(notice(8, { s: { 'x::n': 2, 'a::items:1': ['b', 'c'] } })));
    const v9 = m.apply(parseNotice(notice(9, { x: ['n:a'], s: { 'n:': { s: { status: 'active', value: 'c', historyValue: {} }, x: 1 } } })));
    if (v8.kind !== 'view' || v9.kind !== 'view') throw new Error('not applied');
    expect(v8.view.context).toMatchObject({ n: 2, items: ['a', 'b', 'c'] });
    expect(Object.keys(v8.view.children)).toEqual(['a', 'odd/id:1']);
    expect(v9.view.value).toBe('c');
    expect(Object.keys(v9.view.children)).toEqual(['odd/id:1']);
    // Read after v9 was made: v8 still shows commit 8.
    expect(v8.view.value).toEqual({ steps: 'b' });
    const stored = { ...snapshot, value: 'c', context: { ...snapshot.context, n: 2, items: ['a', 'b', 'c'] }, children: { 'odd/id:1': snapshot.children['odd/id:1'] } };
    // The stored form of the same state: the array's base and its chunk, joined when read.
    const parts = { ...hashAt(9, stored), 'x::items': '["a"]', 'a::items:1': '["b","c"]' };
    expect(viewFromHash('t', parts)!.context).toEqual(stored.context);
    expect(JSON.parse(JSON.stringify(v9.view))).toEqual(JSON.parse(JSON.stringify({ ...viewFromHash('t', hashAt(9, stored))!, timers: [] })));
  });

  it('a notice that skips a seq is a gap; an old one is ignored; a quarantine notice (no parts) applies on its seq', () => {
    const m = new TaskMirror('t');
    m.load(hashAt(7, snapshot));
    expect(m.apply(parseNotice(notice(9, { s: { 'x::n': 3 } }))).kind).toBe('gap');
    expect(m.apply(parseNotice(notice(7, { s: { 'x::n': 3 } }))).kind).toBe('old');
    const q = m.apply(parseNotice(encodeNotice('t', { ...fields, status: 'quarantined', reason: 'bad part', base: 7 }, '[]')));
    if (q.kind !== 'view') throw new Error('not applied');
    expect(q.view.status).toBe('quarantined');
    expect(q.view.reason).toBe('bad part');
    expect(q.view.context).toMatchObject({ n: 1 });
  });

  it('an append to a key the reader holds no array for is a gap, not a wrong view', () => {
    const m = new TaskMirror('t');
    m.load(hashAt(7, snapshot));
    expect(m.apply(parseNotice(notice(8, { s: { 'a::n:1': [1] } }))).kind).toBe('gap');
  });

  it('applyDelta leaves the map it was given as it was', () => {
    const before = groupParts(splitSnapshot(snapshot, encodeJson));
    const copy = JSON.stringify([...before]);
    applyDelta(before, { s: { 'x::n': 5, 'a::items:1': ['z'] }, x: ['n:a'] });
    expect(JSON.stringify([...before])).toBe(copy);
  });

  it('a format-1 notice (whole snapshot) replaces the state', () => {
    const m = new TaskMirror('t');
    m.load(hashAt(7, snapshot));
    const legacy = JSON.stringify({ id: 't', ...fields, seq: 8, timers: [], snapshot: { ...snapshot, value: 'z' } });
    const step = m.apply(parseNotice(legacy));
    if (step.kind !== 'view') throw new Error('not applied');
    expect(step.view.value).toBe('z');
    expect(step.view.children.a).toMatchObject({ agent: 'research' });
  });

  it('fields set by a caller on a lazy view stay set', () => {
    const m = new TaskMirror('t');
    const v = m.load(hashAt(7, snapshot))!;
    v.context = { replaced: true };
    expect(v.context).toEqual({ replaced: true });
  });
});
