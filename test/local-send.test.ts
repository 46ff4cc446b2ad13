// Sends from the process that holds the task: the host applies the event and
// its commit appends it to the mailbox (one script instead of send + commit),
// after every entry already there. An entry from elsewhere that comes in
// between makes that commit write nothing (STALE): the task is restored at
// once and the event goes through the mailbox, applied once and in order. A
// commit whose outcome is unknown falls back with the same token: one append.
import { describe, expect, it } from 'vitest';
import { FencedError, type Runtime } from '../src/index.js';
import { Keys } from '../src/persistence/keys.js';
import type { CommitArgs } from '../src/persistence/task-store.js';
import { counter } from './fixtures/machines.js';
import { uniquePrefix, waitUntil } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

type Counted = { count: number; seen: string[] };
const { redis, runtime, client } = useBaton({ runtime: { machines: { counter }, leaseMs: 500 } });

/** Count the runtime's mailbox appends (the send script) and commits that append. */
function spy(rt: Runtime) {
  const store = rt.store;
  const counts = { sendScripts: 0, appendingCommits: 0 };
  const append = store.append.bind(store);
  store.append = async (...a: Parameters<typeof append>) => {
    counts.sendScripts++;
    return append(...a);
  };
  const commit = store.commit.bind(store);
  store.commit = async (id: string, c: CommitArgs) => {
    if (c.append) counts.appendingCommits++;
    return commit(id, c);
  };
  return counts;
}

describe('sends from the holding process', () => {
  it('are appended by the commit that applies them: one script per event, in order, entry ids increasing', async () => {
    const prefix = uniquePrefix('local-send');
    const rt = await runtime(prefix);
    const task = await rt.spawn('counter', { id: 'ls-1' });
    await task.waitFor((v) => v.seq >= 1, { timeout: 5000 });
    const counts = spy(rt);
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) ids.push((await task.send({ type: 'inc', n: String(i) })).entryId);
    expect(counts).toEqual({ sendScripts: 0, appendingCommits: 50 });
    const v = await task.get();
    expect((v!.context as Counted).seen).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
    expect(v!.seq).toBe(51);
    expect(new Set(ids).size).toBe(50);
    for (let i = 1; i < ids.length; i++) {
      const [am, as] = ids[i - 1]!.split('-').map(Number);
      const [bm, bs] = ids[i]!.split('-').map(Number);
      expect(bm! > am! || (bm === am && bs! > as!), `${ids[i - 1]} < ${ids[i]}`).toBe(true);
    }
    const k = new Keys(prefix).task('ls-1');
    expect(await redis.hmget(k.state, 'cursor', 'last')).toEqual([ids[49], ids[49]]);
    // The mailbox holds them as a send would have (applied entries are trimmed approximately).
    const h = await task.history({ limit: 100 });
    expect(h.filter((e) => e.event.type === 'inc').map((e) => e.event.n)).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
  });

  it('an entry from another process in between: nothing written, the task is restored at once, both applied once in mailbox order', async () => {
    const prefix = uniquePrefix('local-send-stale');
    const logs: string[] = [];
    const rt = await runtime(prefix, { log: (m) => logs.push(m) });
    const other = client(prefix);
    const task = await rt.spawn('counter', { id: 'ls-2' });
    await task.waitFor((v) => v.seq >= 1, { timeout: 5000 });
    // Just before the first commit that appends a local event, another process's send lands.
    const store = rt.store;
    const commit = store.commit.bind(store);
    let injected = false;
    store.commit = async (id: string, c: CommitArgs) => {
      if (c.append && !injected) {
        injected = true;
        await other.send('ls-2', { type: 'inc', n: 'remote' });
      }
      return commit(id, c);
    };
    const receipt = await task.send({ type: 'inc', n: 'local' });
    expect(injected).toBe(true);
    const v = await task.waitFor((v) => (v.context as Counted).count === 2, { timeout: 5000 });
    expect((v.context as Counted).seen).toEqual(['remote', 'local']);
    expect(logs).toContain('the mailbox is not as this process saw it; restoring the task from its last commit');
    // Restored here at once (not after the lease), and still taking sends.
    await waitUntil(() => rt.hosts.has('ls-2'), { timeout: 2000, message: 'the task to be restored here' });
    await task.send({ type: 'inc', n: 'after' });
    const after = await task.waitFor((v) => (v.context as Counted).count === 3, { timeout: 5000 });
    expect((after.context as Counted).seen).toEqual(['remote', 'local', 'after']);
    expect(receipt.duplicate).toBe(false);
    const h = await task.history({ limit: 100 });
    expect(h.filter((e) => e.event.type === 'inc').map((e) => e.event.n)).toEqual(['remote', 'local', 'after']);
  });

  it('a commit that landed but reported failure: the fallback send with the same token appends nothing, applied once', async () => {
    const prefix = uniquePrefix('local-send-ambiguous');
    const rt = await runtime(prefix);
    const task = await rt.spawn('counter', { id: 'ls-3' });
    await task.waitFor((v) => v.seq >= 1, { timeout: 5000 });
    const store = rt.store;
    const commit = store.commit.bind(store);
    let faked = false;
    store.commit = async (id: string, c: CommitArgs) => {
      await commit(id, c);
      if (c.append && !faked) {
        faked = true; // as if the reply was lost and the resend found the lease taken
        throw new FencedError(id);
      }
    };
    await task.send({ type: 'inc', n: 'once' });
    expect(faked).toBe(true);
    // The fenced host let the task go; the lease lapses and the task comes back with the event applied once.
    await task.send({ type: 'inc', n: 'next' });
    const v = await task.waitFor((v) => (v.context as Counted).count >= 2, { timeout: 10_000 });
    expect((v.context as Counted).seen).toEqual(['once', 'next']);
    const h = await task.history({ limit: 100 });
    expect(h.filter((e) => e.event.type === 'inc').map((e) => e.event.n)).toEqual(['once', 'next']);
  });

  it('local and remote senders at once, each sequential: every event applied once, each sender in order', async () => {
    const prefix = uniquePrefix('local-send-mixed');
    const logs: string[] = [];
    const rt = await runtime(prefix, { log: (m) => logs.push(m) });
    const others = [client(prefix), client(prefix)];
    const task = await rt.spawn('counter', { id: 'ls-4' });
    await task.waitFor((v) => v.seq >= 1, { timeout: 5000 });
    const N = 150;
    const senders = [
      (i: number) => task.send({ type: 'inc', n: `L${i}` }),
      (i: number) => others[0]!.send('ls-4', { type: 'inc', n: `A${i}` }),
      (i: number) => others[1]!.send('ls-4', { type: 'inc', n: `B${i}` }),
    ];
    await Promise.all(senders.map(async (send) => {
      for (let i = 0; i < N; i++) await send(i);
    }));
    const v = await task.waitFor((v) => (v.context as Counted).count >= 3 * N, { timeout: 20_000 });
    const seen = (v.context as Counted).seen;
    expect(seen).toHaveLength(3 * N);
    for (const p of ['L', 'A', 'B']) {
      expect(seen.filter((s) => s.startsWith(p))).toEqual(Array.from({ length: N }, (_, i) => `${p}${i}`));
    }
    const h = await task.history({ limit: 1000 });
    expect(h.filter((e) => e.event.type === 'inc').map((e) => e.event.n)).toEqual(seen);
    console.log(`mixed senders: ${logs.filter((l) => l.startsWith('the mailbox is not as this process saw it')).length} local commits met a remote entry and fell back`);
  });
});
