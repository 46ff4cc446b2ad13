/**
 * Agent figures: agent jobs per second through Baton against raw BullMQ, and
 * the seven-step task (each step an agent job) end to end against a
 * hand-rolled BullMQ chain of seven jobs. Baton and the baseline run in this
 * process, alternately, on the same Redis.
 */
import type { Redis } from 'ioredis';
import { createRuntime, type TaskApi, type ConnectionOption, type Runtime } from '../src/index.js';
import { agentLoop, echo, sevenSteps, step, STEPS } from './agent-machines.js';
import type { Throughput } from './core.js';
import type { BenchEnv } from './env.js';
import { pairedRatio, Tally, type FigureResult, type Runtimes } from './figures.js';
import { RawChains, RawSeven } from './raw-bullmq.js';
import { row } from './report.js';
import { ms, now, round, sleep, summarise, windowed, type Summary } from './stats.js';

export interface AgentOptions {
  /** Rounds (each: raw BullMQ, then Baton). */
  rounds: number;
  /** Tasks (Baton) and chains (raw) per round. */
  tasks: number;
  /** Agent jobs each task runs, one after another. */
  jobsPerTask: number;
  /** Worker concurrency, both sides. */
  concurrency: number;
}

export interface StepsOptions {
  /** Measured runs per side (alternating), after `warmup` runs each. */
  runs: number;
  warmup: number;
}

/**
 * Wait until every task's status is no longer active (a pipelined HMGET of
 * the tasks still active every `pollMs`); returns the latest commit time
 * (`updatedAt`, ms since the epoch) among them, so the poll interval does not
 * move the measured end.
 */
export async function waitFinished(redis: Redis, rt: { keys: import("../src/persistence/keys.js").Keys }, ids: string[], timeoutMs = 120_000, pollMs = 20): Promise<number> {
  let pending = ids;
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (pending.length) {
    const p = redis.pipeline();
    for (const id of pending) p.hmget(rt.keys.task(id).state, 'status', 'updatedAt');
    const res = (await p.exec()) ?? [];
    const still: string[] = [];
    pending.forEach((id, i) => {
      const [status, at] = (res[i]?.[1] ?? []) as [string | null, string | null];
      if (status === 'active' || status === null) still.push(id);
      else {
        if (status !== 'done') throw new Error(`task ${id} ended in status ${status}`);
        last = Math.max(last, Number(at));
      }
    });
    pending = still;
    if (!pending.length) break;
    if (Date.now() > deadline) throw new Error(`${pending.length} tasks not finished within ${timeoutMs} ms`);
    await sleep(pollMs);
  }
  return last;
}

/** A runtime running `agentLoop` tasks and the `echo` agent. */
export function agentRuntime(env: BenchEnv, concurrency: number, connection: ConnectionOption = env.url): Promise<Runtime> {
  return createRuntime({
    connection,
    prefix: env.prefix('agents'),
    machines: { agentLoop },
    agents: { echo: { run: echo, concurrency } },
  });
}

/**
 * Spawn `tasks` agentLoop tasks (not measured); the returned function sends
 * each its `go` and resolves when all are done: jobs run, from the first send
 * to the last commit.
 */
export async function prepareAgentRound(rt: Runtime, reader: Redis, tag: string, tasks: number, jobs: number): Promise<() => Promise<Throughput>> {
  const ids = Array.from({ length: tasks }, (_, i) => `${tag}-${i}`);
  await windowed(tasks, 64, (i) => rt.spawn('agentLoop', { id: ids[i]! }));
  return async () => {
    const t0 = Date.now();
    await Promise.all(ids.map((id) => rt.send(id, { type: 'go', jobs })));
    const end = await waitFinished(reader, rt, ids, 120_000, 50);
    return { count: tasks * jobs, elapsedMs: end - t0 };
  };
}

/** Figure 4: agent jobs/s, Baton (tasks invoking an agent in a loop) against raw BullMQ chains. */
export async function agentThroughput(env: BenchEnv, rts: Runtimes, reader: Redis, o: AgentOptions): Promise<FigureResult> {
  const rt = await rts.track(agentRuntime(env, o.concurrency));
  const raw = new RawChains(env.url, `{${env.prefix('raw-agents')}}`, o.concurrency);
  try {
    await raw.ready();
    // Warm-up of both paths.
    await raw.run('warm', o.tasks, 10);
    await (await prepareAgentRound(rt, reader, 'warm', o.tasks, 5))();

    const base = new Tally(`raw BullMQ: ${o.tasks} chains, concurrency ${o.concurrency}`, 'agent job');
    const baton = new Tally(`Baton: ${o.tasks} tasks, agent concurrency ${o.concurrency}`, 'agent job');
    for (let r = 0; r < o.rounds; r++) {
      await base.round(env, () => raw.run(`c${r}`, o.tasks, o.jobsPerTask));
      const measured = await prepareAgentRound(rt, reader, `r${r}`, o.tasks, o.jobsPerTask);
      await baton.round(env, measured);
    }
    const check = await rt.get(`r${o.rounds - 1}-0`);
    if ((check?.output as { n?: number } | undefined)?.n !== o.jobsPerTask) throw new Error(`agentLoop output is ${JSON.stringify(check?.output)}`);
    return {
      rows: [
        row('agents.jobsPerSec', `4 agent jobs/s, ${o.tasks} tasks x ${o.jobsPerTask} jobs`, 'jobs/s', baton.rate, base.rate, BASE_IS, {
          minRatio: 0.8,
          ratio: pairedRatio(baton, base),
        }),
      ],
      costs: [base.costRow(), baton.costRow()],
      details: {
        tasks: o.tasks,
        jobsPerTask: o.jobsPerTask,
        concurrency: o.concurrency,
        baselineIs: BASE_IS,
        baselineIncludes:
          "per job: Queue.add (BullMQ's add script, job id given, Baton's job options), the Worker taking it (fetched with the previous completion or after a wake), running echo, moveToFinished storing its return value in the job hash; the chain's next job is added on the Worker's completed event",
        batonIncludes:
          'per job: the commit recording the invocation, Queue.add with a deterministic job id, the Worker taking and running the job, the result appended to the task mailbox (send script), applied to the agent child and committed with the next invocation',
        baseline: base.json(),
        baton: baton.json(),
      },
    };
  } finally {
    await raw.close();
    await rts.close(rt);
  }
}

const BASE_IS =
  'fig.4 = raw BullMQ Queue + Worker in this process, same concurrency, job and worker options; the same function; each chain adds its next job on the Worker\'s completed event';

/** Figure 5: the seven-step task end to end, each step an agent job, against a hand-rolled BullMQ chain. */
export async function sevenStepLatency(env: BenchEnv, rts: Runtimes, o: StepsOptions): Promise<FigureResult> {
  const rt = await rts.track(
    createRuntime({
      connection: env.url,
      prefix: env.prefix('seven'),
      machines: { sevenSteps },
      agents: { step: { run: step, concurrency: 8 } },
    }),
  );
  const raw = new RawSeven(env.url, `{${env.prefix('raw-seven')}}`, 8);
  const spawnMs: number[] = [];
  const batonOnce = async (id: string): Promise<number> => {
    let seen!: (t: bigint) => void;
    const done = new Promise<bigint>((resolve) => (seen = resolve));
    const off = await rt.subscribeReady(id, (v) => {
      if (v.status !== 'active') seen(now());
    });
    try {
      const t0 = now();
      await rt.spawn('sevenSteps', { id });
      spawnMs.push(ms(t0));
      return ms(t0, await done);
    } finally {
      off();
    }
  };
  try {
    await raw.ready();
    for (let i = 0; i < o.warmup; i++) {
      await raw.once(`warm-${i}`);
      await batonOnce(`warm-${i}`);
    }
    spawnMs.length = 0;
    const base: number[] = [];
    const baton: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      base.push(await raw.once(`run-${i}`));
      baton.push(await batonOnce(`run-${i}`));
    }
    // Per step, from the commit times: (done commit - spawn commit) / 7.
    const perStep: number[] = [];
    let commits = 0;
    for (let i = 0; i < o.runs; i++) {
      const id = `run-${i}`;
      const [view, h] = await Promise.all([rt.get(id), rt.history(id, { limit: 100 })]);
      if (view?.status !== 'done' || (view.output as { steps?: number }).steps !== STEPS) throw new Error(`seven-step task ${id} ended ${JSON.stringify(view?.output)}`);
      perStep.push((h[h.length - 1]!.at - h[0]!.at) / STEPS);
      commits = h.length;
    }
    const b = summarise(baton);
    const r = summarise(base);
    const is = 'fig.5 = hand-rolled BullMQ chain: each job runs its step and adds the next (results so far in its data); add of job 1 -> completed event of job 7';
    return {
      rows: [
        row('steps.p50', '5 seven agent steps end to end, p50', 'ms', b.p50, r.p50, is),
        row('steps.p99', '5 seven agent steps end to end, p99', 'ms', b.p99, r.p99, is),
      ],
      costs: [],
      details: {
        runs: o.runs,
        batonIncludes:
          'spawn() called -> commit notice of the done status received: spawn (4 round trips + first commit), 7 x [commit, Queue.add, job taken, step run, result appended and applied], final commit',
        baselineIncludes: 'Queue.add of step 1 -> Worker completed event of step 7; each step adds the next before it returns, so the Worker fetches it with the completion (no wake-up)',
        commitsPerTask: commits,
        baton: summaryJson(b),
        baseline: summaryJson(r),
        batonSpawnCallMs: summaryJson(summarise(spawnMs)),
        batonPerStepMsFromCommitTimes: summaryJson(summarise(perStep)),
      },
    };
  } finally {
    await raw.close();
    await rts.close(rt);
  }
}

export const summaryJson = (x: Summary) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, round(v, 3)]));
