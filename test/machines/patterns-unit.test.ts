import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, toPromise, waitFor, type AnyActorLogic } from 'xstate';
import { decisionPoint, durableSteps, parallelAgents, type StepsOutput } from '../../src/machines/index.js';
import { waitUntil } from '../helpers/wait.ts';

// The patterns are plain XState: these tests drive them in memory (no Redis).
// test/patterns.test.ts drives them through the runtime, with crashes.
const ok = (v: unknown) => fromPromise(async () => v) as AnyActorLogic;
const boom = (msg: string) => fromPromise(async () => { throw new Error(msg); }) as AnyActorLogic;

describe('durableSteps (in memory)', () => {
  it('runs steps in order and outputs every result', async () => {
    const m = durableSteps({ id: 's', steps: [{ name: 'a', run: ok(1) }, { name: 'b', run: ok(2) }] });
    const out = await toPromise(createActor(m, { input: {} }).start());
    expect(out).toMatchObject({ outcome: 'done', results: { a: 1, b: 2 } });
  });

  it('skips a failed step with a recorded reason when onFailure says so', async () => {
    const m = durableSteps({
      id: 's',
      steps: [{ name: 'a', run: ok(1) }, { name: 'b', run: boom('schema') }, { name: 'c', run: ok(3) }],
      onFailure: ({ error }) => ({ action: 'skip', reason: `b failed: ${error.message}` }),
    });
    const out = await toPromise(createActor(m, { input: {} }).start());
    expect(out).toMatchObject({ outcome: 'done', results: { a: 1, c: 3 }, skipped: [{ step: 'b', reason: 'b failed: schema' }] });
  });

  it('takes a recovery path chosen from the state so far', async () => {
    const m = durableSteps({
      id: 's',
      steps: [{ name: 'a', run: ok(1) }, { name: 'b', run: boom('x') }, { name: 'c', run: ok(3) }],
      recovery: { fallback: { run: ok('fallback-b') } },
      onFailure: ({ state }) => (state.results.a === 1 ? { action: 'recover', with: 'fallback' } : { action: 'fail' }),
    });
    const out = await toPromise(createActor(m, { input: {} }).start());
    expect(out).toMatchObject({ outcome: 'done', results: { a: 1, b: 'fallback-b', c: 3 }, recovered: { b: 'fallback' } });
  });

  it('compensates completed steps in reverse order, then fails', async () => {
    const undone: string[] = [];
    const undo = (name: string) => fromPromise(async () => { undone.push(name); }) as AnyActorLogic;
    const m = durableSteps({
      id: 's',
      steps: [
        { name: 'a', run: ok(1), compensate: undo('a') },
        { name: 'b', run: ok(2), compensate: undo('b') },
        { name: 'c', run: boom('no') , compensate: undo('c') },
      ],
      onFailure: () => ({ action: 'compensate' }),
    });
    const out = await toPromise(createActor(m, { input: {} }).start());
    expect(undone).toEqual(['b', 'a']);
    expect(out).toMatchObject({ outcome: 'failed', compensated: ['b', 'a'] });
  });
});

describe('durableSteps default failure policy (no onFailure)', () => {
  /** Undo that records what it undid. */
  const undoer = () => {
    const undone: string[] = [];
    return { undone, undo: (name: string) => fromPromise(async () => { undone.push(name); }) as AnyActorLogic };
  };

  it('compensates when a completed step has a compensation: the saga undoes it', async () => {
    const { undone, undo } = undoer();
    const m = durableSteps({ id: 's', steps: [{ name: 'a', run: ok(1), compensate: undo('a') }, { name: 'b', run: ok(2) }, { name: 'c', run: boom('no') }] });
    const out = (await toPromise(createActor(m, { input: {} }).start())) as StepsOutput;
    expect(out).toMatchObject({ outcome: 'failed', compensated: ['a'], failures: [{ step: 'c', decision: 'compensate' }] });
    expect(undone).toEqual(['a']);
  });

  it('fails, claiming no saga, when the only compensations are on steps that did not complete', async () => {
    const { undone, undo } = undoer();
    // a completed but has no undo; b (the failing step) and c (never reached) have one: nothing to run.
    const m = durableSteps({
      id: 's',
      steps: [{ name: 'a', run: ok(1) }, { name: 'b', run: boom('no'), compensate: undo('b') }, { name: 'c', run: ok(3), compensate: undo('c') }],
    });
    // Every microstep's state, eventless ones included (a subscriber only sees where each macrostep ends).
    const visited: unknown[] = [];
    const actor = createActor(m, { input: {}, inspect: (ev) => ev.type === '@xstate.microstep' && 'value' in ev.snapshot && visited.push(ev.snapshot.value) });
    const out = (await toPromise(actor.start())) as StepsOutput;
    expect(out).toMatchObject({ outcome: 'failed', compensated: [], results: { a: 1 } });
    expect(out.failures).toEqual([{ step: 'b', error: { name: 'Error', message: 'no' }, decision: 'fail' }]);
    expect(visited).toContainEqual({ step_1: 'deciding' });
    expect(visited).not.toContainEqual(expect.objectContaining({ compensating: expect.anything() }));
    expect(undone).toEqual([]);
  });

  it('a failed recovery path follows the same rule', async () => {
    const { undone, undo } = undoer();
    const run = (withUndoOnA: boolean) =>
      durableSteps({
        id: 's',
        steps: [{ name: 'a', run: ok(1), ...(withUndoOnA ? { compensate: undo('a') } : {}) }, { name: 'b', run: boom('no') }, { name: 'c', run: ok(3), compensate: undo('c') }],
        recovery: { fallback: { run: boom('fallback broke too') } },
        onFailure: () => ({ action: 'recover', with: 'fallback' }),
      });
    const nothingToUndo = (await toPromise(createActor(run(false), { input: {} }).start())) as StepsOutput;
    expect(nothingToUndo.failures).toMatchObject([{ step: 'b', decision: 'recover:fallback' }, { step: 'b/recovery:fallback', decision: 'fail' }]);
    expect(nothingToUndo.compensated).toEqual([]);
    const toUndo = (await toPromise(createActor(run(true), { input: {} }).start())) as StepsOutput;
    expect(toUndo.failures).toMatchObject([{ step: 'b', decision: 'recover:fallback' }, { step: 'b/recovery:fallback', decision: 'compensate' }]);
    expect(toUndo).toMatchObject({ outcome: 'failed', compensated: ['a'] });
    expect(undone).toEqual(['a']);
  });

  it('assesses a context update at the next checkpoint and absorbs it into the plan', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const m = durableSteps({
      id: 's',
      steps: [
        { name: 'a', run: fromPromise(async () => { await gate; return 1; }) as AnyActorLogic },
        { name: 'b', run: ok(2) },
        { name: 'c', run: ok(3) },
      ],
      updates: { assess: (u) => ({ action: 'absorb', patch: u, drop: u.scope === 'EU only' ? ['b'] : [] }) },
    });
    const actor = createActor(m, { input: { scope: 'world' } }).start();
    actor.send({ type: 'context.update', update: { scope: 'EU only' }, by: 'user' }); // arrives while step a is in flight
    release();
    const out = await toPromise(actor);
    expect(out).toMatchObject({ outcome: 'done', results: { a: 1, c: 3 }, input: { scope: 'EU only' } });
    expect((out as { skipped: unknown[] }).skipped).toEqual([{ step: 'b', reason: 'dropped from the plan by a context update' }]);
  });

  it('surfaces an update as a decision and applies the answer', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const m = durableSteps({
      id: 's',
      steps: [{ name: 'a', run: fromPromise(async () => { await gate; return 1; }) as AnyActorLogic }, { name: 'b', run: ok(2) }],
      updates: { assess: () => ({ action: 'decide', question: 'Restrict to EU?', options: ['absorb', 'ignore'] }) },
    });
    const actor = createActor(m, { input: {} }).start();
    actor.send({ type: 'context.update', update: { scope: 'EU' } });
    release();
    const snap = await waitFor(actor, (s) => s.context.awaiting !== undefined, { timeout: 5000 });
    expect(snap.value).toEqual({ step_1: 'awaiting' });
    expect(snap.context.awaiting).toMatchObject({ decision: 'context.update', question: 'Restrict to EU?', options: ['absorb', 'ignore'] });
    actor.send({ type: 'decision', decision: 'context.update', choice: 'absorb', by: 'ana' });
    const out = await toPromise(actor);
    expect(out).toMatchObject({ outcome: 'done', input: { scope: 'EU' }, decisions: [{ choice: 'absorb', by: 'ana', source: 'answer' }] });
  });
});

describe('durableSteps checkpoints (in memory)', () => {
  /** A step that waits for `open()`; `runs` counts its executions. */
  const held = (value: unknown) => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const h = { runs: 0, open: () => open(), logic: fromPromise(async () => { h.runs++; await gate; return value; }) as AnyActorLogic };
    return h;
  };

  it('an update landing while the last step runs is assessed after it, before the sequence ends', async () => {
    const last = held(2);
    const m = durableSteps({ id: 's', steps: [{ name: 'a', run: ok(1) }, { name: 'b', run: last.logic }], updates: { assess: (u) => ({ action: 'absorb', patch: u }) } });
    const actor = createActor(m, { input: { scope: 'world' } }).start();
    await waitUntil(() => last.runs === 1);
    actor.send({ type: 'context.update', update: { scope: 'EU' }, by: 'ana' });
    last.open();
    const out = (await toPromise(actor)) as StepsOutput;
    expect(out.input).toEqual({ scope: 'EU' });
    expect(out.updates).toMatchObject([{ update: { scope: 'EU' }, by: 'ana', outcome: 'absorb', checkpoint: 'after the last step' }]);
  });

  it('redo re-opens done steps: the sequence goes back to the first and runs them again under the new input', async () => {
    const runs: string[] = [];
    const step = (name: string) => fromPromise(async ({ input }: { input: { input: Record<string, unknown> } }) => { runs.push(`${name}:${input.input.scope}`); return `${name}@${input.input.scope}`; }) as AnyActorLogic;
    const last = held('c');
    const m = durableSteps({
      id: 's',
      steps: [{ name: 'a', run: step('a') }, { name: 'b', run: step('b') }, { name: 'c', run: last.logic }],
      updates: { assess: (u, state, next) => ({ action: 'absorb', patch: u, redo: next === undefined ? [] : Object.keys(state.results) }) },
    });
    const actor = createActor(m, { input: { scope: 'world' } }).start();
    await waitUntil(() => last.runs === 1);
    actor.send({ type: 'context.update', update: { scope: 'EU' } }); // assessed after c, the last step: no redo there
    last.open();
    const out = (await toPromise(actor)) as StepsOutput;
    expect(out.updates).toMatchObject([{ outcome: 'absorb', checkpoint: 'after the last step' }]);
    expect(runs).toEqual(['a:world', 'b:world']);

    const again = held('c');
    const m2 = durableSteps({
      id: 's',
      steps: [{ name: 'a', run: step('a') }, { name: 'b', run: again.logic }, { name: 'c', run: step('c') }],
      updates: { assess: (u, state) => ({ action: 'absorb', patch: u, redo: Object.keys(state.results) }) },
    });
    runs.length = 0;
    const actor2 = createActor(m2, { input: { scope: 'world' } }).start();
    await waitUntil(() => again.runs === 1);
    actor2.send({ type: 'context.update', update: { scope: 'EU' } }); // assessed before c: redo a and b
    again.open();
    const out2 = (await toPromise(actor2)) as StepsOutput;
    expect(out2.updates).toMatchObject([{ outcome: 'absorb', checkpoint: 'before c', redo: ['a', 'b'] }]);
    expect(runs).toEqual(['a:world', 'a:EU', 'c:EU']);
    expect(again.runs).toBe(2);
    expect(out2.results).toEqual({ a: 'a@EU', b: 'c', c: 'c@EU' });
  });

  it('without an assessor, an update is recorded as ignored, with the reason', async () => {
    const a = held(1);
    const actor = createActor(durableSteps({ id: 'plain', steps: [{ name: 'a', run: a.logic }] }), { input: {} }).start();
    await waitUntil(() => a.runs === 1);
    actor.send({ type: 'context.update', update: { scope: 'EU' } });
    a.open();
    const out = (await toPromise(actor)) as StepsOutput;
    expect(out.updates).toMatchObject([{ outcome: 'ignore', reason: "the sequence 'plain' takes no context updates (no updates.assess)", checkpoint: 'after the last step' }]);
  });

  it('a sequence that fails before its next checkpoint records what was pending as ignored, saying why', async () => {
    let fail!: () => void;
    const gate = new Promise<void>((r) => (fail = r));
    let started = false;
    const m = durableSteps({
      id: 's',
      steps: [{ name: 'a', run: fromPromise(async () => { started = true; await gate; throw new Error('no'); }) as AnyActorLogic }, { name: 'b', run: ok(2) }],
      onFailure: () => ({ action: 'fail' }),
      updates: { assess: () => ({ action: 'absorb' }) },
    });
    const actor = createActor(m, { input: {} }).start();
    await waitUntil(() => started);
    actor.send({ type: 'context.update', update: { scope: 'EU' } });
    fail();
    const out = (await toPromise(actor)) as StepsOutput;
    expect(out.outcome).toBe('failed');
    expect(out.updates).toMatchObject([{ outcome: 'ignore', reason: 'the sequence failed before its next checkpoint', checkpoint: 'failed' }]);
  });

  it('a surfaced update with a deadline takes the default past it; one without a deadline waits, with no timer', async () => {
    const ask = (deadlineMs?: number) =>
      durableSteps({
        id: 's',
        steps: [{ name: 'a', run: ok(1) }, { name: 'b', run: ok(2) }],
        updates: { assess: () => ({ action: 'decide', question: 'EU?', options: ['absorb', 'ignore'], ...(deadlineMs !== undefined ? { deadlineMs, defaultOption: 'ignore' } : {}) }) },
      });
    const timed = createActor(ask(30), { input: {} }).start();
    timed.send({ type: 'context.update', update: { scope: 'EU' } }); // lands while a runs
    const out = (await toPromise(timed)) as StepsOutput;
    expect(out.updates).toMatchObject([{ outcome: 'ignore', reason: "answered 'ignore'", checkpoint: 'before b', decision: { choice: 'ignore', by: 'deadline', source: 'default' } }]);

    const open = createActor(ask(), { input: {} }).start();
    open.send({ type: 'context.update', update: { scope: 'EU' } });
    await waitUntil(() => open.getSnapshot().context.awaiting);
    expect(open.getSnapshot().value).toEqual({ step_1: 'awaiting' });
    expect(open.getSnapshot().context.awaiting?.deadline).toBeUndefined();
    open.send({ type: 'decision', decision: 'context.update', choice: 'absorb', by: 'ana' });
    const out2 = (await toPromise(open)) as StepsOutput;
    expect(out2.input).toEqual({ scope: 'EU' });
    expect(out2.updates).toMatchObject([{ outcome: 'absorb', checkpoint: 'before b', decision: { choice: 'absorb', by: 'ana', source: 'answer' } }]);
  });
});

describe('parallelAgents (in memory)', () => {
  it('detects a per-field conflict and reconciles by rule, keeping both originals', async () => {
    const m = parallelAgents({
      id: 'p',
      agents: { tech: ok({ verdict: 'go', cost: 1 }), reg: ok({ verdict: 'no-go', cost: 1 }) },
      detect: { kind: 'fields', fields: ['verdict', 'cost'] },
      reconcile: { kind: 'rule', name: 'regulation-wins', reconcile: (o) => o.reg },
    });
    const out = await toPromise(createActor(m, { input: {} }).start());
    expect(out).toMatchObject({
      originals: { tech: { verdict: 'go' }, reg: { verdict: 'no-go' } },
      conflict: { fields: ['verdict'], detectedBy: 'fields' },
      reconciled: { verdict: 'no-go' },
      decidedBy: 'rule:regulation-wins',
    });
  });

  it('no conflict: merged without reconciliation', async () => {
    const m = parallelAgents({ id: 'p', agents: { a: ok({ v: 1 }), b: ok({ v: 1 }) }, detect: { kind: 'fields', fields: ['v'] }, reconcile: { kind: 'rule', reconcile: () => 'x' } });
    const out = await toPromise(createActor(m, { input: {} }).start());
    expect(out).toMatchObject({ conflict: null, decidedBy: 'no-conflict', reconciled: { a: { v: 1 }, b: { v: 1 } } });
  });

  it('semantic judge and LLM reconciler run as actor logic', async () => {
    const m = parallelAgents({
      id: 'p',
      agents: { a: ok({ text: 'fast' }), b: ok({ text: 'safe' }) },
      detect: { kind: 'agent', judge: ok({ conflict: true, fields: ['text'], summary: 'speed vs safety' }) },
      reconcile: { kind: 'agent', name: 'llm', reconciler: ok({ text: 'fast where safe' }) },
    });
    const out = await toPromise(createActor(m, { input: {} }).start());
    expect(out).toMatchObject({ conflict: { summary: 'speed vs safety', detectedBy: 'agent' }, reconciled: { text: 'fast where safe' }, decidedBy: 'agent:llm' });
  });

  it('human reconciliation waits for a decision', async () => {
    const m = parallelAgents({ id: 'p', agents: { a: ok({ v: 1 }), b: ok({ v: 2 }) }, detect: { kind: 'fields', fields: ['v'] }, reconcile: { kind: 'human' } });
    const actor = createActor(m, { input: {} }).start();
    const asked = await waitFor(actor, (s) => s.context.awaiting !== undefined, { timeout: 5000 });
    expect(asked.value).toBe('reconciling');
    expect(asked.context.awaiting).toMatchObject({ decision: 'reconcile', options: ['a', 'b'] });
    actor.send({ type: 'decision', decision: 'reconcile', choice: 'c', by: 'x' }); // not an option: ignored
    expect(actor.getSnapshot().status).toBe('active');
    actor.send({ type: 'decision', decision: 'reconcile', choice: 'b', by: 'ana' });
    const out = await toPromise(actor);
    expect(out).toMatchObject({ reconciled: { v: 2 }, decidedBy: 'human:ana', originals: { a: { v: 1 }, b: { v: 2 } } });
  });
});

describe('decisionPoint (in memory)', () => {
  it('takes the default at the deadline', async () => {
    const m = decisionPoint({ decision: 'go', question: 'Go?', options: ['yes', 'no'], deadlineMs: 30, onTimeout: { default: 'no' } });
    const out = await toPromise(createActor(m, { input: {} }).start());
    expect(out).toMatchObject({ choice: 'no', source: 'default', escalated: false });
  });
  it('escalates, then takes the default', async () => {
    const m = decisionPoint({ decision: 'go', question: 'Go?', options: ['yes', 'no'], deadlineMs: 20, onTimeout: { escalate: { deadlineMs: 20, default: 'yes' } } });
    const out = await toPromise(createActor(m, { input: {} }).start());
    expect(out).toMatchObject({ choice: 'yes', source: 'default', escalated: true });
  });
  it('an answer before the deadline wins', async () => {
    const m = decisionPoint({ decision: 'go', question: 'Go?', options: ['yes', 'no'], deadlineMs: 10_000 });
    const actor = createActor(m, { input: {} }).start();
    actor.send({ type: 'decision', decision: 'go', choice: 'yes', by: 'bo' });
    expect(await toPromise(actor)).toMatchObject({ choice: 'yes', by: 'bo', source: 'answer' });
  });
});
