// Invariant 3: one writer per task. A writer that lost its lease cannot commit.
import { Redis } from 'ioredis';
import { historyLength, readStoredSnapshot } from './helpers/stored.js';
import { describe, expect, it } from 'vitest';
import { Keys } from '../src/persistence/keys.js';
import { defineScripts } from '../src/persistence/scripts.js';
import { TaskStore, type CommitArgs } from '../src/persistence/task-store.js';
import { slowTimer } from './fixtures/durable.js';
import { redisUrl, uniquePrefix, waitUntil } from './helpers/index.js';
import { killAllRuntimeProcs, startRuntimeProc } from './helpers/runtime-proc.js';
import { useBaton } from './helpers/setup.js';

const baton = useBaton({ close: 'all', kill: killAllRuntimeProcs });

function connect(): Redis {
  const c = new Redis(redisUrl());
  defineScripts(c);
  baton.closers.push(async () => c.disconnect());
  return c;
}

function commitArgs(epoch: number, seq: number, owner: string, marker: string): CommitArgs {
  return {
    epoch,
    seq,
    cursor: '0-0',
    parts: { set: ['n:', JSON.stringify({ s: { status: 'active', value: marker }, k: [] })], del: [] },
    timers: '[]',
    status: 'active',
    now: Date.now(),
    event: JSON.stringify({ type: marker }),
    from: '"a"',
    to: JSON.stringify(marker),
    notice: '{}',
    owner,
    leaseMs: 5000,
    historyLimit: 100,
    version: 1,
  };
}

describe('fencing', () => {
  it('a commit with a superseded epoch throws FENCED and writes nothing', async () => {
    const prefix = uniquePrefix('fence-unit');
    const redis = connect();
    const keys = new Keys(prefix);
    const store = new TaskStore(redis, keys);
    const k = keys.task('t1');

    // Writer A creates the task holding its lease, and commits once.
    const epochA = await store.spawn('t1', { machine: 'm', version: 1, input: 'null', now: Date.now(), owner: 'A', leaseMs: 5000 });
    await store.commit('t1', commitArgs(epochA, 1, 'A', 'byA'));

    // While A's lease is live, B cannot take the task.
    const refused = await store.acquire('t1', 'B', 5000);
    expect(refused).toEqual({ ok: false, reason: 'held', detail: 'A' });

    // A's lease expires (simulated), and B takes the task over: a new epoch.
    await redis.del(k.lease);
    const taken = await store.acquire('t1', 'B', 5000);
    if (!taken.ok) throw new Error(`B could not acquire: ${taken.reason}`);
    expect(taken.epoch).toBeGreaterThan(epochA);

    const before = await redis.hgetall(k.state);
    const historyBefore = await historyLength(redis, k.history);
    const err = await store.commit('t1', commitArgs(epochA, 2, 'A', 'lateA')).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('FENCED');
    expect(await redis.hgetall(k.state)).toEqual(before);
    expect(before.seq).toBe('1');
    expect(await historyLength(redis, k.history)).toBe(historyBefore);
    expect(await redis.get(k.lease)).toBe('B');

    // The same commit with the current epoch goes through: the fence is the epoch, nothing else.
    await store.commit('t1', commitArgs(taken.epoch, 2, 'B', 'byB'));
    expect(await redis.hget(k.state, 'seq')).toBe('2');
    expect(await historyLength(redis, k.history)).toBe(historyBefore + 1);

    // A's release and quarantine are fenced too.
    await expect(store.release('t1', epochA, 'A')).rejects.toMatchObject({ code: 'FENCED' });
    await expect(store.quarantine('t1', { epoch: epochA, reason: 'x', now: Date.now(), owner: 'A', notice: '{}' })).rejects.toMatchObject({
      code: 'FENCED',
    });
    expect(await redis.hget(k.state, 'status')).toBe('active');
    expect(await redis.get(k.lease)).toBe('B');
  });

  it('a paused holder (SIGSTOP) is taken over, and after SIGCONT its timer transition is fenced, not committed', async () => {
    const prefix = uniquePrefix('fence-proc');
    const id = 'paused';
    const redis = connect();
    const keys = new Keys(prefix);

    // The child holds a task whose `after` timer (1.5 s) is pending.
    const child = await startRuntimeProc({ prefix, leaseMs: 500, spawn: { machine: 'slowTimer', id } });
    await waitUntil(async () => (await redis.hget(keys.task(id).state, 'seq')) === '1', { timeout: 5000, message: 'spawn commit' });
    process.kill(child.pid, 'SIGSTOP');
    const stoppedAt = Date.now();
    const h0 = await redis.hgetall(keys.task(id).state);
    expect(h0.status).toBe('active');
    expect((await readStoredSnapshot(redis, keys.task(id).state))?.value).toBe('waiting');
    const deadline = (JSON.parse(h0.timers!) as Array<{ dueAt: number }>)[0]!.dueAt;
    // The child was stopped before its timer could fire (otherwise this test proves nothing).
    expect(stoppedAt).toBeLessThan(deadline);

    // Another runtime takes over once the paused child's lease expires, and commits the timer's transition.
    const rt = await baton.runtime(prefix, { machines: { slowTimer }, leaseMs: 500, owner: 'taker' });
    const done = await rt.waitFor(id, (v) => v.status === 'done', { timeout: 10_000 });
    expect(done.value).toBe('fired');
    const committed = await redis.hgetall(keys.task(id).state);

    // Wake the child. On resuming, its overdue timers run together: the lease renewal (which finds
    // the lease gone) and XState's timer, whose transition the child may try to commit with its old
    // epoch. Whichever comes first, the child must not commit: either its commit is refused by the
    // epoch fence ('fenced') or it notices the lost lease first and drops the actor ('lease lost').
    const mark = child.lines.length;
    process.kill(child.pid, 'SIGCONT');
    const noticed = await child.waitForJson(
      (o) => (o.log === 'fenced: another process took the task over; dropping it' || o.log === 'lease lost; dropping the task') && o.taskId === id,
      10_000,
      mark,
    );
    expect(['fenced: another process took the task over; dropping it', 'lease lost; dropping the task']).toContain(noticed.log);

    expect(await redis.hgetall(keys.task(id).state)).toEqual(committed);
    const history = await rt.history(id);
    expect(history.map((h) => h.seq)).toEqual(Array.from({ length: history.length }, (_, i) => i + 1));
    expect(history.filter((h) => h.to === 'fired')).toHaveLength(1);
    expect(history.filter((h) => h.from === 'waiting' && h.to === 'fired')).toHaveLength(1);
    // The child is alive and well, just no longer holding the task.
    expect(child.proc.exitCode).toBeNull();
  });
});
