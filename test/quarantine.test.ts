// Invariant 5 (restore half): a corrupt or incompatible persisted snapshot
// quarantines that task with a readable reason; it never takes the worker
// down. And a registered migrate() upgrades an older snapshot on restore.
import { readStoredParts, readStoredSnapshot, writeStoredSnapshot } from './helpers/stored.js';
import { describe, expect, it } from 'vitest';
import { createRuntime, defineTask, type TaskView } from '../src/index.js';
import { Keys } from '../src/persistence/keys.js';
import { counterV2 } from './fixtures/durable.js';
import { counter } from './fixtures/machines.js';
import { redisUrl, uniquePrefix, waitUntil } from './helpers/index.js';
import { killAllRuntimeProcs, startRuntimeProc } from './helpers/runtime-proc.js';
import { useBaton } from './helpers/setup.js';

const baton = useBaton({ close: 'all', kill: killAllRuntimeProcs, runtime: { machines: { counter }, leaseMs: 500 } });
const { redis } = baton;

type Counter = { count: number; seen: string[] };

describe('quarantine', () => {
  it('a corrupt or incompatible snapshot quarantines its task with a reason; the runtime process keeps working', async () => {
    const prefix = uniquePrefix('quarantine');
    const keys = new Keys(prefix);
    const client = baton.client(prefix);

    // Healthy tasks with one committed event each; then their runtime passivates them (no holder).
    const ids = ['q-garbage', 'q-state', 'q-version', 'q-shape', 'q-timers', 'healthy'];
    const a = await createRuntime({ connection: redisUrl(), prefix, machines: { counter }, leaseMs: 500 });
    for (const id of ids) {
      const t = await a.spawn('counter', { id });
      await t.send({ type: 'inc', n: 'before' });
      await t.waitFor((v) => (v.context as Counter).count === 1);
    }
    await a.close();
    for (const id of ids) expect(await redis.exists(keys.task(id).lease), id).toBe(0);

    // Corrupt them by hand.
    const state = (id: string) => keys.task(id).state;
    const good = (await readStoredSnapshot(redis, state('q-state')))!;
    await writeStoredSnapshot(redis, state('q-garbage'), 'garbage{{{');
    await writeStoredSnapshot(redis, state('q-state'), { ...good, value: 'vanished' });
    await redis.hset(state('q-version'), 'version', '99');
    await writeStoredSnapshot(redis, state('q-shape'), { hello: 'world' });
    await redis.hset(state('q-timers'), 'timers', 'not a timer table');
    const corrupt = ids.filter((id) => id !== 'healthy');
    const stored = Object.fromEntries(await Promise.all(corrupt.map(async (id) => [id, await readStoredParts(redis!, state(id))] as const)));

    // A runtime in its own process; waking each corrupt task makes it try to restore it.
    const b = await startRuntimeProc({ prefix, leaseMs: 500 });
    for (const id of corrupt) await client.send(id, { type: 'inc', n: 'after' });

    const reasons: Record<string, RegExp> = {
      'q-garbage': /snapshot is not valid JSON/,
      'q-state': /does not restore on the current machine: State 'vanished' does not exist/,
      'q-version': /version 99 .*newer than this process's version 1/,
      'q-shape': /lacks XState status\/value/,
      // (Readable, though it does not say that the timer table is what failed to parse.)
      'q-timers': /is not valid JSON/,
    };
    for (const id of corrupt) {
      await client.waitFor(id, (x) => x.status !== 'active', { timeout: 10_000 });
      // (The committed view; the live notice's view lacks the reason: see the it.fails test below.)
      const v = await client.get(id);
      expect(v?.status, id).toBe('quarantined');
      expect(v?.reason, id).toMatch(reasons[id]!);
      // Kept for inspection: the snapshot as it was, and the event that woke it.
      expect(await readStoredParts(redis, state(id)), id).toEqual(stored[id]);
      const mailbox = await redis.xrange(keys.task(id).mailbox, '-', '+');
      expect(mailbox.map(([, f]) => f[1]), id).toContain(JSON.stringify({ type: 'inc', n: 'after' }));
      // A quarantined task takes no more events.
      await expect(client.send(id, { type: 'inc' }), id).rejects.toMatchObject({ code: 'TASK_NOT_RUNNING' });
      expect(b.logs().some((l) => l.log === 'task quarantined' && l.taskId === id), id).toBe(true);
    }

    // The same process keeps running other tasks: an old one and a new one.
    await client.send('healthy', { type: 'inc', n: 'after' });
    await client.send('healthy', { type: 'finish' });
    const healthy = await client.waitFor('healthy', (v) => v.status !== 'active', { timeout: 10_000 });
    expect(healthy.status).toBe('done');
    expect(healthy.context).toEqual({ count: 2, seen: ['before', 'after'] });
    const fresh = await client.spawn('counter', { id: 'fresh' });
    await fresh.send({ type: 'inc', n: '1' });
    await fresh.send({ type: 'finish' });
    expect((await fresh.waitFor((v) => v.status !== 'active', { timeout: 10_000 })).status).toBe('done');
    expect(b.held()).toEqual(expect.arrayContaining(['healthy', 'fresh']));
    expect(b.proc.exitCode).toBeNull();
    expect(b.proc.signalCode).toBeNull();
  });

  // BUG (src/runtime/task-host.ts, TaskHost.quarantine): the change notice is built without the
  // reason (and with a 'null' snapshot), so waitFor/subscribe/watch see status 'quarantined' with
  // no reason (and no value/context), while get() (the state hash) has both.
  it('the live view (waitFor / subscribe) of a quarantined task carries its reason', async () => {
    const prefix = uniquePrefix('quarantine-notice');
    const keys = new Keys(prefix);
    const a = await createRuntime({ connection: redisUrl(), prefix, machines: { counter }, leaseMs: 500 });
    await a.spawn('counter', { id: 'q' });
    await a.close();
    await writeStoredSnapshot(redis, keys.task('q').state, 'garbage{{{');
    const b = await baton.runtime(prefix);
    const notices: TaskView[] = [];
    const off = await b.subscribeReady('q', (v) => notices.push(v));
    await b.send('q', { type: 'inc' });
    const notice = await waitUntil(() => notices.find((v) => v.status === 'quarantined'), { timeout: 10_000 });
    off();
    expect((await b.get('q'))?.reason).toMatch(/snapshot is not valid JSON/);
    expect(notice.reason).toMatch(/snapshot is not valid JSON/);
  });

  it('a version-2 machine restores a version-1 snapshot through migrate()', async () => {
    const prefix = uniquePrefix('migrate');
    const v1 = await createRuntime({ connection: redisUrl(), prefix, machines: { versioned: counter }, leaseMs: 500 });
    const t = await v1.spawn('versioned', { id: 'm1' });
    await t.send({ type: 'inc', n: 'a' });
    await t.send({ type: 'inc', n: 'b' });
    const old = await t.waitFor((v) => (v.context as Counter).count === 2);
    expect(old.version).toBe(1);
    await v1.close();

    const calls: Array<{ from: number; context: unknown }> = [];
    const versioned = defineTask(counterV2, {
      version: 2,
      migrate: (snapshot, from) => {
        calls.push({ from, context: snapshot.context });
        const ctx = snapshot.context as Counter;
        return { ...snapshot, context: { ...ctx, label: `from-v${from}:${ctx.count}` } };
      },
    });
    const v2 = await baton.runtime(prefix, { machines: { versioned } });
    await v2.send('m1', { type: 'inc', n: 'c' });
    const upgraded = await v2.waitFor('m1', (v) => (v.context as Counter).count === 3, { timeout: 10_000 });
    expect(calls).toEqual([{ from: 1, context: { count: 2, seen: ['a', 'b'] } }]);
    expect(upgraded.status).toBe('active');
    expect(upgraded.version).toBe(2);
    expect(upgraded.context).toEqual({ count: 3, seen: ['a', 'b', 'c'], label: 'from-v1:2' });

    // The version-2 machine's own event works on the migrated context.
    await v2.send('m1', { type: 'label', label: 'renamed' });
    await v2.send('m1', { type: 'finish' });
    const done = await v2.waitFor('m1', (v) => v.status === 'done', { timeout: 10_000 });
    expect(done.output).toEqual({ count: 3, label: 'renamed' });
    expect(calls).toHaveLength(1);
  });
});
