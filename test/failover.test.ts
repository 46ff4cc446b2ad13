// Many workers, one killed: three runtime processes (machines and agents) run
// 200 tasks fed by the test; one is SIGKILLed mid-run. Every task completes,
// every event is applied once and in order, every agent invocation runs once
// (in the holder's process or from the queue) except one in flight on the victim.
// Then: an agent worker killed mid-job (BullMQ re-runs the job once its lock
// lapses; the result is applied once).
import { describe, expect, it } from 'vitest';
import { AGENT_RESULT } from '../src/actors/fromAgent.js';
import type { TaskView } from '../src/index.js';
import { Keys } from '../src/persistence/keys.js';
import { suiteKeys, suiteMachines, type CallerContext } from './fixtures/agent-suite.js';
import { killAgentProcs, startAgentProc, type AgentProc } from './helpers/agent-procs.js';
import { uniquePrefix, waitUntil } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

const TASKS = 200;
const EVENTS = 6;
/** Agent job lock: a job whose worker died runs again after about this long (RuntimeOptions.agentLockMs). */
const AGENT_LOCK_MS = 3000;
const { redis, runtime, client, agentQueue: queue } = useBaton({ kill: killAgentProcs });

type Flow = { seen: string[]; steps: number[] };

describe('failover across three worker processes', () => {
  it('200 tasks complete after a worker is killed mid-run: events applied once and in order, agent results once, jobs re-run only if in flight on the victim', async () => {
    const prefix = uniquePrefix('failover');
    const keys = new Keys(prefix);
    const workers = await Promise.all([0, 1, 2].map(() => startAgentProc({ prefix, leaseMs: 1000, agents: ['tick'], agentLockMs: AGENT_LOCK_MS })));
    const c = client(prefix);
    const ticks = queue(prefix, 'tick');
    const ids = Array.from({ length: TASKS }, (_, i) => `f-${i}`);

    // A plain client spawns: activations spread over the three workers; each task calls its agent
    // at once (150 ms of work), and the test feeds it events meanwhile.
    await Promise.all(ids.map((id) => c.spawn('flow', { id, input: { ms: 150 } })));
    await Promise.all(ids.map((id) => c.waitFor(id, (v) => v.seq >= 1, { timeout: 30_000 })));

    // Who holds what, from the leases in Redis.
    const owners = await redis.mget(ids.map((id) => keys.task(id).lease));
    const holding = (w: AgentProc) => ids.filter((_, i) => owners[i] === w.owner);
    for (const w of workers) expect(holding(w).length, `${w.owner} holds tasks`).toBeGreaterThan(0);
    const victim = [...workers].sort((a, b) => holding(b).length - holding(a).length)[0]!;
    const victimTasks = holding(victim);
    const survivors = workers.filter((w) => w !== victim);

    // Feed every task EVENTS events (in order per task, all tasks at once); kill the victim partway,
    // while first agent calls are still running on the workers.
    let sent = 0;
    const total = TASKS * EVENTS;
    let activeAtKill = -1;
    const killed = waitUntil(() => sent >= total * 0.4, { timeout: 30_000, interval: 1 }).then(async () => {
      await victim.kill('SIGKILL');
      activeAtKill = (await ticks.getJobCounts('active')).active ?? -1;
    });
    await Promise.all(
      ids.map(async (id) => {
        for (let i = 0; i < EVENTS; i++) {
          await c.send(id, { type: 'inc', n: String(i) });
          sent++;
        }
      }),
    );
    await killed;
    expect(victim.proc.signalCode).toBe('SIGKILL');

    // Once its first agent call is done, each task gets `finish`: the second call runs on the survivors.
    await Promise.all(
      ids.map(async (id) => {
        await c.waitFor(id, (v) => v.value === 'collecting', { timeout: 45_000 });
        await c.send(id, { type: 'finish' });
      }),
    );
    const views = await Promise.all(ids.map((id) => c.waitFor(id, (v) => v.status !== 'active', { timeout: 45_000 })));

    const expectedSeen = Array.from({ length: EVENTS }, (_, i) => String(i));
    const history = await Promise.all(ids.map((id) => c.history(id, { limit: 1000 })));
    views.forEach((v: TaskView, t) => {
      const id = ids[t]!;
      expect(v.status, id).toBe('done');
      expect(v.output, id).toEqual({ seen: expectedSeen, steps: [1, 2] });
      const h = history[t]!;
      expect(h.map((e) => e.seq), id).toEqual(Array.from({ length: h.length }, (_, i) => i + 1));
      expect(h.filter((e) => e.event.type === 'inc').map((e) => e.event.n), id).toEqual(expectedSeen);
      // Each invocation's result applied exactly once.
      const results = h.filter((e) => e.event.type === AGENT_RESULT);
      expect(results, id).toHaveLength(2);
      expect(new Set(results.map((e) => e.event.jobId)).size, id).toBe(2);
      expect((v.context as Flow).seen, id).toEqual(expectedSeen);
    });

    // The victim's tasks were restored by the survivors.
    await waitUntil(() => victimTasks.every((id) => survivors.some((w) => w.held().includes(id))), {
      timeout: 5000,
      message: 'survivors to report the victim tasks',
    });

    // Agent executions: once per invocation, except a job the victim was running when it died,
    // which runs once more on a survivor (its result still applied once, above).
    const runs = await redis.lrange(suiteKeys(prefix).runs('tick'), 0, -1);
    const pidsByJob = new Map<string, number[]>();
    for (const r of runs) {
      const [jobId, pid] = r.split('|');
      pidsByJob.set(jobId!, [...(pidsByJob.get(jobId!) ?? []), Number(pid)]);
    }
    expect(pidsByJob.size).toBe(2 * TASKS);
    let rerun = 0;
    for (const [jobId, pids] of pidsByJob) {
      if (pids.length === 1) continue;
      rerun++;
      expect(pids, jobId).toHaveLength(2);
      expect(pids[0], `${jobId}: first run on the victim`).toBe(victim.pid);
      expect(pids[1], `${jobId}: re-run on a survivor`).not.toBe(victim.pid);
    }
    // Invocations run in the holder's process (in-process agents) or, past its concurrency and after a
    // restore, as BullMQ jobs: either way none is left failed or pending. (A job's result is committed
    // before BullMQ marks the job completed: wait for the queue to settle, with a deadline.)
    const counts = () => ticks.getJobCounts('failed', 'active', 'waiting', 'delayed');
    await waitUntil(async () => Object.values(await counts()).every((n) => n === 0), { timeout: 10_000 }).catch(() => undefined);
    expect(await counts()).toEqual({
      failed: 0,
      active: 0,
      waiting: 0,
      delayed: 0,
    });
    console.log(
      `failover: victim ${victim.owner} held ${victimTasks.length}/${TASKS} tasks; ${activeAtKill} agent jobs active just after the kill; ${rerun} re-run`,
      survivors.map((w) => `${w.owner}: ${new Set(w.held()).size} held`),
    );
  }, 120_000);
});

describe('agent worker killed mid-job', () => {
  // BullMQ recovers a job whose worker died once its lock (agentLockMs) lapses and a stalled-job
  // check sees it.
  it('the job runs again elsewhere and its result is applied once', async () => {
    const prefix = uniquePrefix('failover-agent');
    const id = 'mid-job';
    const k = suiteKeys(prefix);
    const c = client(prefix);
    const gated = queue(prefix, 'gated');
    // The task lives in the test process; the agent runs in a worker process that dies mid-job.
    const rt = await runtime(prefix, { leaseMs: 1000, machines: suiteMachines });
    const w1 = await startAgentProc({ prefix, machines: false, agents: ['gated'], agentLockMs: AGENT_LOCK_MS });
    await rt.spawn('gatedTask', { id, input: { text: 'mid' } });
    await waitUntil(async () => (await redis.llen(k.runs('gated'))) === 1, { timeout: 10_000, message: 'the agent to start in w1' });
    await w1.kill('SIGKILL');

    // A second worker picks the stalled job up; the gate is open, so this run finishes.
    await redis.set(k.gate, '1');
    const w2 = await startAgentProc({ prefix, machines: false, agents: ['gated'], agentLockMs: AGENT_LOCK_MS });
    const done = await c.waitFor(id, (v) => v.status !== 'active', { timeout: 30_000 });
    expect(done.value).toBe('done');
    expect((done.context as CallerContext).result).toEqual({ text: 'mid!' });

    const runs = await redis.lrange(k.runs('gated'), 0, -1);
    expect(runs).toHaveLength(2); // in flight at the crash: run once more, not more
    expect(runs.map((r) => Number(r.split('|')[1]))).toEqual([w1.pid, w2.pid]);
    expect(new Set(runs.map((r) => r.split('|')[0])).size).toBe(1); // same job id, same idempotency key
    await waitUntil(async () => (await gated.getJobCounts('completed')).completed === 1, { timeout: 5000 });
    expect(await gated.getJobCounts('active', 'waiting', 'delayed', 'failed')).toEqual({ active: 0, waiting: 0, delayed: 0, failed: 0 });
    expect((await c.history(id)).filter((h) => h.event.type === AGENT_RESULT)).toHaveLength(1);
  }, 60_000);
});
