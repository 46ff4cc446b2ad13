// A holder whose memory is ahead of Redis. After a failover, the holder can
// have read entries (from wake notices) that the old master acknowledged and
// never passed on to the replica now serving. A commit that consumes such an
// entry is refused (the entry is not in the mailbox): nothing is written,
// the task is restored from its last commit, and the event is applied once,
// when its sender resends it. Here the lost entry is a notice published by
// hand, which is what the holder sees of such an entry.
import { describe, expect, it } from 'vitest';
import { Keys } from '../src/persistence/keys.js';
import { counter } from './fixtures/machines.js';
import { uniquePrefix, waitUntil } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

const { redis, runtime, client } = useBaton();
const RESTORING = 'the mailbox is not as this process saw it; restoring the task from its last commit';

describe('a holder that read an entry Redis does not have', () => {
  it('commits nothing of it: the task is restored from its last commit and the event is applied once, when resent', async () => {
    const prefix = uniquePrefix('gone-entry');
    const logs: Array<{ msg: string; error?: unknown }> = [];
    const rt = await runtime(prefix, { machines: { counter }, leaseMs: 2000, log: (msg, extra) => logs.push({ msg, error: extra?.error }) });
    const task = await rt.spawn('counter', { id: 'g1' });
    const sender = client(prefix, { machines: { counter } });
    await sender.send('g1', { type: 'inc', n: 'a' });
    await task.waitFor((v) => v.seq === 2, { timeout: 5000 });

    const k = new Keys(prefix).task('g1');
    const [last, seqBefore] = await redis.hmget(k.state, 'last', 'seq');
    const holder = await redis.get(k.lease);
    expect(holder).toBeTruthy();
    // The notice of an entry that follows the last one the holder knows, which the mailbox does not hold.
    const ghost = `${Number(last!.split('-')[0]) + 1}-0`;
    await redis.publish(new Keys(prefix).ownerChannel(holder!), `g1\n${ghost}\n${last}\n${JSON.stringify({ type: 'inc', n: 'ghost' })}`);
    const refused = await waitUntil(() => logs.find((l) => l.msg === RESTORING), { timeout: 5000, message: 'the commit of the lost entry is refused' });
    expect(String(refused.error)).toMatch(/mailbox entry this commit consumes is not in Redis/);
    // Nothing of it was written: the committed seq and cursor are as they were.
    expect(await redis.hmget(k.state, 'seq', 'cursor')).toEqual([seqBefore, last]);

    // The sender resends (its send was not acknowledged in a failover like that), then the task goes on.
    await sender.send('g1', { type: 'inc', n: 'ghost' }, { idempotencyKey: 'g1-ghost' });
    await sender.send('g1', { type: 'finish' });
    const v = await task.waitFor((x) => x.status === 'done', { timeout: 10_000 });
    expect((v.context as { seen: string[] }).seen).toEqual(['a', 'ghost']);
  });
});
