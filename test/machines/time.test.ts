import { describe, expect, it } from 'vitest';
import { assign, createActor, fromPromise, setup, toPromise, waitFor, type AnyActorLogic } from 'xstate';
import { decisionPoint, durableSteps, parallelAgents, type StepsOutput } from '../../src/machines/index.js';
import { ManualClock } from '../../src/runtime/clock.js';

// Times stamped inside actions (`since`, `deadline`, `at`, `decidedAt`) come
// from the clock the actor was created with, as Baton's runtime injects it:
// these tests give the actors a ManualClock that only moves when told to.
const T = Date.UTC(2031, 0, 1);
const ok = (v: unknown) => fromPromise(async () => v) as AnyActorLogic;

describe('time inside actions is the actor clock', () => {
  it('decisionPoint: since, deadline, escalation and the default answer by the clock', async () => {
    const clock = new ManualClock(T);
    const m = decisionPoint({ decision: 'go', question: 'Go?', options: ['yes', 'no'], deadlineMs: 1000, onTimeout: { escalate: { deadlineMs: 500, default: 'no' } } });
    const actor = createActor(m, { input: {}, clock }).start();
    expect(actor.getSnapshot().context.awaiting).toEqual({ decision: 'go', question: 'Go?', options: ['yes', 'no'], since: T, deadline: T + 1000 });
    clock.advance(1000);
    expect(actor.getSnapshot().value).toBe('escalated');
    expect(actor.getSnapshot().context.awaiting).toMatchObject({ since: T, escalated: true, deadline: T + 1500 });
    clock.advance(500);
    expect(await toPromise(actor)).toMatchObject({ choice: 'no', by: 'deadline', source: 'default', at: T + 1500, escalated: true });
  });

  it('decisionPoint invoked by a parent reads the clock of the actor system (an answer at T+250)', async () => {
    const clock = new ManualClock(T);
    const parent = setup({ actors: { ask: decisionPoint({ decision: 'ship', question: 'Ship?', options: ['yes', 'no'] }) } }).createMachine({
      context: { answer: undefined as unknown },
      initial: 'asking',
      states: {
        asking: {
          invoke: { id: 'ask', src: 'ask', input: {}, onDone: { target: 'done', actions: assign({ answer: ({ event }) => event.output }) } },
          on: { decision: { actions: ({ event, self }) => self.getSnapshot().children.ask?.send(event) } },
        },
        done: { type: 'final' },
      },
    });
    const actor = createActor(parent, { clock }).start();
    const child = actor.getSnapshot().children.ask!;
    expect(child.getSnapshot().context.awaiting).toEqual({ decision: 'ship', question: 'Ship?', options: ['yes', 'no'], since: T });
    clock.advance(250);
    actor.send({ type: 'decision', decision: 'ship', choice: 'yes', by: 'ana' });
    const done = await waitFor(actor, (s) => s.status === 'done', { timeout: 5000 });
    expect(done.context.answer).toMatchObject({ choice: 'yes', by: 'ana', at: T + 250, source: 'answer' });
  });

  it('durableSteps checkpoint: the update landing, the surfaced decision and the answer by the clock', async () => {
    const clock = new ManualClock(T);
    const m = durableSteps({
      id: 's',
      steps: [{ name: 'a', run: ok(1) }, { name: 'b', run: ok(2) }],
      updates: { assess: () => ({ action: 'decide', question: 'EU?', options: ['absorb', 'ignore'], deadlineMs: 60_000, defaultOption: 'ignore' }) },
    });
    const actor = createActor(m, { input: {}, clock }).start();
    actor.send({ type: 'context.update', update: { scope: 'EU' }, by: 'bo' }); // lands while a runs, at T
    clock.advance(100); // a finishes later: the checkpoint before b opens the decision at T+100
    const asked = await waitFor(actor, (s) => s.context.awaiting !== undefined, { timeout: 5000 });
    expect(asked.context.awaiting).toMatchObject({ decision: 'context.update', since: T + 100, deadline: T + 100 + 60_000, detail: { at: T, by: 'bo', checkpoint: 'before b' } });
    clock.advance(400);
    actor.send({ type: 'decision', decision: 'context.update', choice: 'absorb', by: 'ana' });
    const out = (await toPromise(actor)) as StepsOutput;
    expect(out.decisions).toEqual([{ decision: 'context.update', choice: 'absorb', by: 'ana', at: T + 500, source: 'answer' }]);
    expect(out.updates).toMatchObject([{ at: T, outcome: 'absorb', decision: { choice: 'absorb', by: 'ana', source: 'answer' } }]);
  });

  it('durableSteps checkpoint: the deadline default is stamped when the clock reaches the deadline', async () => {
    const clock = new ManualClock(T);
    const m = durableSteps({
      id: 's',
      steps: [{ name: 'a', run: ok(1) }],
      updates: { assess: () => ({ action: 'decide', question: 'EU?', options: ['absorb', 'ignore'], deadlineMs: 3_600_000, defaultOption: 'ignore' }) },
    });
    const actor = createActor(m, { input: {}, clock }).start();
    actor.send({ type: 'context.update', update: { scope: 'EU' } });
    await waitFor(actor, (s) => s.context.awaiting !== undefined, { timeout: 5000 });
    expect(actor.getSnapshot().context.awaiting).toMatchObject({ since: T, deadline: T + 3_600_000 });
    clock.advance(3_600_000);
    const out = (await toPromise(actor)) as StepsOutput;
    expect(out.decisions).toEqual([{ decision: 'context.update', choice: 'ignore', by: 'deadline', at: T + 3_600_000, source: 'default' }]);
  });

  it('parallelAgents: a person reconciles (decidedAt by the clock); past the deadline the default is stamped at it', async () => {
    const human = (deadlineMs?: number) =>
      parallelAgents({ id: 'p', agents: { a: ok({ v: 1 }), b: ok({ v: 2 }) }, detect: { kind: 'fields', fields: ['v'] }, reconcile: { kind: 'human', ...(deadlineMs ? { deadlineMs, defaultChoice: 'b' } : {}) } });
    const clock = new ManualClock(T);
    const answered = createActor(human(), { input: {}, clock }).start();
    const asked = await waitFor(answered, (s) => s.context.awaiting !== undefined, { timeout: 5000 });
    expect(asked.context.awaiting).toMatchObject({ decision: 'reconcile', since: T });
    expect(asked.context.awaiting?.deadline).toBeUndefined();
    clock.advance(70);
    answered.send({ type: 'decision', decision: 'reconcile', choice: 'a', by: 'ana' });
    expect(await toPromise(answered)).toMatchObject({ decidedBy: 'human:ana', decidedAt: T + 70, reconciled: { v: 1 } });

    const timed = createActor(human(2000), { input: {}, clock }).start();
    const waiting = await waitFor(timed, (s) => s.context.awaiting !== undefined, { timeout: 5000 });
    expect(waiting.context.awaiting).toMatchObject({ since: T + 70, deadline: T + 2070 });
    clock.advance(2000);
    expect(await toPromise(timed)).toMatchObject({ decidedBy: 'default', decidedAt: T + 2070, reconciled: { v: 2 } });
  });

  it("without a clock that tells the time (XState's default), Date.now() is used", async () => {
    const before = Date.now();
    const actor = createActor(decisionPoint({ decision: 'go', question: 'Go?', options: ['yes'], deadlineMs: 60_000 }), { input: {} }).start();
    const after = Date.now();
    const { since, deadline } = actor.getSnapshot().context.awaiting!;
    expect(since).toBeGreaterThanOrEqual(before);
    expect(since).toBeLessThanOrEqual(after);
    expect(deadline).toBe(since + 60_000);
    actor.stop();
  });
});

describe('the real clock', () => {
  it('a delay longer than Node allows (~24.8 days) is armed in legs, not fired at once', async () => {
    const { systemClock } = await import('../../src/runtime/clock.js');
    let fired = false;
    const handle = systemClock.setTimeout(() => (fired = true), 30 * 24 * 3600_000);
    // Node fires an over-long setTimeout after 1 ms; by the time a 50 ms timer fires, it would have.
    await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 50));
    expect(fired).toBe(false);
    systemClock.clearTimeout(handle);
  });
});
