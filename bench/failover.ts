/**
 * Failover figure: three worker processes run 1,000 tasks of agent work; one
 * is SIGKILLed partway, and the time from the kill to the last task done is
 * measured. Baseline: the same workload on the same three workers without a
 * kill, from the same point of progress to the last task done.
 *
 * What bounds it: the victim's tasks are looked at again once their lease
 * lapses (leaseMs) plus a grace (min(1000, leaseMs / 2)) and the next sweep
 * (every leaseMs / 2); agent jobs the victim was running come back after
 * their BullMQ lock lapses (agentLockMs) and the next stalled-job check
 * (every agentLockMs).
 */
import type { Redis } from 'ioredis';
import { createClient } from '../src/index.js';
import { waitFinished } from './agents.js';
import { startChild, type Child } from './child.js';
import type { BenchEnv } from './env.js';
import type { FigureResult } from './figures.js';
import { row } from './report.js';
import { median, sleep, windowed } from './stats.js';

export interface FailoverOptions {
  tasks: number;
  /** Agent calls per task, one after another, each sleeping `stepMs`. */
  steps: number;
  stepMs: number;
  /** Agent concurrency per worker. */
  concurrency: number;
  leaseMs: number;
  agentLockMs: number;
  /** The kill (or, in the baseline, the clock start) once this fraction of all agent calls ran. */
  at: number;
  /** Rounds (each: a run without a kill, then one with a kill, then a fresh worker replaces the victim). */
  rounds: number;
}

interface Run {
  /** Trigger (kill) to the last task's done commit, ms. */
  elapsedMs: number;
  /** Spawn of the first task to the trigger, ms. */
  beforeMs: number;
  /** Agent executions beyond one per invocation (re-runs of jobs in flight on the victim). */
  reruns: number;
  victim?: {
    pid: number;
    tasksHeld: number;
    /** Kill to the last of the victim's tasks held by a survivor (its lease, polled every 10 ms) or done, ms. */
    allTakenOverMs: number;
    /** Kill to the first of them taken over, ms. */
    firstTakenOverMs: number;
  };
}

export async function failoverFigure(env: BenchEnv, reader: Redis, o: FailoverOptions): Promise<FigureResult> {
  const prefix = env.prefix('failover');
  const runsKey = `${prefix}:agent-runs`;
  const workerEnv = {
    REDIS_URL: env.url,
    BENCH_PREFIX: prefix,
    LEASE_MS: String(o.leaseMs),
    AGENT_LOCK_MS: String(o.agentLockMs),
    CONCURRENCY: String(o.concurrency),
    RUNS_KEY: runsKey,
  };
  const workers = new Set<Child>();
  const owners = new Map<string, Child>();
  const startWorker = async () => {
    const w = startChild('failover-worker.ts', workerEnv);
    workers.add(w);
    const r = await w.waitFor((x) => x.ready === true, 60_000);
    owners.set(String(r.owner), w);
  };
  const client = createClient({ connection: env.url, prefix });
  try {
    await Promise.all([startWorker(), startWorker(), startWorker()]);

    /** For each task, ms from `t0` until a process other than the victim holds its lease or it is done. */
    const takeovers = async (ids: string[], victimPid: number, t0: number): Promise<number[]> => {
      const victimOwner = [...owners].find(([, w]) => w.pid === victimPid)![0];
      const at = new Map<string, number>();
      while (at.size < ids.length) {
        const left = ids.filter((id) => !at.has(id));
        const p = reader.pipeline();
        for (const id of left) {
          p.get(client.keys.task(id).lease);
          p.hget(client.keys.task(id).state, 'status');
        }
        const res = (await p.exec()) ?? [];
        const t = Date.now();
        left.forEach((id, i) => {
          const lease = res[2 * i]?.[1] as string | null;
          const status = res[2 * i + 1]?.[1] as string | null;
          if ((lease && lease !== victimOwner) || status !== 'active') at.set(id, t - t0);
        });
        if (t - t0 > 120_000) throw new Error('victim tasks not taken over within 120 s');
        await sleep(10);
      }
      return ids.map((id) => at.get(id)!);
    };

    const runOnce = async (tag: string, kill: boolean): Promise<Run> => {
      await reader.set(runsKey, '0');
      const ids = Array.from({ length: o.tasks }, (_, i) => `${tag}-${i}`);
      const total = o.tasks * o.steps;
      const t0 = Date.now();
      // A plain client spawns: the activations spread over the three workers.
      await windowed(ids.length, 100, (i) => client.spawn('flow', { id: ids[i]!, input: { steps: o.steps, ms: o.stepMs } }));
      while (Number(await reader.get(runsKey)) < total * o.at) await sleep(2);
      let victim: Run['victim'];
      let victimTasks: string[] = [];
      let trigger: number;
      if (kill) {
        const leases = await reader.mget(ids.map((id) => client.keys.task(id).lease));
        const held = new Map<string, number>();
        for (const l of leases) if (l) held.set(l, (held.get(l) ?? 0) + 1);
        const [owner] = [...held].sort((a, b) => b[1] - a[1])[0]!;
        const w = owners.get(owner)!;
        w.proc.kill('SIGKILL');
        trigger = Date.now();
        victimTasks = ids.filter((_, i) => leases[i] === owner);
        victim = { pid: w.pid, tasksHeld: victimTasks.length, allTakenOverMs: 0, firstTakenOverMs: 0 };
      } else {
        trigger = Date.now();
      }
      const [last, takenOver] = await Promise.all([waitFinished(reader, client, ids, 120_000), victim ? takeovers(victimTasks, victim.pid, trigger) : []]);
      const runs = Number(await reader.get(runsKey));
      if (victim) {
        victim.allTakenOverMs = Math.max(...takenOver);
        victim.firstTakenOverMs = Math.min(...takenOver);
      }
      return { elapsedMs: last - trigger, beforeMs: trigger - t0, reruns: runs - total, ...(victim ? { victim } : {}) };
    };

    const base: Run[] = [];
    const killed: Run[] = [];
    for (let r = 0; r < o.rounds; r++) {
      base.push(await runOnce(`base${r}`, false));
      killed.push(await runOnce(`kill${r}`, true));
      if (r + 1 < o.rounds) await startWorker(); // back to three
    }
    const mid = (runs: Run[]) => median(runs.map((x) => x.elapsedMs)) / 1000;
    const is = `fig.6 = same ${o.tasks} tasks on the same 3 workers, no kill: same point of progress -> last task done (median of ${o.rounds})`;
    const graceMs = Math.min(1000, o.leaseMs / 2);
    return {
      rows: [row('failover.killToDone', `6 kill 1 of 3 workers -> ${o.tasks} tasks done`, 's', mid(killed), mid(base), is)],
      costs: [],
      details: {
        ...o,
        workload: `${o.tasks} tasks x ${o.steps} agent calls of ${o.stepMs} ms, agent concurrency ${o.concurrency} per worker; kill once ${o.at * 100}% of the calls ran`,
        bounds: {
          taskRecoveryMs: `lease ${o.leaseMs} + grace ${graceMs} + sweep interval ${o.leaseMs / 2} = ${o.leaseMs + graceMs + o.leaseMs / 2}`,
          stalledJobMs: `agentLockMs ${o.agentLockMs} (lock lapses) .. + stalledInterval ${o.agentLockMs} (next check) = ${o.agentLockMs}..${2 * o.agentLockMs}`,
        },
        killToDoneMs: killed.map((x) => x.elapsedMs),
        baselineMs: base.map((x) => x.elapsedMs),
        baseline: base,
        killed,
      },
    };
  } finally {
    await client.close();
    await Promise.all([...workers].map((w) => w.stop('SIGTERM')));
  }
}
