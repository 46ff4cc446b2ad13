import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, ManualClock, type Runtime } from '../src/index.js';
import { patternAgents, patternMachines } from './fixtures/patterns.js';
import { redisUrl, runChild, uniquePrefix, waitUntil, type ChildHandle } from './helpers/index.js';

// Each orchestration pattern driven through real Redis, with the process that
// runs it SIGKILLed in the middle and another runtime finishing the job.
describe('patterns through Redis, with a crash in the middle', () => {
  let redis: Redis;
  const children: ChildHandle[] = [];
  const runtimes: Runtime[] = [];
  beforeAll(() => {
    redis = new Redis(redisUrl());
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.kill('SIGKILL')));
    await Promise.all(runtimes.splice(0).map((r) => r.close()));
  });
  afterAll(async () => {
    await redis.quit();
  });

  async function crashAfter(prefix: string, machine: string, id: string, input: unknown, stall: string | undefined, until: () => Promise<unknown>) {
    const child = runChild('test/procs/pattern-runtime.ts', {
      env: { REDIS_URL: redisUrl(), BATON_PREFIX: prefix, SPAWN_MACHINE: machine, SPAWN_ID: id, SPAWN_INPUT: JSON.stringify(input ?? null), ...(stall ? { PATTERN_STALL: stall } : {}) },
    });
    children.push(child);
    await child.waitForJson((o) => o.spawned === id, 20_000);
    await waitUntil(until, { timeout: 15_000, message: 'the crash point was not reached' });
    await child.kill('SIGKILL');
    return child.pid;
  }

  async function survivor(prefix: string, gate?: string) {
    const rt = await createRuntime({ connection: redisUrl(), prefix, machines: patternMachines, agents: patternAgents(redis, prefix, undefined, gate), leaseMs: 600, agentLockMs: 800 });
    runtimes.push(rt);
    return rt;
  }

  it('durable steps: killed during step b; b and a are compensated in reverse after c fails; a ran once', async () => {
    const prefix = uniquePrefix('saga');
    await crashAfter(prefix, 'saga', 'saga-1', {}, 'b', async () => redis.get(`${prefix}:stalled:b`));
    const rt = await survivor(prefix);
    const v = await rt.waitFor('saga-1', (v) => v.status === 'done', { timeout: 20_000 });
    expect(v.output).toMatchObject({ outcome: 'failed', compensated: ['b', 'a'], results: { a: { name: 'a' }, b: { name: 'b' } } });
    expect(await redis.lrange(`${prefix}:undone`, 0, -1)).toEqual(['b', 'a']);
    expect(await redis.get(`${prefix}:exec:a`)).toBe('1'); // committed before the crash: not re-run
    expect(Number(await redis.get(`${prefix}:exec:b`))).toBe(2); // in flight at the crash: re-driven once
    expect(await redis.get(`${prefix}:exec:c`)).toBe('1');
  });

  it('context update: sent while a step is in flight and its process dies; decided at the checkpoint; absorbed', async () => {
    const prefix = uniquePrefix('rescope');
    await crashAfter(prefix, 'rescoped', 'r-1', { scope: 'global' }, 's1', async () => redis.get(`${prefix}:stalled:s1`));
    const client = await survivor(prefix, 's1'); // resumes s1 (re-driven, held at a gate) once the dead lease lapses
    await client.send('r-1', { type: 'context.update', update: { scope: 'EU' }, by: 'ana' });
    await waitUntil(async () => (await client.history('r-1')).some((h) => h.event.type === 'context.update'), { timeout: 20_000, message: 'the update to be applied' });
    await redis.set(`${prefix}:open:s1`, '1'); // s1 finishes only now: the update came while it was in flight
    const asking = await client.waitFor('r-1', (v) => !!v.awaiting, { timeout: 20_000 });
    expect(asking.awaiting).toMatchObject({ decision: 'context.update', question: 'Use scope EU?', options: ['absorb', 'ignore'] });
    expect(asking.status).toBe('active');
    await client.send('r-1', { type: 'decision', decision: 'context.update', choice: 'absorb', by: 'ana' });
    const v = await client.waitFor('r-1', (v) => v.status === 'done', { timeout: 20_000 });
    const out = v.output as { results: Record<string, { scope: string }>; decisions: unknown[]; input: { scope: string } };
    expect(out.results.s1!.scope).toBe('global');
    expect(out.results.s2!.scope).toBe('EU');
    expect(out.results.s3!.scope).toBe('EU');
    expect(out.input.scope).toBe('EU');
    expect(out.decisions).toMatchObject([{ decision: 'context.update', choice: 'absorb', by: 'ana', source: 'answer' }]);
  });

  it('parallel agents: conflict awaits a person; the process dies while waiting; the answer is applied elsewhere', async () => {
    const prefix = uniquePrefix('conflict');
    const probe = await survivorClient(prefix);
    await crashAfter(prefix, 'conflicted', 'p-1', {}, undefined, async () => (await probe.get('p-1'))?.awaiting);
    const rt = await survivor(prefix);
    await rt.send('p-1', { type: 'decision', decision: 'reconcile', choice: 'reg', by: 'ana' });
    const v = await rt.waitFor('p-1', (v) => v.status === 'done', { timeout: 20_000 });
    expect(v.output).toMatchObject({
      originals: { tech: { verdict: 'go' }, reg: { verdict: 'no-go' } },
      conflict: { fields: ['verdict'] },
      reconciled: { verdict: 'no-go' },
      decidedBy: 'human:ana',
    });
  });

  it('decision point: the process dies while waiting; the default applies at the original deadline, once', async () => {
    const prefix = uniquePrefix('deadline');
    const probe = await survivorClient(prefix);
    await crashAfter(prefix, 'deadline', 'd-1', undefined, undefined, async () => (await probe.get('d-1'))?.awaiting);
    const asked = (await probe.get('d-1'))!;
    const due = asked.awaiting!.deadline!;
    const rt = await survivor(prefix);
    const v = await rt.waitFor('d-1', (v) => v.status === 'done', { timeout: 20_000 });
    expect(v.context).toMatchObject({ answer: { choice: 'no', source: 'default' } });
    // The child's deadline timer finishes the decision point, which moves the root to 'done': one commit.
    const fired = (await rt.history('d-1')).filter((h) => h.to === 'done');
    expect(fired).toHaveLength(1);
    expect(fired[0]!.event.type).toBe('xstate.done.actor.ask');
    expect(fired[0]!.at).toBeGreaterThanOrEqual(due - 5);
  });

  it("decision point under the runtime's ManualClock: since, deadline and the default's time are the runtime's clock", async () => {
    const prefix = uniquePrefix('clocked');
    const start = Date.UTC(2031, 0, 1);
    const clock = new ManualClock(start);
    const rt = await createRuntime({ connection: redisUrl(), prefix, machines: patternMachines, agents: patternAgents(redis, prefix), clock, leaseMs: 600 });
    runtimes.push(rt);
    await rt.spawn('deadline', { id: 'c-1' });
    const asked = await rt.waitFor('c-1', (v) => !!v.awaiting, { timeout: 20_000 });
    expect(asked.awaiting).toMatchObject({ decision: 'ship', since: start, deadline: start + 1500 });
    clock.advance(1500);
    const v = await rt.waitFor('c-1', (v) => v.status === 'done', { timeout: 20_000 });
    expect(v.context).toMatchObject({ answer: { choice: 'no', by: 'deadline', source: 'default', at: start + 1500 } });
  });

  async function survivorClient(prefix: string) {
    const { createClient } = await import('../src/index.js');
    const c = createClient({ connection: redisUrl(), prefix });
    runtimes.push(c as unknown as Runtime);
    return c;
  }
});
