// One shape for every listener: subscribe and onProgress return a
// Subscription at once (callable, `unsubscribe()`, `ready`), like XState's
// actor.subscribe; watch's store stops with `unsubscribe()` too.
import { describe, expect, it } from 'vitest';
import { counter } from './fixtures/machines.js';
import { uniquePrefix, waitUntil } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

const baton = useBaton();

describe('listening', () => {
  it('subscribe: live once `ready` resolves, silent once unsubscribed; unsubscribed before ready, it never hears anything', async () => {
    const prefix = uniquePrefix('listen');
    const rt = await baton.runtime(prefix, { machines: { counter } });
    const client = baton.client(prefix);
    await rt.spawn('counter', { id: 'l' });
    const heard: number[] = [];
    const early: number[] = [];
    const sub = client.subscribe('l', (v) => heard.push(v.seq));
    const cancelled = client.subscribe('l', (v) => early.push(v.seq));
    cancelled.unsubscribe();
    await sub.ready;
    await cancelled.ready;
    await rt.send('l', { type: 'inc', n: 'a' });
    await waitUntil(() => heard.length === 1, { timeout: 5000, message: 'the first notice' });
    sub(); // calling it is unsubscribing
    const watch = await client.watch('l');
    await rt.send('l', { type: 'inc', n: 'b' });
    await waitUntil(() => watch.getSnapshot().context.view?.seq === 3, { timeout: 5000, message: 'the watch to see commit 3' });
    watch.unsubscribe();
    await rt.send('l', { type: 'inc', n: 'c' });
    // The watch and the runtime's own view agree on commit 4 only through Redis: the store stopped at 3.
    await rt.waitFor('l', (v) => v.seq === 4);
    expect(watch.getSnapshot().context.view?.seq).toBe(3);
    expect(heard).toEqual([2]);
    expect(early).toEqual([]);
  });

  it('a subscription to a Redis that cannot be reached rejects its `ready` with REDIS_UNREACHABLE', async () => {
    const client = baton.client(uniquePrefix('listen-down'), { connection: 'redis://127.0.0.1:1', connectTimeoutMs: 300 });
    const sub = client.subscribe('x', () => undefined);
    await expect(sub.ready).rejects.toMatchObject({ code: 'REDIS_UNREACHABLE' });
    const progress = client.onProgress('x', () => undefined);
    await expect(progress.ready).rejects.toMatchObject({ code: 'REDIS_UNREACHABLE' });
  });
});
