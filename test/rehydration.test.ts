// Rehydration, after XState v5's own suite (packages/core/test/rehydration.test.ts),
// through Baton's store: each task runs in a runtime process that is SIGKILLed,
// and another process restores it from its last commit once the dead holder's
// lease lapses. The machines (test/fixtures/rehydration-machines.ts) record
// their side effects as "<what>:<pid>" in a Redis list, so an action run again
// shows as an extra entry, and report what their restored actor sees (tags,
// can(), the system, a child's snapshot) into their context on a probe event.
import type { InspectionEvent } from 'xstate';
import { describe, expect, it } from 'vitest';
import type { ChildView, TaskView } from '../src/index.js';
import { rehydrationMachines } from './fixtures/rehydration-machines.js';
import { uniquePrefix, waitUntil } from './helpers/index.js';
import { killAllRuntimeProcs, startRuntimeProc, type RuntimeProc } from './helpers/runtime-proc.js';
import { useBaton } from './helpers/setup.js';

const LEASE_MS = 500;
const baton = useBaton({ close: 'all', kill: killAllRuntimeProcs });
const { redis } = baton;

/** A runtime process that spawns task `id` of `machine` as it starts, and so holds it. */
function holder(prefix: string, machine: string, id: string): Promise<RuntimeProc> {
  return startRuntimeProc({ prefix, leaseMs: LEASE_MS, spawn: { machine, id } });
}

/**
 * Start the process that is to restore the task (the heir), then SIGKILL its
 * holder. The heir starts only now so that no other process runs while the
 * holder does its part: a holder starved of CPU for a lease on a loaded
 * machine would otherwise lose the task to it before the crash.
 */
async function crash(holding: RuntimeProc, prefix: string): Promise<RuntimeProc> {
  const heir = await startRuntimeProc({ prefix, leaseMs: LEASE_MS });
  await holding.kill('SIGKILL');
  return heir;
}

/** Resolves once `heir` has restored task `id` (created its root actor from the last commit). */
async function restoredBy(heir: RuntimeProc, id: string): Promise<void> {
  await heir.waitForJson((o) => o.held === id, 20_000);
}

/** The side effects recorded under `prefix` so far, in order. */
const runs = (prefix: string) => redis.lrange(`${prefix}:runs`, 0, -1);

/** Waits until the side effects recorded under `prefix` include all of `expected`; returns them all. */
function recorded(prefix: string, expected: string[], what: string): Promise<string[]> {
  return waitUntil(
    async () => {
      const all = await runs(prefix);
      return expected.every((e) => all.includes(e)) ? all : undefined;
    },
    { timeout: 15_000, message: what },
  );
}

/**
 * SIGTERM `proc` and wait for it to exit: it closes its runtime, then QUITs the
 * connection its machines record on, which Redis answers only after every
 * command sent before it. Afterwards everything it recorded is in the list.
 */
async function flushAndExit(proc: RuntimeProc): Promise<void> {
  await proc.kill('SIGTERM');
  expect((await proc.exited).code).toBe(0);
}

/** The context of a view, or of a child in one. */
const ctx = <T>(v: { context?: unknown } | undefined) => v?.context as T;
/** A child the parent stopped: out of the view, or there with status stopped. */
const gone = (c: ChildView | undefined) => c === undefined || c.status === 'stopped';

describe('rehydration: a task restored in another process after its holder was SIGKILLed', () => {
  it('hasTag() and can() answer for the restored state at once, and what can() allows is what is applied', async () => {
    const prefix = uniquePrefix('rh-tags');
    const id = 'tags';
    const client = baton.client(prefix);
    const first = await holder(prefix, 'rhTags', id);
    type Ctx = { ammo: number; probes: Array<{ pid: number }> };

    await client.send(id, { type: 'arm' }, { wait: 'applied' });
    await client.send(id, { type: 'probe' }, { wait: 'applied' });
    // armed: tags armed and busy; fire's guard passes, reload's does not, arm has no transition
    // there, ping is a root transition with actions only, nope is handled nowhere.
    const verdict = { value: 'armed', armed: true, busy: true, idle: false, canFire: true, canReload: false, canArm: false, canPing: true, canNope: false };
    expect(ctx<Ctx>(await client.get(id)).probes).toEqual([{ pid: first.pid, ...verdict }]);

    const second = await crash(first, prefix);
    // The first event the restored actor applies: it reads the snapshot just as it was restored.
    await client.send(id, { type: 'probe' });
    await restoredBy(second, id);
    const probed = await client.waitFor(id, (v) => ctx<Ctx>(v).probes.length === 2, { timeoutMs: 10_000 });
    expect(ctx<Ctx>(probed).probes[1]).toEqual({ pid: second.pid, ...verdict });

    // What can() said holds for real events: reload changes nothing, fire is taken.
    await client.send(id, { type: 'reload' }, { wait: 'applied' });
    await client.send(id, { type: 'fire' });
    const done = await client.waitFor(id, (v) => v.status !== 'active', { timeoutMs: 10_000 });
    expect(done).toMatchObject({ status: 'done', value: 'fired', output: { probes: 2 } });
    const history = await client.history(id);
    expect(history.slice(-3).map((h) => [h.event.type, h.from, h.to])).toEqual([
      ['probe', 'armed', 'armed'],
      ['reload', 'armed', 'armed'],
      ['fire', 'armed', 'fired'],
    ]);
  });

  it('no entry action runs again on restore, and a stop right after the restore runs no exit action', async () => {
    const prefix = uniquePrefix('rh-entry');
    const id = 'ee';
    const client = baton.client(prefix);
    const first = await holder(prefix, 'rhEntryExit', id);
    const p1 = first.pid;

    await client.send(id, { type: 'next' }, { wait: 'applied' });
    const effects = [`entry.root:${p1}`, `entry.a:${p1}`, `exit.a:${p1}`, `entry.b:${p1}`];
    expect(await recorded(prefix, effects, 'the first process to enter a, then b')).toEqual(effects);
    expect(await client.get(id)).toMatchObject({ status: 'active', value: 'b', context: { entered: ['root', 'a', 'b'] } });

    const second = await crash(first, prefix);
    // The stop is in the mailbox before the heir restores the task: it is the first thing applied.
    const stopping = client.stop(id, { timeoutMs: 15_000 });
    await restoredBy(second, id);
    const stopped = await stopping;
    expect(stopped).toMatchObject({ status: 'stopped', value: 'b', context: { entered: ['root', 'a', 'b'] } });
    await flushAndExit(second);

    // Neither the root's nor b's entry ran again in the heir, and the stop ran neither exit.
    expect(await runs(prefix)).toEqual(effects);
    expect((await client.history(id)).map((h) => h.event.type)).toEqual(['baton.spawn', 'next', 'baton.stop']);
  });

  it('a restored invoked child is stopped by a transition out of its state: gone from the view, its work aborted, no tick after', async () => {
    const prefix = uniquePrefix('rh-stop');
    const id = 'stopkid';
    const client = baton.client(prefix);
    const first = await holder(prefix, 'rhStopChild', id);
    const p1 = first.pid;
    type Ticker = { ticks: number };

    // The ticker (a machine child, every 100 ms) has committed two ticks; the work (a promise) is running.
    await client.waitFor(id, (v) => (ctx<Ticker>(v.children.ticker)?.ticks ?? 0) >= 2, { timeoutMs: 10_000 });
    await recorded(prefix, [`work.start:${p1}`], 'the work to start in the first process');
    const second = await crash(first, prefix);
    const p2 = second.pid;
    const atCrash = (await client.get(id))!;
    expect(atCrash.value).toBe('running');
    expect([atCrash.children.ticker?.status, atCrash.children.work?.status]).toEqual(['active', 'active']);
    const ticks = ctx<Ticker>(atCrash.children.ticker).ticks;

    // Both run again in the heir: the ticker from its committed count, the promise from its start (at least once).
    await restoredBy(second, id);
    await recorded(prefix, [`tick.${ticks + 1}:${p2}`, `work.start:${p2}`], 'both restored children to run in the heir');

    await client.send(id, { type: 'next' });
    const left = await client.waitFor(id, (v) => v.value !== 'running' || v.status !== 'active', { timeoutMs: 10_000 });
    expect(left).toMatchObject({ status: 'active', value: 'left' });
    expect(gone(left.children.ticker) && gone(left.children.work)).toBe(true);
    // The ticker's timer went with it: the one pending is the parent's own `after`.
    expect(left.timers.map((t) => t.source)).toEqual([[]]);

    // The parent moves on after 400 ms, four ticks' worth: had the ticker lived on, it would have ticked meanwhile.
    const settled = await client.waitFor(id, (v) => v.value === 'settled', { timeoutMs: 10_000 });
    expect(gone(settled.children.ticker) && gone(settled.children.work)).toBe(true);
    await flushAndExit(second);
    const all = await runs(prefix);
    const leftAt = all.indexOf(`left:${p2}`);
    expect(leftAt).toBeGreaterThan(-1);
    expect(all.slice(leftAt + 1).filter((r) => r.startsWith('tick.'))).toEqual([]);
    expect(all.find((r) => r.startsWith('tick.') && r.endsWith(`:${p2}`))).toBe(`tick.${ticks + 1}:${p2}`);
    // The heir's run of the work was aborted by the stop, after `left`, and never completed. (Each
    // start in a process is followed by its abort, but for the first process's last, cut by the
    // SIGKILL: a process starved past its lease restores the task again and runs the work once
    // more, which changes nothing else here.)
    const work = all.filter((r) => r.startsWith('work.'));
    expect(work[0]).toBe(`work.start:${p1}`);
    const inFirst = work.filter((r) => r.endsWith(`:${p1}`));
    expect(inFirst).toEqual(inFirst.map((_, i) => (i % 2 === 0 ? `work.start:${p1}` : `work.abort:${p1}`)));
    const inHeir = work.filter((r) => r.endsWith(`:${p2}`));
    expect(inFirst.length + inHeir.length).toBe(work.length);
    expect(inHeir.length).toBeGreaterThanOrEqual(2);
    expect(inHeir).toEqual(inHeir.map((_, i) => (i % 2 === 0 ? `work.start:${p2}` : `work.abort:${p2}`)));
    expect(all.lastIndexOf(`work.abort:${p2}`)).toBeGreaterThan(leftAt);
    expect(all.indexOf(`settled:${p2}`)).toBeGreaterThan(leftAt);
  });

  it('an active child with a systemId is in the restored system and gets events through it; a done one is not, and does not notify its parent again', async () => {
    const prefix = uniquePrefix('rh-system');
    const id = 'sys';
    const client = baton.client(prefix);
    const first = await holder(prefix, 'rhSystem', id);
    const p1 = first.pid;
    type Worker = { pings: number[] };

    await client.send(id, { type: 'ping', n: 1 }, { wait: 'applied' });
    await client.send(id, { type: 'probe' }, { wait: 'applied' });
    const before = (await client.get(id))!;
    expect(before.context).toEqual({ done: 1, probes: [{ pid: p1, worker: true, quick: false }] });
    expect(before.children.worker).toMatchObject({ status: 'active', context: { pings: [1] } });
    expect(before.children.quick).toMatchObject({ status: 'done', output: { answer: 42 } });
    const effects = [`quick.final:${p1}`, `quick.onDone:${p1}`, `ping.1:${p1}`];
    expect(await recorded(prefix, effects, "the first process's side effects")).toEqual(effects);

    const second = await crash(first, prefix);
    const p2 = second.pid;
    await client.send(id, { type: 'probe' });
    // Sent with sendTo(({ system }) => system.get('worker')): it arrives only if the restore registered the worker again.
    await client.send(id, { type: 'ping', n: 2 });
    await restoredBy(second, id);
    const after = await client.waitFor(id, (v) => ctx<Worker>(v.children.worker)?.pings.length === 2 || v.status !== 'active', { timeoutMs: 10_000 });
    expect(after.status).toBe('active');
    expect(after.context).toEqual({
      done: 1,
      probes: [
        { pid: p1, worker: true, quick: false },
        { pid: p2, worker: true, quick: false },
      ],
    });
    expect(after.children.worker).toMatchObject({ status: 'active', context: { pings: [1, 2] } });
    expect(after.children.quick).toMatchObject({ status: 'done', output: { answer: 42 } });
    await flushAndExit(second);
    // quick's final state was not entered again, its onDone did not run again.
    expect(await runs(prefix)).toEqual([...effects, `ping.2:${p2}`]);
  });

  it("a restored failed child does not run the parent's onError again (nor its own work); a task that failed stays failed", async () => {
    const prefix = uniquePrefix('rh-error');
    const client = baton.client(prefix);
    const first = await holder(prefix, 'rhError', 'err');
    // Spawned while the first process is the only one: its child's unhandled failure fails the task there.
    await client.spawn('rhRootError', { id: 'rootErr' });
    const failed = await client.waitFor('rootErr', (v) => v.status !== 'active', { timeoutMs: 10_000 });
    expect(failed.status).toBe('error');
    expect(JSON.stringify(failed.error)).toContain('boom (rootErr)');
    await first.waitForJson((o) => o.held === 'rootErr');
    expect(first.held()).toEqual(['err', 'rootErr']);
    const p1 = first.pid;
    type Ctx = { errors: number; marks: number[] };

    const before = await client.waitFor('err', (v) => ctx<Ctx>(v).errors === 1, { timeoutMs: 10_000 });
    expect(before).toMatchObject({ status: 'active', value: 'waiting', context: { errors: 1, marks: [] } });
    expect(before.children.failing?.status).toBe('error');
    const effects = [`err.fail:${p1}`, `err.onError:${p1}`, `rootErr.entry:${p1}`, `rootErr.fail:${p1}`];
    await recorded(prefix, effects, "the first process's side effects");

    const second = await crash(first, prefix);
    const p2 = second.pid;
    await client.send('err', { type: 'mark' });
    await restoredBy(second, 'err');
    const after = await client.waitFor('err', (v) => ctx<Ctx>(v).marks.length === 1 || v.status !== 'active', { timeoutMs: 10_000 });
    expect(after).toMatchObject({ status: 'active', value: 'waiting', context: { errors: 1, marks: [p2] } });
    expect(after.children.failing?.status).toBe('error');

    // The failed task is as committed, and takes nothing more.
    const rootErr = await client.get('rootErr');
    expect(rootErr).toMatchObject({ status: 'error', seq: failed.seq, error: failed.error });
    await expect(client.send('rootErr', { type: 'poke' })).rejects.toMatchObject({ code: 'TASK_NOT_RUNNING' });
    await flushAndExit(second);
    expect(second.held()).toEqual(['err']);
    expect((await runs(prefix)).sort()).toEqual([...effects].sort());
  });

  it('a done child restores as done (its output intact, onDone not run again); a task in its final state stays done after its holder dies too', async () => {
    const prefix = uniquePrefix('rh-final');
    const id = 'fin';
    const client = baton.client(prefix);
    const first = await holder(prefix, 'rhFinalChild', id);
    const p1 = first.pid;
    type Ctx = { done: number; reads: unknown[] };

    const before = await client.waitFor(id, (v) => v.seq >= 1, { timeoutMs: 10_000 });
    expect(before).toMatchObject({ status: 'active', value: 'open', context: { done: 1, reads: [] } });
    expect(before.children.answer).toMatchObject({ status: 'done', output: { answer: 42 } });
    await recorded(prefix, [`entry.root:${p1}`, `quick.final:${p1}`, `answer.onDone:${p1}`], "the first process's side effects");

    const second = await crash(first, prefix);
    const p2 = second.pid;
    // The restored parent reads its child's live snapshot.
    await client.send(id, { type: 'read' });
    await restoredBy(second, id);
    const read = await client.waitFor(id, (v) => ctx<Ctx>(v).reads.length === 1, { timeoutMs: 10_000 });
    const output = { done: 1, reads: [{ pid: p2, status: 'done', output: { answer: 42 } }] };
    expect(read.context).toEqual(output);

    await client.send(id, { type: 'finish' });
    const done = await client.waitFor(id, (v) => v.status !== 'active', { timeoutMs: 10_000 });
    expect(done).toMatchObject({ status: 'done', value: 'over', output });
    const effects = [`entry.root:${p1}`, `quick.final:${p1}`, `answer.onDone:${p1}`, `entry.over:${p2}`];
    expect(await recorded(prefix, effects, 'the heir to enter the final state')).toEqual(effects);
    const history = await client.history(id);

    // The heir dies too. A runtime here that runs the machine finds the task done as committed, takes
    // no event for it, and runs nothing of it. (Nothing prompts an activation of a finished task, so
    // the last checks are that nothing was run here, not a test of the activation guard.)
    await second.kill('SIGKILL');
    const actors: string[] = [];
    const rt = await baton.runtime(prefix, {
      leaseMs: LEASE_MS,
      machines: rehydrationMachines((what) => void redis.rpush(`${prefix}:runs`, `${what}:${process.pid}`)),
      inspect: (ev: InspectionEvent) => {
        if (ev.type === '@xstate.actor') actors.push(String((ev.actorRef as { id?: string }).id));
      },
    });
    expect(await rt.waitFor(id, (v) => v.status !== 'active', { timeoutMs: 5000 })).toMatchObject({ status: 'done', value: 'over', output, seq: done.seq });
    await expect(rt.send(id, { type: 'read' })).rejects.toMatchObject({ code: 'TASK_NOT_RUNNING' });
    expect(await rt.history(id)).toEqual(history);
    expect(rt.heldCount).toBe(0);
    expect(actors).toEqual([]);
    expect(await runs(prefix)).toEqual(effects);
  });

  it("a great-grandchild's context is intact three levels down, and events forwarded down still change it", async () => {
    const prefix = uniquePrefix('rh-deep');
    const id = 'deep';
    const client = baton.client(prefix);
    const first = await holder(prefix, 'rhDeep', id);
    const p1 = first.pid;
    type Ggc = { count: number; by: number[]; meta: unknown };
    const ggcOf = (v: TaskView) => ctx<Ggc | undefined>(v.children.child?.children?.grandchild?.children?.ggc);
    const meta = { level: 3, tags: ['deep', 'nested'] };

    await client.send(id, { type: 'inc' });
    await client.send(id, { type: 'inc' });
    const before = await client.waitFor(id, (v) => ggcOf(v)?.count === 2, { timeoutMs: 10_000 });
    expect(ggcOf(before)).toEqual({ count: 2, by: [p1, p1], meta });

    const second = await crash(first, prefix);
    const p2 = second.pid;
    await client.send(id, { type: 'inc' });
    await restoredBy(second, id);
    const after = await client.waitFor(id, (v) => (ggcOf(v)?.count ?? 0) >= 3 || v.status !== 'active', { timeoutMs: 10_000 });
    // Restored with its count (2), not started afresh (0), and the heir's inc reached it.
    expect(ggcOf(after)).toEqual({ count: 3, by: [p1, p1, p2], meta });
    const child = after.children.child!;
    const grandchild = child.children!.grandchild!;
    const ggc = grandchild.children!.ggc!;
    expect([after.status, child.status, grandchild.status, ggc.status]).toEqual(['active', 'active', 'active', 'active']);
    expect([child.src, grandchild.src, ggc.src]).toEqual(['deepChild', 'grandchild', 'ggc']);
  });
});
