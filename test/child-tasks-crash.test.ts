// Child tasks and sends between tasks across a SIGKILL of the process that
// holds them: a fan-out of 100 child tasks over two worker processes loses
// nothing and runs each child to done once; a send whose sender dies right
// after the commit that decided it is delivered once, by the sender's next
// holder (it was committed with the step).
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { redisUrl, uniquePrefix, waitUntil } from './helpers/index.js';
import { killAllRuntimeProcs, startRuntimeProc } from './helpers/runtime-proc.js';
import { sendAcrossCrash } from './helpers/send-across-crash.js';
import { useBaton } from './helpers/setup.js';

const baton = useBaton({ kill: killAllRuntimeProcs });

describe('child tasks across a crash', () => {
  it('100 child tasks over two workers, one SIGKILLed mid-run: each child runs to done once, the parent gets all 100 outputs', async () => {
    const prefix = uniquePrefix('ctask-crash');
    const env = { FANOUT: '100', SQUARE_MS: '40', BATON_AGENT_LOCK_MS: '1000', BATON_ACTIVATION_CONCURRENCY: '1' };
    const [a, b] = await Promise.all([startRuntimeProc({ prefix, env }), startRuntimeProc({ prefix, env })]);
    const client = baton.client(prefix);
    await client.spawn('fanout', { id: 'big' });
    const doneKids = async () => (await client.list({ parent: 'big' })).filter((k) => k.status === 'done').length;
    // Both workers hold children (activations go to either), and the run is under way.
    await waitUntil(async () => a.held().some((id) => id.startsWith('big.')) && b.held().some((id) => id.startsWith('big.')) && (await doneKids()) >= 20, {
      timeout: 30_000,
      message: 'both workers running children, 20 done',
    });
    const before = await doneKids();
    expect(before).toBeLessThan(100);
    await a.kill('SIGKILL');

    const parent = await client.waitFor('big', (v) => v.status !== 'active', { timeout: 60_000 });
    expect(parent.status).toBe('done');
    const out = parent.output as { results: Record<string, { n: number; sq: number }>; errors: Record<string, unknown> };
    expect(out.errors).toEqual({});
    expect(Object.keys(out.results)).toHaveLength(100);
    for (let i = 0; i < 100; i++) expect(out.results[i]).toEqual({ n: i, sq: i * i });

    // Exactly 100 child tasks (a restore never created one twice), each done, each ended by one commit.
    const kids = await client.list({ parent: 'big' });
    expect(kids).toHaveLength(100);
    for (const k of kids) {
      expect(k.status).toBe('done');
      const h = await client.history(k.id);
      expect(h.filter((e) => e.to === 'done')).toHaveLength(1);
    }
    // The parent applied each child's outcome once.
    const ph = await client.history('big', { limit: 10_000 });
    expect(ph.filter((e) => e.event.type === 'baton.task.done')).toHaveLength(100);
  }, 120_000);

  it('child tasks whose spawn the parent committed but had not done when SIGKILLed are created by its next holder', async () => {
    const prefix = uniquePrefix('ctask-spawn-crash');
    const env = { FANOUT: '2', BATON_AGENT_LOCK_MS: '1000' };
    const client = baton.client(prefix);
    const redis = new Redis(redisUrl());
    baton.track(() => redis.quit());
    // Child t0's state key is taken by a value of another type: its spawn fails in Redis, and the parent's process retries it.
    const blocker = `${prefix}:task:{sp.1.t0}:state`;
    await redis.set(blocker, 'in the way');
    const first = await startRuntimeProc({ prefix, env });
    await client.spawn('fanout', { id: 'sp' });
    await client.waitFor('sp', (v) => v.seq >= 1, { timeout: 10_000 });
    // The parent's first commit holds both spawns; t1 was created, t0 not.
    const o = JSON.parse((await redis.hget(`${prefix}:task:{sp}:state`, 'o'))!) as { spawns: Array<{ taskId: string }> };
    expect(o.spawns.map((x) => x.taskId).sort()).toEqual(['sp.1.t0', 'sp.1.t1']);
    await first.waitForLine(/outbox dispatch failed, retrying/, 10_000);
    await first.kill('SIGKILL');
    expect((await client.list({ parent: 'sp' })).map((k) => k.id)).toEqual(['sp.1.t1']);

    await redis.del(blocker);
    await startRuntimeProc({ prefix, env });
    const done = await client.waitFor('sp', (v) => v.status !== 'active', { timeout: 20_000 });
    expect((done.output as { results: Record<string, unknown> }).results).toEqual({ 0: { n: 0, sq: 0 }, 1: { n: 1, sq: 1 } });
    expect((await client.list({ parent: 'sp' })).map((k) => k.id).sort()).toEqual(['sp.1.t0', 'sp.1.t1']);
  }, 60_000);

  it('a send whose sender is SIGKILLed right after the commit that decided it is delivered once, by the next holder', async () => {
    const prefix = uniquePrefix('ctask-send-crash');
    const redis = new Redis(redisUrl());
    baton.track(() => redis.quit());
    await sendAcrossCrash(prefix, baton.client(prefix), redis);
  }, 60_000);
});
