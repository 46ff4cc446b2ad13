// Tasks written in storage format 1 (the whole XState snapshot in the state
// hash, history as one stream entry per commit) still restore, and are
// upgraded in place by their next commit. The fixture (test/fixtures/format-1/,
// captured once by its generate.ts from the code of `generatedWith.commit`)
// is written raw under a fresh prefix; everything after that goes through
// the public API only.
import { Keys } from '../src/persistence/keys.js';
import { describe, expect, it } from 'vitest';
import { ManualClock, type BatonClient, type Clock, type Runtime, type TaskView } from '../src/index.js';
import { FIXTURE_NAMES, loadFixture, readFixture, type FixtureName, type FormatOneFixture } from './fixtures/format-1/fixture.ts';
import { formatOneMachines, lookupRuns } from './fixtures/format-1/machines.ts';
import { uniquePrefix } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

const baton = useBaton();
const fixtures = Object.fromEntries(FIXTURE_NAMES.map((n) => [n, readFixture(n)])) as Record<FixtureName, FormatOneFixture>;

interface Loaded {
  f: FormatOneFixture;
  prefix: string;
  id: string;
  runtime: Runtime;
  /** A client without the machines: it checks sends against the registry only, as a web server would. */
  client: BatonClient;
}

function startRuntime(prefix: string, clock?: Clock): Promise<Runtime> {
  return baton.runtime(prefix, { machines: formatOneMachines, leaseMs: 1000, ...(clock ? { clock } : {}) });
}

/**
 * Write a fixture raw under a fresh prefix, then start a runtime on it (its
 * registry entry is what keeps the views from being flagged unserved).
 * Nothing wakes the task until the test sends it something or its timer
 * falls due by `clock`.
 */
async function load(name: FixtureName, clock?: Clock): Promise<Loaded> {
  const f = fixtures[name];
  const prefix = uniquePrefix(`format1-${name}`);
  await loadFixture(baton.redis, prefix, f);
  const runtime = await startRuntime(prefix, clock);
  return { f, prefix, id: f.taskId, runtime, client: baton.client(prefix) };
}

/** The view and history read exactly as they were recorded when the fixture was taken. */
async function readsAsRecorded({ f, id, client }: Loaded): Promise<void> {
  expect(await client.get(id)).toEqual(f.expectedView);
  expect(await client.history(id)).toEqual(f.expectedHistory);
}

/** The recorded history is still there, unchanged, followed by new commits numbered on from it. */
async function historyContinues({ f, id, client }: Loaded, newEntries: number): Promise<void> {
  const h = await client.history(id);
  expect(h.slice(0, f.expectedHistory.length)).toEqual(f.expectedHistory);
  expect(h).toHaveLength(f.expectedHistory.length + newEntries);
  expect(h.map((e) => e.seq)).toEqual(Array.from({ length: h.length }, (_, i) => i + 1));
}

type Intake = { topic: string; owner: string; notes: string[]; tags: string[]; counts: { notes: number; tags: number }; meta: Record<string, string> };
type Crew = { project: string; lookedUp: unknown };

describe('format 1 (snapshot in the state hash, history as a stream): restored and upgraded in place', () => {
  it('the fixture is what it says: every task released (no lease), the timer pending, the done task done, a refusal recorded', () => {
    for (const f of Object.values(fixtures)) {
      expect(Object.keys(f.keys).some((k) => k.endsWith(':lease')), `${f.name}: lease`).toBe(false);
      expect(f.keys.tasks).toEqual({ type: 'zset', members: [[f.taskId, f.expectedView.createdAt]] });
      expect(f.keys[`task:{${f.taskId}}:state`]?.type).toBe('hash');
    }
    const { waiting, children, done, refused } = fixtures;
    expect(waiting.expectedView.timers).toHaveLength(1);
    expect(waiting.keys.due).toEqual({ type: 'zset', members: [[waiting.taskId, waiting.expectedView.timers[0]!.dueAt]] });
    expect(waiting.expectedView.timers[0]!.dueAt).toBeGreaterThan(waiting.takenAt);
    expect(children.expectedView.children.lookup?.status).toBe('done');
    expect(done.expectedView.status).toBe('done');
    expect(refused.expectedView.rejections).toHaveLength(1);
  });

  it('all four restored under one prefix: listed from the index, newest first, each view as recorded', async () => {
    const prefix = uniquePrefix('format1-all');
    for (const f of Object.values(fixtures)) await loadFixture(baton.redis, prefix, f);
    await startRuntime(prefix, new ManualClock(fixtures.waiting.takenAt));
    const listed = await baton.client(prefix).list();
    const expected = Object.values(fixtures)
      .map((f) => f.expectedView)
      .sort((a, b) => b.createdAt - a.createdAt);
    expect(listed).toEqual(expected);
  });

  it('(a) a waiting task: its event continues it, its pending timer is re-committed as it was, an idempotency key still holds, and a restart restores the upgraded task', async () => {
    // The runtime's clock resumes where the fixture was taken, so the 20-day timer is as far off as it was.
    const clock = new ManualClock(fixtures.waiting.takenAt);
    const t = await load('waiting', clock);
    const { f, id, client } = t;
    await readsAsRecorded(t);
    const before = f.expectedView;
    const ctx = before.context as Intake;

    // A resend under the idempotency key of an event already applied is a duplicate of that entry.
    const again = await client.send(id, { type: 'tag', tag: 'permits' }, { idempotencyKey: String(f.facts.idempotencyKey) });
    expect(again).toEqual({ entryId: f.facts.idempotentEntryId, duplicate: true });

    // The event it waits for in its state applies to the restored context.
    await client.send(id, { type: 'note', text: 'permit form filed' }, { wait: 'applied' });
    const noted = (await client.get(id))!;
    expect(noted.value).toEqual({ collecting: 'ready' });
    expect(noted.context).toEqual({ ...ctx, notes: [...ctx.notes, 'permit form filed'], counts: { ...ctx.counts, notes: ctx.counts.notes + 1 } });
    expect(noted.seq).toBe(before.seq + 1);
    // The timer restored from format 1 was re-armed and committed again: same actor, event, id and deadline.
    expect(noted.timers).toEqual(before.timers);
    expect(noted.createdAt).toBe(before.createdAt);
    expect(noted.rejections).toBeUndefined();
    await historyContinues(t, 1);
    expect((await client.history(id)).at(-1)).toMatchObject({ seq: before.seq + 1, event: { type: 'note', text: 'permit form filed' }, from: { collecting: 'ready' }, to: { collecting: 'ready' } });
    // Its first commit rewrote it in format 2: the parts replace the snapshot field, the history is a list.
    const keys = new Keys(t.prefix).task(id);
    const stored = await baton.redis.hgetall(keys.state);
    expect(stored.format).toBe('2');
    expect(stored.snapshot).toBeUndefined();
    expect(Object.keys(stored).filter((f) => f.startsWith('x::')).sort()).toEqual(Object.keys(ctx).map((k) => `x::${k}`).sort());
    expect(await baton.redis.type(keys.history)).toBe('list');
    // The commit after the upgrade can be rebuilt from its history: the tree as it was at the upgrade commit.
    expect((await client.persisted(id, { seq: before.seq + 1 }))?.context).toEqual(noted.context);

    // Upgraded in place: a new runtime restores what the first one committed, and the task goes on.
    await t.runtime.close();
    const next = await startRuntime(t.prefix, clock);
    await client.send(id, { type: 'submit' }, { wait: 'applied' });
    const submitted = (await client.get(id))!;
    expect(submitted.value).toBe('review');
    expect(submitted.timers).toEqual([]); // leaving `collecting` cancelled the reminder
    expect(submitted.context).toEqual(noted.context);
    await next.send(id, { type: 'approve' });
    const approved = await client.waitFor(id, (v) => v.status !== 'active', { timeoutMs: 10_000 });
    expect(approved).toMatchObject({ status: 'done', value: 'approved', output: { topic: ctx.topic, notes: ctx.notes.length + 1 } });
    await historyContinues(t, 3);
  });

  it('(a) the pending timer of a passivated task fires at its recorded deadline', async () => {
    const clock = new ManualClock(fixtures.waiting.takenAt);
    const t = await load('waiting', clock);
    const { f, id, client } = t;
    await readsAsRecorded(t);
    const timer = f.expectedView.timers[0]!;
    // No process holds the task: only its entry in the due set (from the fixture) can wake it.
    clock.set(timer.dueAt);
    const fired = await client.waitFor(id, (v) => v.status !== 'active', { timeoutMs: 15_000 });
    expect(fired).toMatchObject({ status: 'done', value: 'expired', timers: [], context: f.expectedView.context });
    await historyContinues(t, 1);
    const last = (await client.history(id)).at(-1)!;
    expect(last).toMatchObject({ event: { type: timer.event.type }, from: { collecting: 'ready' }, to: 'expired' });
    expect(last.at).toBeGreaterThanOrEqual(timer.dueAt);
  });

  it('(b) children restore: the machine child and its grandchildren go on with their context, the finished promise child stays done and does not run again', async () => {
    lookupRuns.count = 0;
    const t = await load('children');
    const { f, id, client } = t;
    await readsAsRecorded(t);
    const before = f.expectedView;
    const lead = before.children.lead!;
    const ana = lead.children!.ana!;

    await client.send(id, { type: 'lead.bump', item: 'check the budget' }, { wait: 'applied' });
    const bumped = await client.waitFor(id, (v) => (v.children.lead?.children?.ana?.context as { items?: string[] } | undefined)?.items?.length === 2, {
      timeoutMs: 10_000,
    });
    expect(bumped.value).toBe('staffing');
    expect(bumped.context).toEqual(before.context);
    expect(bumped.children.lead).toMatchObject({ status: 'active', src: 'lead', value: 'leading', context: { ...(lead.context as object), bumps: 2 } });
    expect(bumped.children.lead!.children!.ana).toEqual({ ...ana, context: { name: 'ana', items: [...(ana.context as { items: string[] }).items, 'check the budget'] } });
    expect(bumped.children.lead!.children!.ben).toEqual(lead.children!.ben);
    expect(bumped.children.lookup).toEqual(before.children.lookup);
    expect(lookupRuns.count).toBe(0);
    await historyContinues(t, 1);

    await client.send(id, { type: 'disband' });
    const ended = await client.waitFor(id, (v) => v.status !== 'active', { timeoutMs: 10_000 });
    expect(ended).toMatchObject({ status: 'done', value: 'disbanded', output: { project: (before.context as Crew).project, lookedUp: (before.context as Crew).lookedUp } });
    expect(lookupRuns.count).toBe(0);
  });

  it('(c) a done task stays done with its output: it accepts no event and nothing is written', async () => {
    const t = await load('done');
    const { f, id, client } = t;
    await readsAsRecorded(t);
    expect(f.expectedView).toMatchObject({ status: 'done', value: 'placed' });
    expect(f.expectedView.output).toEqual({ customer: 'acme', items: [{ sku: 'bolt-m8', qty: 40 }, { sku: 'nut-m8', qty: 40 }], total: 14 });
    const err = await client.send(id, { type: 'add', sku: 'washer', qty: 1, price: 1 }).then(
      () => undefined,
      (e: unknown) => e as { code?: string },
    );
    expect(err?.code).toBe('TASK_NOT_RUNNING');
    const view = await t.runtime.waitFor(id, (v) => v.status === 'done', { timeoutMs: 5000 });
    expect(view).toEqual(f.expectedView);
    await readsAsRecorded(t);
  });

  it('(d) a task with a refused event: the refusal is kept through its next commits, and a new refusal is added after it', async () => {
    const t = await load('refused');
    const { f, id, client } = t;
    await readsAsRecorded(t);
    const before = f.expectedView;
    const recorded = before.rejections!;
    expect(recorded[0]).toMatchObject({ type: 'comment', reason: expect.stringMatching(/blank/) });

    await client.send(id, { type: 'comment', text: 'approved by legal' }, { wait: 'applied' });
    const commented = (await client.get(id))!;
    expect(commented.context).toEqual({ comments: [...(before.context as { comments: string[] }).comments, 'approved by legal'] });
    expect(commented.rejections).toEqual(recorded);

    const err = await client.send(id, { type: 'comment', text: ' \t ' }, { wait: 'applied' }).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err?.code).toBe('INVALID_EVENT');
    // `wait: 'applied'` rejected once the refusal was committed: the view has it now.
    const refusedAgain = (await client.get(id))!;
    expect(refusedAgain.rejections).toHaveLength(2);
    expect(refusedAgain.rejections![0]).toEqual(recorded[0]);
    expect(refusedAgain.rejections![1]).toMatchObject({ type: 'comment', reason: expect.stringMatching(/blank/), seq: before.seq + 2 });
    expect(refusedAgain.context).toEqual(commented.context);
    await historyContinues(t, 2);

    await client.send(id, { type: 'close' });
    const closed: TaskView = await client.waitFor(id, (v) => v.status !== 'active', { timeoutMs: 10_000 });
    expect(closed).toMatchObject({ status: 'done', value: 'closed', context: commented.context });
  });
});
