// In-process agents: a runtime that holds a task and registers the agent it
// invokes runs the agent in its own process, right after the commit that
// started it, with no BullMQ job. Retries, backoff, timeout, cancel, progress
// and output checks behave as on the queue; past `concurrency` invocations go
// to the queue; a crash or a close re-runs the invocation (through the queue)
// and its result is applied once; a restored invocation whose job the queue
// has is left to the queue. The queue path is test/agents.test.ts.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { z } from 'zod';
import { AGENT_RESULT } from '../src/actors/fromAgent.js';
import { createClient, createRuntime, fromAgent, type AgentEntry, type Runtime, type RuntimeOptions } from '../src/index.js';
import { Keys } from '../src/persistence/keys.js';
import { suiteAgents, suiteKeys, suiteMachines, type CallerContext } from './fixtures/agent-suite.js';
import { counter } from './fixtures/machines.js';
import { killAgentProcs, startAgentProc } from './helpers/agent-procs.js';
import { redisUrl, startRedis, uniquePrefix, waitUntil } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

/** A task that calls `slow` (timeoutMs 100, 2 attempts) once: done | failed. */
const slow = fromAgent('slow', { attempts: 2, backoffMs: 10, timeoutMs: 100 });
const slowTask = setup({ actors: { slow } }).createMachine({
  id: 'slowTask',
  context: { error: undefined as unknown, result: undefined as unknown },
  initial: 'calling',
  states: {
    calling: {
      invoke: {
        src: 'slow',
        onDone: { target: 'done', actions: assign({ result: ({ event }) => event.output }) },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error }) },
      },
    },
    done: { type: 'final' },
    failed: { type: 'final' },
  },
});
/** Two invocations of `gated` at once (parallel regions). */
const gated2 = fromAgent('gated', { input: z.object({ text: z.string() }), output: z.object({ text: z.string() }) });
const pairTask = setup({ actors: { gated: gated2 } }).createMachine({
  id: 'pairTask',
  type: 'parallel',
  states: {
    a: { initial: 'calling', states: { calling: { invoke: { src: 'gated', input: { text: 'a' }, onDone: 'done' } }, done: { type: 'final' } } },
    b: { initial: 'calling', states: { calling: { invoke: { src: 'gated', input: { text: 'b' }, onDone: 'done' } }, done: { type: 'final' } } },
  },
});
/** `idle` until `go`, then one `gated` call. */
const goTask = setup({ actors: { gated: gated2 } }).createMachine({
  id: 'goTask',
  initial: 'idle',
  states: {
    idle: { on: { go: 'calling' } },
    calling: { invoke: { src: 'gated', input: { text: 'a' }, onDone: 'done' } },
    done: { type: 'final' },
  },
});
const machines = { ...suiteMachines, counter, slowTask, pairTask };
const baton = useBaton({ kill: killAgentProcs, runtime: { leaseMs: 500, machines } });
const { redis, closers, client, agentQueue } = baton;

function runtime(prefix: string, agents: Record<string, AgentEntry>, opts: Partial<RuntimeOptions> = {}): Promise<Runtime> {
  return baton.runtime(prefix, { agents, ...opts });
}

const ALL = ['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized', 'waiting-children'] as const;
const NONE = Object.fromEntries(ALL.map((s) => [s, 0]));

/** Executions recorded by the suite agents: `jobId|pid|attempt`. */
async function runs(prefix: string, agent: string): Promise<Array<{ jobId: string; pid: number; attempt: number }>> {
  const rows = await redis.lrange(suiteKeys(prefix).runs(agent), 0, -1);
  return rows.map((r) => {
    const [jobId, pid, attempt] = r.split('|');
    return { jobId: jobId!, pid: Number(pid), attempt: Number(attempt) };
  });
}

function ctx(v: { context: unknown }): CallerContext {
  return v.context as CallerContext;
}

describe('in-process agents', () => {
  it('run in the holding process with no BullMQ job: one commit per step, the result applied once', async () => {
    const prefix = uniquePrefix('local-run');
    const rt = await runtime(prefix, { gated: suiteAgents(redis, prefix).gated! });
    await redis.set(suiteKeys(prefix).gate, '1');
    const t = await rt.spawn('gatedTask', { id: 'l-1', input: { text: 'hi' } });
    const v = await t.waitFor((v) => v.status !== 'active', { timeout: 10_000 });
    expect(v.value).toBe('done');
    expect(ctx(v).result).toEqual({ text: 'hi!' });
    expect((await runs(prefix, 'gated')).map((r) => r.pid)).toEqual([process.pid]);
    expect(await agentQueue(prefix, 'gated').getJobCounts(...ALL)).toEqual(NONE);
    // spawn (invoking the agent), then its result: nothing went through the mailbox.
    const h = await t.history();
    expect(h.map((e) => e.event.type)).toEqual(['baton.spawn', AGENT_RESULT]);
    expect(await redis.xlen(new Keys(prefix).task('l-1').mailbox)).toBe(0);
  });

  it('start only once the commit that invoked them has landed (effects after commit)', async () => {
    // A private Redis whose writes are paused while the invoking commit is on its way: reads still answer.
    const own = await startRedis();
    closers.push(() => own.stop());
    const admin = new Redis(own.url);
    closers.push(async () => admin.disconnect());
    const prefix = uniquePrefix('local-after-commit');
    const reader = createClient({ connection: own.url, prefix });
    closers.push(() => reader.close());
    const seenAtStart: Array<{ seq: number; value: unknown }> = [];
    const rt = await createRuntime({
      connection: own.url,
      prefix,
      machines: { goTask },
      agents: {
        gated: async ({ taskId, input }) => {
          const v = await reader.get(taskId);
          seenAtStart.push({ seq: v?.seq ?? 0, value: v?.value });
          return { text: `${(input as { text: string }).text}!` };
        },
      },
    });
    closers.push(() => rt.close());
    const t = await rt.spawn('goTask', { id: 'l-after' });
    await t.waitFor((x) => x.seq === 1, { timeout: 5000 });
    await admin.call('CLIENT', 'PAUSE', '300', 'WRITE');
    await t.send({ type: 'go' }); // its commit (seq 2) invokes the agent, and waits out the pause
    const v = await t.waitFor((x) => x.status !== 'active', { timeout: 10_000 });
    expect(v.value).toBe('done');
    expect(seenAtStart).toEqual([{ seq: 2, value: 'calling' }]);
  });

  it('retries with exponential backoff in process, then onError with the message and attempts', async () => {
    const prefix = uniquePrefix('local-retry');
    const at: number[] = [];
    const flaky = suiteAgents(redis, prefix).flaky!;
    const rt = await runtime(prefix, {
      flaky: async (c) => {
        at.push(performance.now());
        return flaky(c);
      },
    });
    const v = await (await rt.spawn('flakyTask', { id: 'l-retry' })).waitFor((v) => v.status !== 'active', { timeout: 10_000 });
    expect(v.value).toBe('failed');
    expect(ctx(v).error).toMatchObject({ message: 'flaky failure #3', attempts: 3 });
    const r = await runs(prefix, 'flaky');
    expect(r.map((x) => x.attempt)).toEqual([1, 2, 3]);
    expect(new Set(r.map((x) => x.jobId)).size).toBe(1);
    expect(new Set(r.map((x) => x.pid))).toEqual(new Set([process.pid]));
    // backoffMs 20: at least 20 ms, then 40 ms between attempts (timer slack: 1 ms).
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(19);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(39);
    expect(await agentQueue(prefix, 'flaky').getJobCounts(...ALL)).toEqual(NONE);
  });

  it('UnrecoverableError fails at once; an output failing its schema is an error result', async () => {
    const prefix = uniquePrefix('local-fatal');
    const a = suiteAgents(redis, prefix);
    const rt = await runtime(prefix, { fatal: a.fatal!, liar: a.liar! });
    const fatal = await (await rt.spawn('fatalTask', { id: 'l-fatal' })).waitFor((v) => v.status !== 'active', { timeout: 10_000 });
    expect(fatal.value).toBe('failed');
    expect(ctx(fatal).error).toMatchObject({ name: 'UnrecoverableError', attempts: 1 });
    expect(await runs(prefix, 'fatal')).toHaveLength(1);
    const liar = await (await rt.spawn('liarTask', { id: 'l-liar' })).waitFor((v) => v.status !== 'active', { timeout: 10_000 });
    expect(ctx(liar).error).toMatchObject({ name: 'InvalidAgentOutput' });
    expect(await runs(prefix, 'liar')).toHaveLength(1);
  });

  it('a timed-out attempt aborts its signal and is retried; the last timeout is the error', async () => {
    const prefix = uniquePrefix('local-timeout');
    const reasons: string[] = [];
    const rt = await runtime(prefix, {
      slow: ({ signal }) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => {
            reasons.push(String((signal.reason as Error).message));
            reject(signal.reason);
          });
        }),
    });
    const v = await (await rt.spawn('slowTask', { id: 'l-slow' })).waitFor((v) => v.status !== 'active', { timeout: 10_000 });
    expect(v.value).toBe('failed');
    expect((v.context as { error: unknown }).error).toMatchObject({ message: "agent 'slow' attempt timed out after 100 ms", attempts: 2 });
    expect(reasons).toEqual(["agent 'slow' attempt timed out after 100 ms", "agent 'slow' attempt timed out after 100 ms"]);
  });

  it('leaving the invoking state aborts the running agent; its late result is not applied', async () => {
    const prefix = uniquePrefix('local-cancel');
    const rt = await runtime(prefix, { abortable: suiteAgents(redis, prefix).abortable! });
    const t = await rt.spawn('abortTask', { id: 'l-cancel' });
    const [run] = await waitUntil(async () => {
      const r = await runs(prefix, 'abortable');
      return r.length ? r : undefined;
    }, { timeout: 10_000, message: 'the agent to start' });
    await t.send({ type: 'cancel' });
    const abortedWith = await waitUntil(() => redis.get(suiteKeys(prefix).aborted(run!.jobId)), { timeout: 10_000, message: 'the signal to abort' });
    expect(abortedWith).toMatch(/cancelled/);
    const idle = await t.waitFor((v) => v.value === 'idle', { timeout: 5000 });
    expect(ctx(idle).result).toBeUndefined();
    await t.send({ type: 'finish' });
    const end = await t.waitFor((v) => v.status !== 'active', { timeout: 5000 });
    expect(end.value).toBe('closed');
    expect(ctx(end).result).toBeUndefined();
    expect((await t.history()).filter((h) => h.event.type === AGENT_RESULT)).toEqual([]);
    expect(await agentQueue(prefix, 'abortable').getJobCounts(...ALL)).toEqual(NONE);
  });

  it('progress reaches a subscriber in another process', async () => {
    const prefix = uniquePrefix('local-progress');
    const rt = await runtime(prefix, { reporter: suiteAgents(redis, prefix).reporter! });
    const c = client(prefix);
    const seen: Array<{ agent: string; data: unknown }> = [];
    const off = c.onProgress('l-progress', (p) => seen.push(p));
    await off.ready;
    closers.push(async () => off());
    const t = await rt.spawn('reporterTask', { id: 'l-progress', input: { text: 'p' } });
    await waitUntil(() => seen.length > 0, { timeout: 10_000, message: 'progress to arrive' });
    expect(seen[0]).toMatchObject({ agent: 'reporter', data: { pct: 50 } });
    await redis.set(suiteKeys(prefix).gate, '1');
    expect(ctx(await t.waitFor((v) => v.status !== 'active', { timeout: 10_000 })).result).toEqual({ text: 'p reported' });
  });

  it('invocations past `concurrency` go through the queue (and still run, here)', async () => {
    const prefix = uniquePrefix('local-overflow');
    const rt = await runtime(prefix, { gated: { run: suiteAgents(redis, prefix).gated!, concurrency: 1 } });
    const q = agentQueue(prefix, 'gated');
    const t = await rt.spawn('pairTask', { id: 'l-pair' });
    await waitUntil(async () => (await runs(prefix, 'gated')).length === 2, { timeout: 10_000, message: 'both invocations to start' });
    // One runs in process, the other is a BullMQ job taken by this runtime's queue worker.
    expect((await q.getJobCounts('active')).active).toBe(1);
    await redis.set(suiteKeys(prefix).gate, '1');
    expect((await t.waitFor((v) => v.status !== 'active', { timeout: 10_000 })).status).toBe('done');
    await waitUntil(async () => (await q.getJobCounts('completed')).completed === 1, { timeout: 5000, message: 'the queued job to complete' });
    const results = (await t.history()).filter((h) => h.event.type === AGENT_RESULT);
    expect(results).toHaveLength(2);
  });

  it('an agent with a limiter (or inProcess: false) always runs from its queue, here too', async () => {
    const prefix = uniquePrefix('local-limited');
    await redis.set(suiteKeys(prefix).gate, '1');
    const rt = await runtime(prefix, { gated: { run: suiteAgents(redis, prefix).gated!, limiter: { max: 100, duration: 1000 } } });
    const q = agentQueue(prefix, 'gated');
    const v = await (await rt.spawn('gatedTask', { id: 'l-limited', input: { text: 'q' } })).waitFor((x) => x.status !== 'active', { timeout: 10_000 });
    expect(ctx(v).result).toEqual({ text: 'q!' });
    await waitUntil(async () => (await q.getJobCounts('completed')).completed === 1, { timeout: 5000, message: 'the job to complete on the queue' });
    expect((await runs(prefix, 'gated')).map((r) => r.pid)).toEqual([process.pid]);
  });

  it('a holder SIGKILLed mid-agent: the restore re-runs the invocation (in process: the queue never had it), the result is applied once', async () => {
    const prefix = uniquePrefix('local-crash');
    const id = 'l-crash';
    const c = client(prefix);
    const a = await startAgentProc({ prefix, leaseMs: 500, agents: ['gated'], spawn: { machine: 'gatedTask', id, input: { text: 'k' } } });
    const [first] = await waitUntil(async () => {
      const r = await runs(prefix, 'gated');
      return r.length ? r : undefined;
    }, { timeout: 10_000, message: 'the agent to start in A' });
    expect(first!.pid).toBe(a.pid); // in process, in the holder
    await a.kill('SIGKILL');
    await redis.set(suiteKeys(prefix).gate, '1');

    const b = await runtime(prefix, { gated: suiteAgents(redis, prefix).gated! });
    const done = await c.waitFor(id, (v) => v.status !== 'active', { timeout: 15_000 });
    expect(ctx(done).result).toEqual({ text: 'k!' });
    const r = await runs(prefix, 'gated');
    expect(r.map((x) => x.pid)).toEqual([a.pid, process.pid]);
    expect(new Set(r.map((x) => x.jobId)).size).toBe(1);
    expect((await c.history(id)).filter((h) => h.event.type === AGENT_RESULT)).toHaveLength(1);
    expect(await agentQueue(prefix, 'gated').getJobCounts(...ALL)).toEqual(NONE);
    await waitUntil(() => b.heldCount === 0, { timeout: 5000, message: 'the finished task to leave B' });
  });

  it('a restored invocation whose job the queue has is left to the queue, not run again here', async () => {
    const prefix = uniquePrefix('local-restore-queued');
    const id = 'l-rq';
    const c = client(prefix);
    const q = agentQueue(prefix, 'gated');
    // A holds the task but runs no agents: the invocation is a BullMQ job, taken by W here.
    const w = await createRuntime({ connection: redisUrl(), prefix, agents: { gated: { run: suiteAgents(redis, prefix).gated!, inProcess: false } } });
    closers.push(() => w.close());
    const a = await startAgentProc({ prefix, leaseMs: 500, spawn: { machine: 'gatedTask', id, input: { text: 'q' } } });
    await waitUntil(async () => (await runs(prefix, 'gated')).length === 1, { timeout: 10_000, message: 'the job to start in W' });
    await a.kill('SIGKILL');

    // B registers the agent for in-process runs, yet the restore leaves the invocation to its job.
    const b = await runtime(prefix, { gated: suiteAgents(redis, prefix).gated! });
    await waitUntil(() => b.hosts.has(id), { timeout: 10_000, message: 'B to restore the task' });
    expect((await q.getJobCounts('active')).active).toBe(1);
    await redis.set(suiteKeys(prefix).gate, '1');
    expect(ctx(await c.waitFor(id, (v) => v.status !== 'active', { timeout: 10_000 })).result).toEqual({ text: 'q!' });
    expect((await runs(prefix, 'gated')).length).toBe(1);
    expect((await c.history(id)).filter((h) => h.event.type === AGENT_RESULT)).toHaveLength(1);
  });

  it('close() interrupts a running agent without delivering; the next holder runs it and finishes', async () => {
    const prefix = uniquePrefix('local-close');
    const first = await runtime(prefix, { abortable: suiteAgents(redis, prefix).abortable! });
    await first.spawn('abortTask', { id: 'l-close' });
    const [run] = await waitUntil(async () => {
      const r = await runs(prefix, 'abortable');
      return r.length ? r : undefined;
    }, { timeout: 10_000, message: 'the agent to start' });
    await first.close();
    expect(await redis.get(suiteKeys(prefix).aborted(run!.jobId))).toMatch(/closing/);
    const c = client(prefix);
    expect((await c.get('l-close'))?.value).toBe('calling');
    expect((await c.history('l-close')).filter((h) => h.event.type === AGENT_RESULT)).toEqual([]);

    // Any event activates the task: the next holder re-runs the invocation; a cancel then ends it.
    await runtime(prefix, { abortable: suiteAgents(redis, prefix).abortable! });
    await c.send('l-close', { type: 'nudge' });
    await waitUntil(async () => (await runs(prefix, 'abortable')).length === 2, { timeout: 10_000, message: 'the invocation to run again' });
    await c.send('l-close', { type: 'cancel' });
    await c.send('l-close', { type: 'finish' });
    expect((await c.waitFor('l-close', (v) => v.status !== 'active', { timeout: 10_000 })).value).toBe('closed');
  });

  it('a task is not passivated while its agent runs in process', async () => {
    const prefix = uniquePrefix('local-idle');
    const rt = await runtime(prefix, { gated: suiteAgents(redis, prefix).gated! }, { idleMs: 50 });
    const busy = await rt.spawn('gatedTask', { id: 'l-busy', input: { text: 'b' } });
    await waitUntil(async () => (await runs(prefix, 'gated')).length === 1, { timeout: 10_000, message: 'the agent to start' });
    // A task with nothing running, spawned after: once it is passivated, the busy one has been idle as long.
    const idle = await rt.spawn('counter', { id: 'l-idle' });
    await waitUntil(() => !rt.hosts.has('l-idle'), { timeout: 10_000, message: 'the idle task to be passivated' });
    expect(rt.hosts.has('l-busy')).toBe(true);
    await redis.set(suiteKeys(prefix).gate, '1');
    expect(ctx(await busy.waitFor((v) => v.status !== 'active', { timeout: 10_000 })).result).toEqual({ text: 'b!' });
    expect((await runs(prefix, 'gated')).map((r) => r.pid)).toEqual([process.pid]);
    expect((await idle.get())?.status).toBe('active');
  });
});
