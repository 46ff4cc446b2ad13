// Tasks that start and message tasks, in one process: fromTask children are
// tasks of their own (a view naming the parent), their outputs complete the
// invoke, a stop cascades, bad input is an onError, and sendToTask delivers
// once, with the sender's id, or records why not.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createRuntime, fromAgent, parallelAgents, parallelAgentTasks } from '../src/index.js';
import { Keys } from '../src/persistence/keys.js';
import { leafWithOneAttempt, taskMachines } from './fixtures/task-machines.js';
import { redisUrl, uniquePrefix, waitUntil } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

const baton = useBaton();
const square = async ({ input }: { input: { n: number } }) => ({ sq: input.n * input.n });

describe('child tasks (fromTask)', () => {
  it('a parent starts child tasks; each is a task of its own that names the parent; their outputs complete the invokes', async () => {
    const prefix = uniquePrefix('ctask');
    const rt = await baton.runtime(prefix, { machines: taskMachines(5), agents: { square } });
    const parent = await rt.spawn('fanout', { id: 'fan' });
    const done = await parent.waitFor((v) => v.status !== 'active', { timeout: 15_000 });
    expect(done.status).toBe('done');
    const out = done.output as { results: Record<string, { n: number; sq: number }>; errors: Record<string, unknown> };
    expect(out.errors).toEqual({});
    expect(Object.keys(out.results)).toHaveLength(5);
    for (let i = 0; i < 5; i++) expect(out.results[i]).toEqual({ n: i, sq: i * i });
    const kids = await rt.list({ parent: 'fan' });
    expect(kids).toHaveLength(5);
    for (const k of kids) {
      expect(k.status).toBe('done');
      expect(k.machine).toBe('leaf');
      expect(k.parent).toBe('fan');
    }
    // Each child's id is derived from the parent, the commit and the child's path: no ':' (BullMQ job ids).
    expect(kids.map((k) => k.id).every((id) => id.startsWith('fan.1.') && !id.includes(':'))).toBe(true);
  });

  it('stopping the parent stops every child task, and each child ends stopped', async () => {
    const prefix = uniquePrefix('ctask-stop');
    const rt = await baton.runtime(prefix, { machines: taskMachines(), agents: { square } });
    await rt.spawn('stopFanout', { id: 'sf' });
    await waitUntil(async () => (await rt.list({ parent: 'sf' })).filter((k) => k.seq >= 1).length === 3, { timeout: 10_000, message: 'three running children' });
    await rt.stop('sf', { timeout: 10_000 });
    for (const k of await rt.list({ parent: 'sf' })) {
      const v = await rt.waitFor(k.id, (x) => x.status !== 'active', { timeout: 10_000 });
      expect(v.status).toBe('stopped');
    }
  });

  it('a stop whose delivery to a child fails keeps the parent due; the sweep that finds it ended stops the child', async () => {
    const prefix = uniquePrefix('ctask-stop-due');
    const rt = await baton.runtime(prefix, { machines: taskMachines(), agents: { square }, leaseMs: 500 });
    await rt.spawn('stopFanout', { id: 'sd' });
    await waitUntil(async () => (await rt.list({ parent: 'sd' })).filter((k) => k.seq >= 1).length === 3, { timeout: 10_000, message: 'three running children' });
    const kids = (await rt.list({ parent: 'sd' })).map((k) => k.id).sort();
    // The stop of child t0 fails in Redis (its idempotency key is a key of the wrong type): the others are stopped.
    const keys = new Keys(prefix);
    const bad = keys.task(kids[0]!).idemPrefix + `stop-${kids[0]}`;
    await baton.redis.hset(bad, 'x', '1');
    await rt.stop('sd', { timeout: 10_000 });
    for (const id of kids.slice(1)) expect((await rt.waitFor(id, (v) => v.status !== 'active', { timeout: 10_000 })).status).toBe('stopped');
    expect((await rt.get(kids[0]!))!.status).toBe('active');
    // The parent stays due, so a sweep looks at it again.
    expect(await baton.redis.zscore(keys.due, 'sd')).not.toBeNull();
    await baton.redis.del(bad);
    expect((await rt.waitFor(kids[0]!, (v) => v.status !== 'active', { timeout: 15_000 })).status).toBe('stopped');
    await waitUntil(async () => (await baton.redis.zscore(keys.due, 'sd')) === null, { timeout: 10_000, message: 'the parent to leave the due set' });
  });

  it('a parent restored with running child tasks does not create them again (its release dropped the committed spawns)', async () => {
    const prefix = uniquePrefix('ctask-restore');
    const rt1 = await createRuntime({ connection: redisUrl(), prefix, machines: taskMachines(), agents: { square } });
    await rt1.spawn('stopFanout', { id: 'rs' });
    await waitUntil(async () => (await rt1.list({ parent: 'rs' })).filter((k) => k.seq >= 1).length === 3, { timeout: 10_000, message: 'three running children' });
    expect(await baton.redis.hget(`${prefix}:task:{rs}:state`, 'o')).not.toBeNull();
    await rt1.close(); // releases the parent: the spawns it kept are done, and dropped
    expect(await baton.redis.hget(`${prefix}:task:{rs}:state`, 'o')).toBeNull();
    // Child t2 goes away; a restore that spawned the parent's active children again would bring it back.
    await baton.redis.del(`${prefix}:task:{rs.1.t2}:state`);
    const rt2 = await baton.runtime(prefix, { machines: taskMachines(), agents: { square } });
    await rt2.send('rs.1.t0', { type: 'finish' });
    await rt2.waitFor('rs', (v) => (v.context as { results: Record<string, unknown> }).results[0] !== undefined, { timeout: 10_000 });
    expect((await rt2.list({ parent: 'rs' })).map((k) => k.id).sort()).toEqual(['rs.1.t0', 'rs.1.t1']);
  });

  it('a stop cascades down a chain of child tasks, each task stopping its own', async () => {
    const prefix = uniquePrefix('ctask-chain');
    const rt = await baton.runtime(prefix, { machines: taskMachines() });
    await rt.spawn('chain', { id: 'ch', input: { depth: 3 } });
    const chainIds = async () => {
      const ids = ['ch'];
      for (;;) {
        const kids = await rt.list({ parent: ids.at(-1)! });
        if (kids.length !== 1) return ids;
        ids.push(kids[0]!.id);
      }
    };
    await waitUntil(async () => (await chainIds()).length === 4 && (await rt.get((await chainIds())[3]!))!.value === 'last', { timeout: 10_000, message: 'a chain of 4 tasks' });
    const ids = await chainIds();
    await rt.stop('ch', { timeout: 10_000 });
    for (const id of ids.slice(1)) expect((await rt.waitFor(id, (v) => v.status !== 'active', { timeout: 10_000 })).status).toBe('stopped');
  });

  it('leaving the invoking state stops that child task only', async () => {
    const prefix = uniquePrefix('ctask-leave');
    const rt = await baton.runtime(prefix, { machines: taskMachines(), agents: { square } });
    await rt.spawn('stopFanout', { id: 'lv' });
    await waitUntil(async () => (await rt.list({ parent: 'lv' })).filter((k) => k.seq >= 1).length === 3, { timeout: 10_000, message: 'three running children' });
    const kids = (await rt.list({ parent: 'lv' })).map((k) => k.id).sort();
    // Child 0 finishes; the parent's region 0 leaves its state (done), the other two keep running.
    const first = kids.find((id) => id.endsWith('t0'))!;
    await rt.send(first, { type: 'finish' });
    await rt.waitFor('lv', (v) => (v.context as { results: Record<string, unknown> }).results[0] !== undefined, { timeout: 10_000 });
    for (const id of kids.filter((k) => k !== first)) expect((await rt.get(id))!.status).toBe('active');
    await rt.stop('lv', { timeout: 10_000 });
  });

  it('an unknown machine is an onError with UNKNOWN_MACHINE; a chain past maxTaskDepth one with TASK_DEPTH', async () => {
    const prefix = uniquePrefix('ctask-bad');
    const rt = await baton.runtime(prefix, { machines: taskMachines(), agents: { square }, maxTaskDepth: 4 });
    const unknown = await (await rt.spawn('unknownChild', { id: 'uk' })).waitFor((v) => v.status !== 'active', { timeout: 10_000 });
    expect((unknown.output as { errors: Record<string, { name: string }> }).errors[0]!.name).toBe('UNKNOWN_MACHINE');
    expect(await rt.list({ parent: 'uk' })).toEqual([]);

    const top = await (await rt.spawn('recurse', { id: 'deep' })).waitFor((v) => v.status !== 'active', { timeout: 15_000 });
    expect(top.status).toBe('done');
    // deep → 4 children below it; the 5th level is refused, and each level above finishes in turn.
    let id = 'deep';
    let levels = 0;
    for (;;) {
      const kids = await rt.list({ parent: id });
      if (kids.length === 0) break;
      expect(kids).toHaveLength(1);
      id = kids[0]!.id;
      levels++;
    }
    expect(levels).toBe(4);
    const deepest = await rt.get(id);
    expect((deepest!.output as { error: { name: string } }).error.name).toBe('TASK_DEPTH');
  });

  it('maxTaskDepth that is not a number of at least 1 is INVALID_OPTIONS', async () => {
    for (const bad of [0, -1, Number.NaN, '3' as unknown as number]) {
      await expect(createRuntime({ connection: redisUrl(), prefix: uniquePrefix('ctask-opt'), machines: taskMachines(), maxTaskDepth: bad })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    }
  });

  it('a child that fails is started again as a new task, up to `attempts`', async () => {
    const prefix = uniquePrefix('ctask-retry');
    let calls = 0;
    const flaky = async ({ input }: { input: { n: number } }) => {
      if (++calls <= 2) throw new Error(`flaky ${calls}`);
      return { sq: input.n * input.n };
    };
    // The leaf's agent has 3 attempts of its own; the child task fails only when they are spent, so make them 1.
    const { fanout, leaf } = await import('./fixtures/task-machines.js');
    const rt = await baton.runtime(prefix, { machines: { fanout: fanout(1, 'leaf', { attempts: 3, backoffMs: 100 }), leaf: leafWithOneAttempt(leaf) }, agents: { square: flaky }, leaseMs: 500 });
    const done = await (await rt.spawn('fanout', { id: 'rt' })).waitFor((v) => v.status !== 'active', { timeout: 20_000 });
    expect((done.output as { results: Record<string, unknown> }).results[0]).toEqual({ n: 0, sq: 0 });
    const kids = (await rt.list({ parent: 'rt' })).map((k) => [k.id.replace(/^rt\.1\./, ''), k.status]).sort();
    expect(kids).toEqual([
      ['t0', 'error'],
      ['t0.r2', 'error'],
      ['t0.r3', 'done'],
    ]);
  });
});

describe('supervision (docs/patterns/child-tasks.md)', () => {
  it('the pattern page shows the supervisor machine as it is', () => {
    const src = readFileSync('test/fixtures/task-machines.ts', 'utf8');
    const code = src.slice(src.indexOf('export const supervisor'), src.indexOf('output: ({ context }) => context,\n});', src.indexOf('export const supervisor')));
    expect(code.length).toBeGreaterThan(200);
    expect(readFileSync('docs/patterns/child-tasks.md', 'utf8')).toContain(code);
  });

  it('restarts a failing child twice after a pause, then routes around it; a child that recovers finishes the first way', async () => {
    const prefix = uniquePrefix('ctask-sup');
    let calls = 0;
    const flaky = async ({ input }: { input: { n: number } }) => {
      calls++;
      if (input.n === 0) throw new Error('always fails');
      if (calls <= 2) throw new Error('fails twice');
      return { sq: input.n * input.n };
    };
    const { leaf } = await import('./fixtures/task-machines.js');
    const rt = await baton.runtime(prefix, { machines: { ...taskMachines(), leaf: leafWithOneAttempt(leaf) }, agents: { square: flaky } });
    const recovered = await (await rt.spawn('supervisor', { id: 'sup1', input: { n: 3 } })).waitFor((v) => v.status !== 'active', { timeout: 15_000 });
    expect(recovered.output).toMatchObject({ restarts: 2, via: 'primary', result: { n: 3, sq: 9 } });
    expect((await rt.list({ parent: 'sup1' })).map((k) => k.status).sort()).toEqual(['done', 'error', 'error']);

    const around = await rt.spawn('supervisor', { id: 'sup2', input: { n: 0 } });
    await waitUntil(async () => (await rt.list({ parent: 'sup2' })).some((k) => k.machine === 'waiter' && k.seq >= 1), { timeout: 15_000, message: 'the fallback child' });
    const fallback = (await rt.list({ parent: 'sup2' })).find((k) => k.machine === 'waiter')!;
    await rt.send(fallback.id, { type: 'finish' });
    const v = await around.waitFor((x) => x.status !== 'active', { timeout: 10_000 });
    expect(v.output).toMatchObject({ restarts: 2, via: 'fallback', result: { n: -1 } });
  });
});

describe('parallelAgents({ asTasks })', () => {
  it('runs each agent as a child task and reconciles their outputs as before', async () => {
    const prefix = uniquePrefix('ctask-pa');
    const agents = { technical: fromAgent('technical'), regulatory: fromAgent('regulatory') };
    const opts = { id: 'review', agents, detect: { kind: 'fields' as const, fields: ['verdict'] }, reconcile: { kind: 'rule' as const, name: 'strict', reconcile: () => ({ verdict: 'no' }) } };
    const rt = await baton.runtime(prefix, {
      machines: { review: parallelAgents({ ...opts, asTasks: true }), ...parallelAgentTasks(opts) },
      agents: { technical: async () => ({ verdict: 'yes' }), regulatory: async () => ({ verdict: 'no' }) },
    });
    const done = await (await rt.spawn('review', { id: 'rv', input: { doc: 'x' } })).waitFor((v) => v.status !== 'active', { timeout: 15_000 });
    expect(done.output).toMatchObject({
      originals: { technical: { verdict: 'yes' }, regulatory: { verdict: 'no' } },
      conflict: { fields: ['verdict'], detectedBy: 'fields' },
      reconciled: { verdict: 'no' },
      decidedBy: 'rule:strict',
    });
    const kids = await rt.list({ parent: 'rv' });
    expect(kids.map((k) => k.machine).sort()).toEqual(['review-agent-regulatory', 'review-agent-technical']);
    expect(kids.every((k) => k.status === 'done')).toBe(true);
  });
});

describe('sendToTask', () => {
  it('ping-pong between two tasks 1,000 times: every event once, in order, each carrying its sender as origin', async () => {
    const prefix = uniquePrefix('ctask-pp');
    const rt = await baton.runtime(prefix, { machines: taskMachines() });
    await rt.spawn('ponger', { id: 'pong' });
    const ping = await rt.spawn('pinger', { id: 'ping', input: { peer: 'pong', max: 1000 } });
    const done = await ping.waitFor((v) => v.status !== 'active', { timeout: 30_000 });
    expect(done.output).toEqual({ n: 1000, outOfOrder: 0 });
    const p = await rt.get('pong');
    expect(p!.context).toEqual({ seen: 1000, outOfOrder: 0, from: 'ping' });
    // The committed outbox (`o`) is no part of the state: no history entry keeps its undo.
    const raw = await baton.redis.lrange(`${prefix}:task:{ping}:history`, 0, -1);
    expect(raw.length).toBeGreaterThan(1000);
    expect(raw.filter((e) => e.includes('"o"'))).toEqual([]);
  });

  it('a send to a task that does not exist is recorded as baton.send.failed, sent back when asked, and the sender carries on', async () => {
    const prefix = uniquePrefix('ctask-fail');
    const rt = await baton.runtime(prefix, { machines: taskMachines() });
    const s = await rt.spawn('sender', { id: 'snd', input: { to: 'nobody' } });
    await s.send({ type: 'go' });
    const v = await s.waitFor((x) => (x.context as { failures: unknown[] }).failures.length === 1, { timeout: 10_000 });
    expect(v.status).toBe('active');
    const f = (v.context as { failures: Array<Record<string, unknown>> }).failures[0]!;
    expect(f).toMatchObject({ type: 'baton.send.failed', target: 'nobody', eventType: 'hello', code: 'TASK_NOT_FOUND' });
    expect((await s.history()).some((h) => h.event.type === 'baton.send.failed')).toBe(true);
  });

  it('a send to a task that has ended fails with TASK_NOT_RUNNING; without replyOnFailure it is only recorded', async () => {
    const prefix = uniquePrefix('ctask-fail2');
    const rt = await baton.runtime(prefix, { machines: taskMachines() });
    await rt.spawn('ponger', { id: 'gone' });
    await rt.send('gone', { type: 'finish' });
    await rt.waitFor('gone', (v) => v.status === 'done', { timeout: 10_000 });
    const s = await rt.spawn('sender', { id: 'snd2', input: { to: 'gone' } });
    await s.send({ type: 'go' });
    const v = await s.waitFor((x) => (x.context as { failures: unknown[] }).failures.length === 1, { timeout: 10_000 });
    expect((v.context as { failures: Array<Record<string, unknown>> }).failures[0]).toMatchObject({ target: 'gone', code: 'TASK_NOT_RUNNING' });

    // The pinger's sends do not ask for a reply: the failure is in its history, and the machine never sees it.
    const p = await rt.spawn('pinger', { id: 'lonely', input: { peer: 'nobody', max: 3 } });
    await waitUntil(async () => (await p.history()).some((h) => h.event.type === 'baton.send.failed'), { timeout: 10_000, message: 'the failure to be recorded' });
    const failed = (await p.history()).find((h) => h.event.type === 'baton.send.failed')!;
    expect(failed.event).toMatchObject({ target: 'nobody', eventType: 'ping', code: 'TASK_NOT_FOUND', notify: false });
    expect([failed.from, failed.to]).toEqual(['playing', 'playing']);
    expect((await p.get())!.status).toBe('active');
  });
});
