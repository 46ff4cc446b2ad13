// Agent work through the agents' BullMQ queues (registrations with
// `inProcess: false`, or agents registered in another process): results survive
// the task's process dying, invocations run once across restores, retries and
// onError, cancellation, cross-process progress, and input validation before
// anything is enqueued. The in-process path is test/local-agents.test.ts.
import { readStoredSnapshot } from './helpers/stored.js';
import { describe, expect, it } from 'vitest';
import { AGENT_RESULT } from '../src/actors/fromAgent.js';
import { createWorker, type Runtime, type RuntimeOptions } from '../src/index.js';
import { Keys } from '../src/persistence/keys.js';
import { suiteAgents, suiteKeys, suiteMachines, type CallerContext } from './fixtures/agent-suite.js';
import { counter } from './fixtures/machines.js';
import { killAgentProcs, startAgentProc } from './helpers/agent-procs.js';
import { redisUrl, uniquePrefix, waitUntil } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

const LEASE_MS = 500;
const baton = useBaton({ kill: killAgentProcs, runtime: { leaseMs: LEASE_MS, machines: { ...suiteMachines, counter } } });
const { redis, closers, client, agentQueue } = baton;

async function runtime(prefix: string, opts: Partial<RuntimeOptions> & { agentNames?: string[] } = {}): Promise<Runtime> {
  const { agentNames, ...rest } = opts;
  const all = suiteAgents(redis, prefix);
  const agents = Object.fromEntries((agentNames ?? []).map((n) => [n, { run: all[n]!, inProcess: false }]));
  return baton.runtime(prefix, { agents, ...rest });
}

async function runs(prefix: string, agent: string): Promise<string[]> {
  return redis.lrange(suiteKeys(prefix).runs(agent), 0, -1);
}

/** Mailbox entries of a task still in the stream (applied ones are trimmed approximately). */
async function mailbox(prefix: string, id: string): Promise<Array<{ id: string; event: { type: string; [k: string]: unknown } }>> {
  const rows = await redis.xrange(new Keys(prefix).task(id).mailbox, '-', '+');
  return rows.map(([entryId, f]) => ({ id: entryId, event: JSON.parse(f[f.indexOf('e') + 1]!) }));
}

function ctx(v: { context: unknown }): CallerContext {
  return v.context as CallerContext;
}

describe('agent results and restores', () => {
  it('a result delivered while nobody holds the task is applied by the next runtime (task process killed mid-job)', async () => {
    const prefix = uniquePrefix('agents-deliver');
    const id = 'deliver-1';
    const keys = new Keys(prefix).task(id);
    const c = client(prefix);

    // W: an agent-only worker process. A: a task-only runtime process that spawns the task.
    const worker = await startAgentProc({ prefix, machines: false, agents: ['gated'] });
    const a = await startAgentProc({ prefix, leaseMs: LEASE_MS, spawn: { machine: 'gatedTask', id, input: { text: 'hello' } } });

    await waitUntil(async () => (await runs(prefix, 'gated')).length === 1, { timeout: 15_000, message: 'the agent to start in W' });
    const before = await c.waitFor(id, (v) => v.value === 'calling', { timeout: 5000 });
    expect(await redis.get(keys.lease)).toBe(a.owner);

    await a.kill('SIGKILL');
    // Nobody holds the task any more: its lease lapses.
    await waitUntil(async () => (await redis.exists(keys.lease)) === 0, { timeout: 5000, message: 'the dead holder lease to lapse' });

    await redis.set(suiteKeys(prefix).gate, '1');
    // The result reaches the mailbox with nobody holding the task, and is not applied yet.
    const entry = await waitUntil(
      async () => (await mailbox(prefix, id)).find((e) => e.event.type === AGENT_RESULT),
      { timeout: 10_000, message: 'the agent result to reach the mailbox' },
    );
    expect(entry.event.output).toEqual({ text: 'hello!' });
    const parked = await c.get(id);
    expect(parked?.seq).toBe(before.seq);
    expect(parked?.value).toBe('calling');
    expect(await redis.exists(keys.lease)).toBe(0);

    // B starts: it finds the task (due sweep / activation queue), restores it and applies the result.
    const b = await runtime(prefix);
    const done = await c.waitFor(id, (v) => v.status !== 'active', { timeout: 15_000 });
    expect(done.status).toBe('done');
    expect(done.value).toBe('done');
    expect(ctx(done).result).toEqual({ text: 'hello!' });
    await waitUntil(() => b.heldCount === 0, { timeout: 5000, message: 'the finished task to leave B' });

    const history = await c.history(id);
    expect(history.filter((h) => h.event.type === AGENT_RESULT)).toHaveLength(1);
    expect(await runs(prefix, 'gated')).toHaveLength(1);
    expect(worker.held()).toEqual([]); // the agent-only worker never held a task
  });

  it('an invocation enqueued but not started when its task process died runs once after the restore', async () => {
    const prefix = uniquePrefix('agents-once-queued');
    const id = 'once-q';
    const c = client(prefix);
    const q = agentQueue(prefix, 'gated');
    await redis.set(suiteKeys(prefix).gate, '1'); // the agent finishes as soon as it runs

    // No agent worker yet: the job waits in the queue.
    const a = await startAgentProc({ prefix, leaseMs: LEASE_MS, spawn: { machine: 'gatedTask', id, input: { text: 'q' } } });
    await waitUntil(async () => (await q.getJobCounts('waiting')).waiting === 1, { timeout: 10_000, message: 'the job to be enqueued' });
    await a.kill('SIGKILL');

    // B restores the task (re-dispatching its agent child: idempotent by job id), then a worker appears.
    const b = await runtime(prefix);
    await waitUntil(() => b.hosts.has(id), { timeout: 10_000, message: 'B to restore the task' });
    expect((await c.get(id))?.value).toBe('calling');
    expect(await q.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed')).toEqual({ waiting: 1, active: 0, delayed: 0, completed: 0, failed: 0 });
    await runtime(prefix, { machines: {}, agentNames: ['gated'] }); // an agent-only worker

    const done = await c.waitFor(id, (v) => v.status !== 'active', { timeout: 15_000 });
    expect(ctx(done).result).toEqual({ text: 'q!' });
    await waitUntil(async () => (await q.getJobCounts('completed')).completed === 1, { timeout: 5000 });
    expect(await q.getJobCounts('waiting', 'active', 'delayed', 'failed')).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0 });
    expect(await runs(prefix, 'gated')).toHaveLength(1);
    expect((await c.history(id)).filter((h) => h.event.type === AGENT_RESULT)).toHaveLength(1);
  });

  it('an invocation running when its task process died is not run again by the restore', async () => {
    const prefix = uniquePrefix('agents-once-running');
    const id = 'once-r';
    const c = client(prefix);
    const q = agentQueue(prefix, 'gated');
    const w = await createWorker({ connection: redisUrl(), prefix, agents: { gated: suiteAgents(redis, prefix).gated! } });
    closers.push(() => w.close());

    const a = await startAgentProc({ prefix, leaseMs: LEASE_MS, spawn: { machine: 'gatedTask', id, input: { text: 'r' } } });
    await waitUntil(async () => (await runs(prefix, 'gated')).length === 1, { timeout: 10_000, message: 'the agent to start' });
    await a.kill('SIGKILL');

    // B restores the task while the job is still running (its start re-dispatches: must be a no-op).
    const b = await runtime(prefix);
    await waitUntil(() => b.hosts.has(id), { timeout: 10_000, message: 'B to restore the task' });
    expect((await q.getJobCounts('active')).active).toBe(1);

    await redis.set(suiteKeys(prefix).gate, '1');
    const done = await c.waitFor(id, (v) => v.status !== 'active', { timeout: 15_000 });
    expect(done.value).toBe('done');
    expect(ctx(done).result).toEqual({ text: 'r!' });
    await waitUntil(async () => (await q.getJobCounts('completed')).completed === 1, { timeout: 5000 });
    expect(await q.getJobCounts('waiting', 'active', 'delayed', 'failed')).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0 });
    expect(await runs(prefix, 'gated')).toHaveLength(1);
    expect((await c.history(id)).filter((h) => h.event.type === AGENT_RESULT)).toHaveLength(1);
  });
});

describe('agent failures', () => {
  it('retries a throwing agent `attempts` times with backoff, then takes onError with the message', async () => {
    const prefix = uniquePrefix('agents-retry');
    const rt = await runtime(prefix, { agentNames: ['flaky'] });
    const q = agentQueue(prefix, 'flaky');
    const t = await rt.spawn('flakyTask', { id: 'flaky-1' });
    const v = await t.waitFor((v) => v.status !== 'active', { timeout: 15_000 });
    expect(v.status).toBe('done');
    expect(v.value).toBe('failed');
    expect(ctx(v).error).toMatchObject({ message: 'flaky failure #3', attempts: 3 });
    // The job ends failed in BullMQ: nothing is left to retry.
    await waitUntil(async () => (await q.getJobCounts('failed')).failed === 1, { timeout: 5000 });
    expect(await q.getJobCounts('waiting', 'active', 'delayed')).toEqual({ waiting: 0, active: 0, delayed: 0 });
    const r = await runs(prefix, 'flaky');
    expect(r.map((x) => x.split('|')[2])).toEqual(['1', '2', '3']);
    expect(new Set(r.map((x) => x.split('|')[0])).size).toBe(1); // one invocation, one job id across retries
  });

  it('UnrecoverableError fails the invocation at once (1 execution) despite attempts 3', async () => {
    const prefix = uniquePrefix('agents-fatal');
    const rt = await runtime(prefix, { agentNames: ['fatal'] });
    const q = agentQueue(prefix, 'fatal');
    const t = await rt.spawn('fatalTask', { id: 'fatal-1' });
    const v = await t.waitFor((v) => v.status !== 'active', { timeout: 10_000 });
    expect(v.value).toBe('failed');
    expect(ctx(v).error).toMatchObject({ message: 'fatal: cannot go on', attempts: 1 });
    await waitUntil(async () => (await q.getJobCounts('failed')).failed === 1, { timeout: 5000 });
    expect(await q.getJobCounts('waiting', 'active', 'delayed')).toEqual({ waiting: 0, active: 0, delayed: 0 });
    expect(await runs(prefix, 'fatal')).toHaveLength(1);
  });

  it('output failing the schema takes onError (InvalidAgentOutput), not a crash', async () => {
    const prefix = uniquePrefix('agents-liar');
    const rt = await runtime(prefix, { agentNames: ['liar'] });
    const t = await rt.spawn('liarTask', { id: 'liar-1' });
    const v = await t.waitFor((v) => v.status !== 'active', { timeout: 10_000 });
    expect(v.status).toBe('done');
    expect(v.value).toBe('failed');
    expect(ctx(v).error?.name).toBe('InvalidAgentOutput');
    expect(ctx(v).error?.message).toMatch(/agent 'liar' output: text:/);
    expect(ctx(v).result).toBeUndefined();
    // The job itself succeeded: it is not retried.
    expect(await runs(prefix, 'liar')).toHaveLength(1);
    // The runtime still serves tasks.
    const other = await rt.spawn('counter', { id: 'after-liar' });
    await other.send({ type: 'inc', n: 'x' });
    await other.send({ type: 'finish' });
    expect((await other.waitFor((v) => v.status === 'done', { timeout: 5000 })).context).toEqual({ count: 1, seen: ['x'] });
  });
});

describe('cancellation', () => {
  it('leaving the invoking state aborts the agent signal; a late result is dropped', async () => {
    const prefix = uniquePrefix('agents-cancel');
    const rt = await runtime(prefix, { agentNames: ['abortable'] });
    const q = agentQueue(prefix, 'abortable');
    const id = 'cancel-1';
    const t = await rt.spawn('abortTask', { id });

    const [run] = await waitUntil(async () => {
      const r = await runs(prefix, 'abortable');
      return r.length ? r : undefined;
    }, { timeout: 10_000, message: 'the agent to start' });
    const jobId = run!.split('|')[0]!;
    expect((await q.getJobCounts('active')).active).toBe(1);
    const calling = await t.waitFor((v) => v.value === 'calling', { timeout: 5000 });
    const childIds = Object.keys(calling.children);
    expect(childIds).toHaveLength(1);

    await t.send({ type: 'cancel' });
    const abortedWith = await waitUntil(() => redis.get(suiteKeys(prefix).aborted(jobId)), { timeout: 10_000, message: 'the agent to see its signal abort' });
    expect(abortedWith).toMatch(/cancelled/);
    // The attempt ends without a result: the job completes and nothing reaches the mailbox.
    await waitUntil(async () => (await q.getJobCounts('completed')).completed === 1, { timeout: 5000, message: 'the cancelled job to end' });
    const idle = await t.waitFor((v) => v.value === 'idle', { timeout: 5000 });
    expect(ctx(idle).result).toBeUndefined();
    expect((await mailbox(prefix, id)).filter((e) => e.event.type === AGENT_RESULT)).toEqual([]);

    // A result that arrives late anyway (a worker that finished before it heard of the cancel)
    // goes through the very path a worker uses; the task records it as dropped and stays put.
    const deliver = (rt as unknown as { deliverAgentEvent(taskId: string, event: Record<string, unknown>, key: string): Promise<void> }).deliverAgentEvent.bind(rt);
    const snapshot = (await readStoredSnapshot(redis, new Keys(prefix).task(id).state)) as { children: Record<string, unknown> };
    expect(snapshot.children).toEqual({}); // the agent child is gone from the committed tree
    await deliver(id, { type: AGENT_RESULT, jobId, childPath: childIds, output: { text: 'late' } }, `agent-${jobId}`);
    await waitUntil(async () => (await t.history()).some((h) => h.event.type === 'baton.agent.dropped'), { timeout: 5000, message: 'the late result to be dropped' });
    const after = await t.get();
    expect(after?.value).toBe('idle');
    expect(ctx(after!).result).toBeUndefined();
    expect((await t.history()).filter((h) => h.event.type === AGENT_RESULT)).toEqual([]);

    await t.send({ type: 'finish' });
    expect((await t.waitFor((v) => v.status !== 'active', { timeout: 5000 })).value).toBe('closed');
    expect(await runs(prefix, 'abortable')).toHaveLength(1);
  });
});

describe('stop', () => {
  it('stopping a task aborts its agent work in flight', async () => {
    const prefix = uniquePrefix('agents-stop');
    const rt = await runtime(prefix, { agentNames: ['abortable'] });
    const t = await rt.spawn('abortTask', { id: 'stop-1' });
    const [run] = await waitUntil(async () => {
      const r = await runs(prefix, 'abortable');
      return r.length ? r : undefined;
    }, { timeout: 10_000, message: 'the agent to start' });
    const jobId = run!.split('|')[0]!;
    const stopped = await t.stop({ timeout: 5000 });
    expect(stopped.status).toBe('stopped');
    const abortedWith = await waitUntil(() => redis.get(suiteKeys(prefix).aborted(jobId)), { timeout: 10_000, message: 'the agent to see its signal abort' });
    expect(abortedWith).toMatch(/cancelled/);
    expect((await mailbox(prefix, 'stop-1')).filter((e) => e.event.type === AGENT_RESULT)).toEqual([]);
  });
});

describe('progress', () => {
  it('reaches a subscriber in another process than the agent', async () => {
    const prefix = uniquePrefix('agents-progress');
    const id = 'progress-1';
    await startAgentProc({ prefix, machines: false, agents: ['reporter'] });
    const rt = await runtime(prefix); // holds the task; runs no agents
    const c = client(prefix);
    const seen: Array<{ jobId: string; agent: string; childPath: string[]; data: unknown }> = [];
    const off = c.onProgress(id, (p) => seen.push(p));
    await off.ready;
    closers.push(async () => off());

    await rt.spawn('reporterTask', { id, input: { text: 'p' } });
    const [p] = await waitUntil(() => (seen.length ? seen : undefined), { timeout: 15_000, message: 'a progress report' });
    expect(p!.data).toEqual({ pct: 50 });
    expect(p!.agent).toBe('reporter');
    const [run] = await runs(prefix, 'reporter');
    expect(run!.split('|')[0]).toBe(p!.jobId);
    expect(Number(run!.split('|')[1])).not.toBe(process.pid); // the agent ran in the child
    expect(p!.childPath.length).toBe(1);

    await redis.set(suiteKeys(prefix).gate, '1');
    const done = await c.waitFor(id, (v) => v.status !== 'active', { timeout: 10_000 });
    expect(ctx(done).result).toEqual({ text: 'p reported' });
  });
});

describe('input validation', () => {
  it('input rejected by the fromAgent schema takes onError and enqueues nothing', async () => {
    const prefix = uniquePrefix('agents-input');
    const rt = await runtime(prefix, { agentNames: ['strict'] });
    const q = agentQueue(prefix, 'strict');

    const bad = await rt.spawn('strictTask', { id: 'bad', input: { text: '' } });
    const v = await bad.waitFor((v) => v.status !== 'active', { timeout: 10_000 });
    expect(v.value).toBe('failed');
    expect(ctx(v).error?.name).toBe('InvalidAgentInput');
    expect(ctx(v).error?.message).toMatch(/agent 'strict' input: text:/);

    // Control: a valid invocation of the same agent goes through this very queue.
    const good = await rt.spawn('strictTask', { id: 'good', input: { text: 'ok' } });
    expect(ctx(await good.waitFor((v) => v.status !== 'active', { timeout: 10_000 })).result).toEqual({ text: 'ok' });
    await waitUntil(async () => (await q.getJobCounts('completed')).completed === 1, { timeout: 5000 });
    expect(await q.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized', 'waiting-children')).toEqual({
      waiting: 0,
      active: 0,
      delayed: 0,
      completed: 1,
      failed: 0,
      prioritized: 0,
      'waiting-children': 0,
    });
    const r = await runs(prefix, 'strict');
    expect(r).toHaveLength(1);
    expect(r[0]).toMatch(/^good/);
  });
});
