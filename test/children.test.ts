// Child actors are part of the task: a child's own transition (the parent's
// state unchanged) is committed, survives a crash, and its timers too.
import { describe, expect, it } from 'vitest';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { createClient, createRuntime, type MachineEntry, type Runtime } from '../src/index.js';
import { slowParent } from './fixtures/durable.js';
import { parent } from './fixtures/machines.js';
import { redisUrl, uniquePrefix, waitUntil } from './helpers/index.js';
import { killAllRuntimeProcs, startRuntimeProc } from './helpers/runtime-proc.js';
import { useBaton } from './helpers/setup.js';

const baton = useBaton({ close: 'all', kill: killAllRuntimeProcs });

/** A runtime in this process that records the task's `kid` actor and the kid's transitions. */
async function takeoverRuntime(prefix: string, machines: Record<string, MachineEntry>) {
  const kid: { ref?: AnyActorRef; values: unknown[] } = { values: [] };
  const rt = await baton.runtime(prefix, {
    machines,
    leaseMs: 500,
    inspect: (ev: InspectionEvent) => {
      if ((ev.actorRef as AnyActorRef).id !== 'kid') return;
      if (ev.type === '@xstate.actor') kid.ref = ev.actorRef as AnyActorRef;
      if (ev.type === '@xstate.snapshot') kid.values.push((ev.snapshot as { value?: unknown }).value);
    },
  });
  return { rt, kid };
}

describe('child actors', () => {
  it("a child-only transition is committed, and the task restored elsewhere has the child's changed state", async () => {
    const prefix = uniquePrefix('children');
    const id = 'par';
    const client = baton.client(prefix);
    const proc = await startRuntimeProc({ prefix, leaseMs: 500, spawn: { machine: 'parent', id } });
    await client.waitFor(id, (v) => v.seq >= 1, { timeout: 10_000 });

    // `kid.go` moves the kid to `working`; its own `after` (200 ms) then moves it to `rested`.
    await client.send(id, { type: 'kid.go' });
    const rested = await client.waitFor(id, (v) => v.children.kid?.value === 'rested', { timeout: 10_000 });
    await proc.kill('SIGKILL');
    expect(rested.value).toBe('running');
    const history = await client.history(id);
    // The kid's timer transition has a commit of its own, in which the parent's state did not change.
    const last = history.at(-1)!;
    expect(last.seq).toBe(rested.seq);
    expect(last.event.type).not.toBe('kid.go');
    expect([last.from, last.to]).toEqual(['running', 'running']);
    expect(history.filter((h) => h.event.type === 'kid.go')).toHaveLength(1);
    expect(rested.timers).toEqual([]);

    // Another process restores the task once the dead holder's lease expires.
    const { rt, kid } = await takeoverRuntime(prefix, { parent });
    await waitUntil(() => kid.ref && rt.heldCount === 1, { timeout: 10_000, message: 'the takeover to restore the task' });
    expect(kid.ref!.getSnapshot().value).toBe('rested');
    expect(kid.values).not.toContain('working');

    // The restored actor's next commit carries the kid's changed state.
    await rt.send(id, { type: 'kid.go' });
    const next = await rt.waitFor(id, (v) => v.seq > rested.seq, { timeout: 5000 });
    expect(next.seq).toBe(rested.seq + 1);
    expect(next.children.kid?.value).toBe('rested');
    expect(next.value).toBe('running');
  });

  it("a child's pending timer survives a crash: restored in `working`, it fires once at its deadline in the new process", async () => {
    const prefix = uniquePrefix('children-timer');
    const id = 'slow';
    const client = baton.client(prefix);
    const proc = await startRuntimeProc({ prefix, leaseMs: 500, spawn: { machine: 'slowParent', id } });
    await client.waitFor(id, (v) => v.seq >= 1, { timeout: 10_000 });

    await client.send(id, { type: 'kid.go' });
    // The child-only change (idle -> working, parent still `running`) is committed with the kid's timer.
    const working = await client.waitFor(id, (v) => v.children.kid?.value === 'working', { timeout: 10_000 });
    await proc.kill('SIGKILL');
    expect(working.value).toBe('running');
    expect(working.timers).toHaveLength(1);
    const timer = working.timers[0]!;
    expect(timer.source).toEqual(['kid']);
    expect(timer.target).toEqual(['kid']);
    expect(Date.now()).toBeLessThan(timer.dueAt);

    const { rt, kid } = await takeoverRuntime(prefix, { slowParent });
    await waitUntil(() => kid.ref && rt.heldCount === 1, { timeout: 10_000, message: 'the takeover to restore the task' });
    const rested = await rt.waitFor(id, (v) => v.children.kid?.value === 'rested', { timeout: 10_000 });
    // The kid moved to `rested` in this process: it was restored in `working` and its timer re-armed here.
    expect(kid.values).toContain('rested');
    const history = await rt.history(id);
    const fired = history.filter((h) => h.seq > working.seq);
    expect(fired).toHaveLength(1);
    expect(fired[0]!.at).toBeGreaterThanOrEqual(timer.dueAt - 2);
    expect(fired[0]!.at).toBeLessThan(timer.dueAt + 1500);
    expect([fired[0]!.from, fired[0]!.to]).toEqual(['running', 'running']);
    expect(rested.timers).toEqual([]);
    expect(history.map((h) => h.seq)).toEqual(Array.from({ length: history.length }, (_, i) => i + 1));
  });
});

describe('promise children', () => {
  it('start only after the commit that invoked them: steps that finish at once are still committed one by one', async () => {
    const { sevenSteps } = await import('./fixtures/durable.js');
    const started: Array<{ step: number; committedSeq: number }> = [];
    const prefix = uniquePrefix('promise-after-commit');
    let rt!: Runtime;
    // Each step records, as it starts, the seq committed in Redis: the commit that invoked it must be there.
    const record = async (n: number) => {
      const v = await rt.get('quick');
      started.push({ step: n, committedSeq: v?.seq ?? 0 });
    };
    rt = await createRuntime({ connection: redisUrl(), prefix, machines: { quick: sevenSteps(record) }, leaseMs: 1000 });
    const t = await rt.spawn('quick', { id: 'quick' });
    const v = await t.waitFor((x) => x.status === 'done', { timeout: 10_000 });
    await rt.close();
    expect(v.output).toEqual({ results: ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'] });
    const h = await (async () => {
      const c = createClient({ connection: redisUrl(), prefix });
      try {
        return await c.history('quick');
      } finally {
        await c.close();
      }
    })();
    expect(h.map((e) => String(e.to))).toEqual(['s1', 's2', 's3', 's4', 's5', 's6', 's7', 'done']);
    // Step n starts after commit n (spawn = 1, then one per finished step) has landed.
    expect(started).toEqual(Array.from({ length: 7 }, (_, i) => ({ step: i + 1, committedSeq: i + 1 })));
  });
});
