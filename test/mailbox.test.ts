// Invariant 2: no accepted event is lost, none is applied twice, and events
// are applied in mailbox order.
import { describe, expect, it } from 'vitest';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import type { BatonClient } from '../src/index.js';
import { counter } from './fixtures/machines.js';
import { uniquePrefix } from './helpers/index.js';
import { killAllRuntimeProcs, startRuntimeProc } from './helpers/runtime-proc.js';
import { useBaton } from './helpers/setup.js';

const LEASE_MS = 500;
const { runtime, client } = useBaton({ close: 'all', kill: killAllRuntimeProcs, runtime: { machines: { counter }, leaseMs: LEASE_MS } });

type Counter = { count: number; seen: string[] };

describe('mailbox', () => {
  it('events sent while no process runs the task are all applied once, in order, when a runtime starts', async () => {
    const prefix = uniquePrefix('mailbox-offline');
    const id = 'offline';
    const sender = client(prefix);

    // The task is created and committed by a process that then dies: no live holder.
    const proc = await startRuntimeProc({ prefix, leaseMs: LEASE_MS, spawn: { machine: 'counter', id } });
    await sender.waitFor(id, (v) => v.seq >= 1, { timeout: 10_000 });
    await proc.kill('SIGKILL');

    const sent = Array.from({ length: 20 }, (_, i) => String(i));
    const receipts = [];
    for (const n of sent) receipts.push(await sender.send(id, { type: 'inc', n }));
    expect(receipts.every((r) => !r.duplicate)).toBe(true);
    expect(new Set(receipts.map((r) => r.entryId)).size).toBe(20);
    // Nothing ran them yet: the committed state is the spawn's.
    const before = await sender.get(id);
    expect((before?.context as Counter).seen).toEqual([]);

    const rt = await runtime(prefix);
    const applied = await rt.waitFor(id, (v) => (v.context as Counter).seen.length >= 20, { timeout: 15_000 });
    expect(applied.context).toEqual({ count: 20, seen: sent });

    await sender.send(id, { type: 'finish' });
    const done = await rt.waitFor(id, (v) => v.status === 'done', { timeout: 10_000 });
    expect(done.output).toEqual({ count: 20 });

    // One commit per event, in mailbox order, seqs contiguous.
    const history = await rt.history(id);
    expect(history.map((h) => h.seq)).toEqual(Array.from({ length: history.length }, (_, i) => i + 1));
    expect(history.filter((h) => h.event.type === 'inc').map((h) => h.event.n)).toEqual(sent);
    expect(history.at(-1)?.event.type).toBe('finish');
  });

  it('a send from another process reaches the holder in its wake notice: no stream read, applied in order', async () => {
    const prefix = uniquePrefix('mailbox-notice');
    const rt = await runtime(prefix);
    const sender = client(prefix);
    const task = await rt.spawn('counter', { id: 'notice' });
    await task.waitFor((v) => v.seq >= 1, { timeout: 5000 });
    const store = rt.store;
    const read = store.readMailbox.bind(store);
    let reads = 0;
    store.readMailbox = async (...args: Parameters<typeof read>) => {
      reads++;
      return read(...args);
    };
    for (let i = 0; i < 20; i++) await sender.send('notice', { type: 'inc', n: String(i) });
    const v = await task.waitFor((v) => (v.context as Counter).count === 20, { timeout: 5000 });
    expect((v.context as Counter).seen).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    expect(reads).toBe(0);
  });

  it('a repeated idempotency key is applied once and its repeats say duplicate', async () => {
    const prefix = uniquePrefix('mailbox-idem');
    const rt = await runtime(prefix);
    const sender = client(prefix);
    const task = await rt.spawn('counter', { id: 'idem' });

    const first = await sender.send(task.id, { type: 'inc', n: 'a' }, { idempotencyKey: 'msg-1' });
    const again1 = await sender.send(task.id, { type: 'inc', n: 'a' }, { idempotencyKey: 'msg-1' });
    const again2 = await task.send({ type: 'inc', n: 'a' }, { idempotencyKey: 'msg-1' });
    const other = await sender.send(task.id, { type: 'inc', n: 'b' }, { idempotencyKey: 'msg-2' });

    expect(first.duplicate).toBe(false);
    expect(again1).toEqual({ entryId: first.entryId, duplicate: true });
    expect(again2).toEqual({ entryId: first.entryId, duplicate: true });
    expect(other.duplicate).toBe(false);
    expect(other.entryId).not.toBe(first.entryId);

    const v = await task.waitFor((x) => (x.context as Counter).seen.includes('b'), { timeout: 10_000 });
    expect(v.context).toEqual({ count: 2, seen: ['a', 'b'] });
    // Exactly two events were applied: the repeats wrote nothing to the mailbox.
    const history = await task.history();
    expect(history.filter((h) => h.event.type === 'inc')).toHaveLength(2);
  });

  it("concurrent senders (two clients and the runtime's own handle), each sequential: each sender's order is preserved", async () => {
    const prefix = uniquePrefix('mailbox-order');
    const rt = await runtime(prefix);
    const a = client(prefix);
    const b = client(prefix);
    const task = await rt.spawn('counter', { id: 'order' });

    const N = 100;
    const sendAll = async (c: BatonClient, tag: string) => {
      for (let i = 0; i < N; i++) await c.send(task.id, { type: 'inc', n: `${tag}${i}` });
    };
    // Each sender awaits its own sends; the three senders run at the same time.
    await Promise.all([sendAll(a, 'a'), sendAll(b, 'b'), (async () => {
      for (let i = 0; i < N; i++) await task.send({ type: 'inc', n: `r${i}` });
    })()]);

    const v = await task.waitFor((x) => (x.context as Counter).seen.length >= 3 * N, { timeout: 20_000 });
    const seen = (v.context as Counter).seen;
    expect(seen).toHaveLength(3 * N);
    expect(new Set(seen).size).toBe(3 * N);
    for (const tag of ['a', 'b', 'r']) {
      expect(seen.filter((s) => s.startsWith(tag))).toEqual(Array.from({ length: N }, (_, i) => `${tag}${i}`));
    }
    // The applied order is the mailbox order.
    const history = await task.history({ limit: 1000 });
    expect(history.filter((h) => h.event.type === 'inc').map((h) => h.event.n)).toEqual(seen);
  });

  it('sends racing passivation: with tasks passivated after 20 ms idle and bouncing between two runtimes, no event is stranded or doubled', async () => {
    const prefix = uniquePrefix('mailbox-passivation');
    const activations = new Map<string, number>();
    const countActivation = (ev: InspectionEvent) => {
      if (ev.type === '@xstate.actor' && !(ev.actorRef as { _parent?: unknown })._parent) {
        const id = (ev.actorRef as AnyActorRef).id;
        activations.set(id, (activations.get(id) ?? 0) + 1);
      }
    };
    for (let i = 0; i < 2; i++) {
      await runtime(prefix, { leaseMs: 1000, idleMs: 20, inspect: countActivation });
    }
    const sender = client(prefix);
    const ids = Array.from({ length: 8 }, (_, i) => `p${i}`);
    const N = 100;
    for (const id of ids) await sender.spawn('counter', { id });
    // Random gaps (0-40 ms) make sends land before, during and after passivations; they are
    // the workload, not a stand-in for waiting: completion is awaited on the committed state.
    await Promise.all(
      ids.map(async (id) => {
        for (let i = 0; i < N; i++) {
          await sender.send(id, { type: 'inc', n: String(i) });
          await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 40)));
        }
      }),
    );
    const expected = Array.from({ length: N }, (_, i) => String(i));
    for (const id of ids) {
      const v = await sender.waitFor(id, (x) => (x.context as Counter).seen.length >= N, { timeout: 20_000 });
      expect(v.context, id).toEqual({ count: N, seen: expected });
      const history = await sender.history(id, { limit: 1000 });
      expect(history.map((h) => h.seq), id).toEqual(Array.from({ length: history.length }, (_, i) => i + 1));
      expect(history.filter((h) => h.event.type === 'inc').map((h) => h.event.n), id).toEqual(expected);
    }
    // The race was real: tasks were passivated and re-activated many times.
    const total = [...activations.values()].reduce((a, b) => a + b, 0);
    expect(total, JSON.stringify(Object.fromEntries(activations))).toBeGreaterThan(ids.length * 5);
  });
});

