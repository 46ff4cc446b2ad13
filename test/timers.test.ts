// Invariant 4: timers survive. `after` transitions fire at their original
// wall-clock deadline after a restore, and a passivated task is woken for them.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { createRuntime, ManualClock } from '../src/index.js';
import { Keys } from '../src/persistence/keys.js';
import { lateTimer, longTimer, slowTimer } from './fixtures/durable.js';
import { redisUrl, uniquePrefix, waitUntil } from './helpers/index.js';
import { killAllRuntimeProcs, startRuntimeProc } from './helpers/runtime-proc.js';
import { useBaton } from './helpers/setup.js';

const baton = useBaton({ close: 'all', kill: killAllRuntimeProcs });

/** Node may run a timer a millisecond before Date.now() reaches its deadline. */
const CLOCK_SLACK_MS = 2;

describe('timers', () => {
  it('an `after` timer pending at a crash fires once, at its original deadline, in the process that took over', async () => {
    const prefix = uniquePrefix('timers-crash');
    const id = 'late';
    const client = baton.client(prefix);

    const proc = await startRuntimeProc({ prefix, leaseMs: 500, spawn: { machine: 'lateTimer', id } });
    const spawned = await client.waitFor(id, (v) => v.seq >= 1 && v.timers.length === 1, { timeout: 10_000 });
    const deadline = spawned.timers[0]!.dueAt;
    expect(spawned.value).toBe('waiting');
    expect(deadline).toBeGreaterThanOrEqual(spawned.createdAt + 3000);
    expect(deadline).toBeLessThan(spawned.createdAt + 3000 + 1000);
    await proc.kill('SIGKILL');
    expect(Date.now()).toBeLessThan(deadline);

    let restoredAt: number | undefined;
    const rt = await baton.runtime(prefix, {
      machines: { lateTimer },
      leaseMs: 500,
      inspect: (ev: InspectionEvent) => {
        if (ev.type === '@xstate.actor' && (ev.actorRef as AnyActorRef).id === id) restoredAt ??= Date.now();
      },
    });
    const fired = await rt.waitFor(id, (v) => v.value !== 'waiting', { timeout: 10_000 });
    expect(fired.value).toBe('late');
    // The takeover came before the deadline: the re-armed timer waited for it rather than firing at once.
    expect(restoredAt).toBeDefined();
    expect(restoredAt!).toBeLessThan(deadline);

    const history = await rt.history(id);
    const toLate = history.filter((h) => h.to === 'late');
    expect(toLate).toHaveLength(1);
    expect(toLate[0]!.from).toBe('waiting');
    expect(toLate[0]!.at).toBeGreaterThanOrEqual(deadline - CLOCK_SLACK_MS);
    expect(toLate[0]!.at).toBeLessThan(deadline + 1500);
    expect(history.map((h) => h.seq)).toEqual(Array.from({ length: history.length }, (_, i) => i + 1));
    expect(fired.timers).toEqual([]);

    // And the task carries on normally.
    await rt.send(id, { type: 'finish' });
    expect((await rt.waitFor(id, (v) => v.status !== 'active', { timeout: 5000 })).status).toBe('done');
  });

  it('with a ManualClock: a passivated task stays due at its deadline and another runtime fires it when the clock gets there', async () => {
    const prefix = uniquePrefix('timers-manual');
    const id = 'long';
    const start = Date.now();
    const clock = new ManualClock(start);
    const twoDays = 2 * 24 * 3600_000;

    const first = await createRuntime({ connection: redisUrl(), prefix, machines: { longTimer }, clock, leaseMs: 500 });
    const task = await first.spawn('longTimer', { id });
    const spawned = await task.waitFor((v) => v.seq >= 1 && v.timers.length === 1, { timeout: 5000 });
    expect(spawned.timers[0]!.dueAt).toBe(start + twoDays);
    // Passivate: the lease is released and the task stays due at its deadline.
    await first.close();
    expect(first.heldCount).toBe(0);
    const redis = new Redis(redisUrl());
    try {
      expect(await redis.exists(new Keys(prefix).task(id).lease)).toBe(0);
      expect(Number(await redis.zscore(new Keys(prefix).due, id))).toBe(start + twoDays);
    } finally {
      redis.disconnect();
    }

    const second = await baton.runtime(prefix, { machines: { longTimer }, clock, leaseMs: 500 });
    const client = baton.client(prefix);
    // Past the deadline, the transition commits (the sweeper runs on real time and reads the clock).
    clock.advance(twoDays + 1);
    const done = await client.waitFor(id, (v) => v.status !== 'active', { timeout: 10_000 });
    expect(done.value).toBe('elapsed');
    const history = await client.history(id);
    const fired = history.filter((h) => h.to === 'elapsed');
    expect(fired).toHaveLength(1);
    expect(fired[0]!.at).toBeGreaterThanOrEqual(start + twoDays);
    expect(history.map((h) => h.seq)).toEqual(Array.from({ length: history.length }, (_, i) => i + 1));
    await waitUntil(() => second.heldCount === 0, { timeout: 5000, message: 'the finished task to be let go' });
  });

  it('an idle task passivated with a pending timer is woken for it at its deadline', async () => {
    const prefix = uniquePrefix('timers-passivated');
    const id = 'idle';
    const redis = new Redis(redisUrl());
    try {
      const rt = await baton.runtime(prefix, { machines: { slowTimer }, leaseMs: 1000, idleMs: 100 });
      const task = await rt.spawn('slowTimer', { id });
      const spawned = await task.waitFor((v) => v.seq >= 1 && v.timers.length === 1, { timeout: 5000 });
      const deadline = spawned.timers[0]!.dueAt;
      // Passivated well before its deadline: no actor in memory, no lease, due at the deadline.
      const keys = new Keys(prefix);
      await waitUntil(async () => rt.heldCount === 0 && (await redis.exists(keys.task(id).lease)) === 0, {
        timeout: 5000,
        message: 'passivation',
      });
      expect(Date.now()).toBeLessThan(deadline);
      expect(Number(await redis.zscore(keys.due, id))).toBe(deadline);

      const done = await task.waitFor((v) => v.status !== 'active', { timeout: 10_000 });
      expect(done.value).toBe('fired');
      const fired = (await task.history()).filter((h) => h.to === 'fired');
      expect(fired).toHaveLength(1);
      expect(fired[0]!.at).toBeGreaterThanOrEqual(deadline - CLOCK_SLACK_MS);
      expect(fired[0]!.at).toBeLessThan(deadline + 1000);
    } finally {
      redis.disconnect();
    }
  });
});

