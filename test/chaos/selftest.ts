// The checker's own test: tasks written by hand into a private Redis, each
// with one planted violation, and logs that say what was sent. The checker
// must flag every planted violation on its task, and nothing on the clean one.
// Tasks are stored as Baton stores them now (format 2: the snapshot in parts,
// context.log partly in appended chunks, the history a list of JSON entries);
// the `legacy*` ones in format 1 (one snapshot field, a history stream), which
// a task keeps until its next commit.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startRedis } from '../helpers/redis-server.ts';
import { writeStoredSnapshot } from '../helpers/stored.js';
import { check, type CheckReport } from './checker.js';
import { FILES, RunLog, type SendRecord } from './log.js';

interface Plan {
  /** Ids of the `ev` events in the order the history applies them. */
  applied: string[];
  /** What the senders logged (sender s0, seq from the id's position). */
  sent: string[];
  steps?: number[];
  status?: string;
  /** Override history seqs (gaps, repeats). */
  seqs?: number[];
  /** Break the from/to chain at this history index. */
  forkAt?: number;
  /** The committed context.log (default: applied). */
  ctxLog?: string[];
  /** Executions per agent job (default 1 each). */
  executions?: number[];
  /** Explicit executions of the first job: pid and start offset (ms). */
  runs?: Array<{ pid: number; dt: number }>;
  /** Store the task in format 1 (a `snapshot` field and a history stream). */
  format1?: boolean;
}

/** Planted violations: task id → the violation kind the checker must report for it. */
export const PLANTED: Record<string, { kind: string; plan: Plan }> = {
  clean: { kind: '', plan: { applied: ['a', 'b', 'c'], sent: ['a', 'b', 'c'] } },
  lost: { kind: 'lost', plan: { applied: ['a', 'c'], sent: ['a', 'b', 'c'] } },
  twice: { kind: 'applied-twice', plan: { applied: ['a', 'b', 'b', 'c'], sent: ['a', 'b', 'c'] } },
  order: { kind: 'order', plan: { applied: ['b', 'a', 'c'], sent: ['a', 'b', 'c'] } },
  phantom: { kind: 'phantom', plan: { applied: ['a', 'x', 'b', 'c'], sent: ['a', 'b', 'c'] } },
  gap: { kind: 'history-seq', plan: { applied: ['a', 'b', 'c'], sent: ['a', 'b', 'c'], seqs: [1, 2, 3, 5, 6, 7, 8, 9] } },
  repeat: { kind: 'history-seq', plan: { applied: ['a', 'b', 'c'], sent: ['a', 'b', 'c'], seqs: [1, 2, 3, 3, 4, 5, 6, 7] } },
  fork: { kind: 'history-fork', plan: { applied: ['a', 'b', 'c'], sent: ['a', 'b', 'c'], forkAt: 3 } },
  context: { kind: 'context', plan: { applied: ['a', 'b', 'c'], sent: ['a', 'b', 'c'], ctxLog: ['a', 'c'] } },
  notfinal: { kind: 'not-final', plan: { applied: ['a', 'b', 'c'], sent: ['a', 'b', 'c'], status: 'active' } },
  steps: { kind: 'not-final', plan: { applied: ['a', 'b', 'c'], sent: ['a', 'b', 'c'], steps: [1] } },
  rerun: { kind: 'agent-rerun', plan: { applied: ['a', 'b', 'c'], sent: ['a', 'b', 'c'], executions: [2, 1] } },
  noexec: { kind: 'agent-no-execution', plan: { applied: ['a', 'b', 'c'], sent: ['a', 'b', 'c'], executions: [0, 1] } },
  backwards: { kind: 'seq-backwards', plan: { applied: ['a', 'b', 'c'], sent: ['a', 'b', 'c'] } },
  // Re-runs a fault explains are not violations: a worker killed mid-job (run on 5001, SIGKILLed), and a worker
  // frozen after taking the job (5002 frozen from -1 s to +3 s; 5003 ran it meanwhile; 5002 records its start after SIGCONT).
  killedrerun: { kind: '', plan: { applied: ['a', 'b', 'c'], sent: ['a', 'b', 'c'], runs: [{ pid: 5001, dt: 0 }, { pid: 5003, dt: 2000 }] } },
  frozenlate: { kind: '', plan: { applied: ['a', 'b', 'c'], sent: ['a', 'b', 'c'], runs: [{ pid: 5003, dt: 0 }, { pid: 5002, dt: 3010 }] } },
  // Format 1: read as well (a clean task, and a context mismatch).
  legacy: { kind: '', plan: { applied: ['a', 'b', 'c'], sent: ['a', 'b', 'c'], format1: true } },
  legacyctx: { kind: 'context', plan: { applied: ['a', 'b', 'c'], sent: ['a', 'b', 'c'], ctxLog: ['a', 'c'], format1: true } },
};

export async function checkerSelfTest(): Promise<{ report: CheckReport; missed: string[]; falseAlarms: string[] }> {
  const server = await startRedis();
  const redis = new Redis(server.url);
  const prefix = 'selftest';
  const dir = mkdtempSync(path.join(tmpdir(), 'baton-checker-selftest-'));
  const log = new RunLog(dir);
  try {
    const ids = Object.keys(PLANTED);
    log.writeJson(FILES.tasks, ids);
    const now = Date.now();
    for (const id of ids) {
      const { plan } = PLANTED[id]!;
      log.append(FILES.spawns, { t: 'spawn', task: id, machine: 'chaosTask', outcome: 'accepted', at: now, tries: 1 });
      const sends: SendRecord[] = plan.sent.map((e, i) => ({
        t: 'send', task: id, id: `${id}.${e}`, type: 'ev', sender: 's0', seq: i + 1, keyed: true, outcome: 'accepted', sentAt: now, ackAt: now, tries: 1,
      }));
      sends.push({ t: 'send', task: id, id: `finish.${id}`, type: 'finish', sender: 'finisher', seq: 1, keyed: true, outcome: 'accepted', sentAt: now, ackAt: now, tries: 1 });
      log.append(FILES.events, sends);

      // History: spawn, the events (with the two agent results around them), finish, done.
      const jobs = [`${id}.1.step`, `${id}.9.step`];
      const entries: Array<{ e: unknown; from: string; to: string }> = [];
      let value = 'first';
      const push = (e: unknown, to: string) => {
        entries.push({ e, from: value, to });
        value = to;
      };
      push({ type: 'baton.spawn' }, 'first');
      push({ type: 'baton.agent.result', jobId: jobs[0] }, 'collecting');
      for (const e of plan.applied) push({ type: 'ev', id: `${id}.${e}`, sender: 's0', seq: plan.sent.indexOf(e) + 1 }, 'collecting');
      push({ type: 'finish' }, 'second');
      push({ type: 'baton.agent.result', jobId: jobs[1] }, 'cooldown');
      push({ type: 'xstate.after.200' }, 'done');
      const hkey = `${prefix}:task:{${id}}:history`;
      for (let i = 0; i < entries.length; i++) {
        const h = entries[i]!;
        const seq = plan.seqs?.[i] ?? i + 1;
        const from = plan.forkAt === i ? 'elsewhere' : h.from;
        if (plan.format1) await redis.xadd(hkey, '*', 'seq', String(seq), 'e', JSON.stringify(h.e), 'from', JSON.stringify(from), 'to', JSON.stringify(h.to), 'at', String(now));
        else await redis.rpush(hkey, JSON.stringify({ seq, e: h.e, from, to: h.to, at: now, u: {}, n: [], t: {} }));
      }
      const lastSeq = plan.seqs?.[entries.length - 1] ?? entries.length;
      const appliedIds = plan.applied.map((e) => `${id}.${e}`);
      const snapshot = { status: 'done', value: plan.status === 'active' ? 'second' : 'done', context: { log: plan.ctxLog?.map((e) => `${id}.${e}`) ?? appliedIds, steps: plan.steps ?? [1, 2] }, children: {} };
      const stateKey = `${prefix}:task:{${id}}:state`;
      await redis.hset(stateKey, { machine: 'chaosTask', status: plan.status ?? 'done', seq: String(lastSeq) });
      if (plan.format1) await redis.hset(stateKey, 'snapshot', JSON.stringify(snapshot));
      else {
        await writeStoredSnapshot(redis, stateKey, snapshot);
        // As a commit that only appended stores it: the log's later items in chunks (`a::log:<n>`), written out of order.
        const log = snapshot.context.log;
        if (log.length >= 3) await redis.hset(stateKey, 'a::log:2', JSON.stringify(log.slice(2)), 'x::log', JSON.stringify(log.slice(0, 1)), 'a::log:1', JSON.stringify(log.slice(1, 2)));
      }
      const execs = plan.executions ?? [1, 1];
      for (let j = 0; j < jobs.length; j++) {
        if (j === 0 && plan.runs) {
          for (const r of plan.runs) await redis.rpush(`${prefix}:chaos:runs`, `${jobs[j]}|${r.pid}|1|${now + r.dt}`);
          continue;
        }
        for (let k = 0; k < execs[j]!; k++) await redis.rpush(`${prefix}:chaos:runs`, `${jobs[j]}|4242|1|${now + k * 1000}`);
      }
    }
    log.append(FILES.faults, [
      { t: 'fault', kind: 'sigkill-worker', at: now + 500, until: now + 1500, pid: 5001 },
      { t: 'fault', kind: 'sigstop-worker', at: now - 1000, until: now + 3000, pid: 5002 },
    ]);
    // Seq samples: the task 'backwards' went from 9 to 5; every other task stays put.
    const at = (v: number) => ids.map((id) => (id === 'backwards' ? v : 1));
    log.append(FILES.seq, [{ t: 'seq', at: now, s: at(9) }, { t: 'seq', at: now + 500, s: at(5) }]);

    const report = await check({ connection: server.url, prefix, dir });
    const missed: string[] = [];
    const falseAlarms: string[] = [];
    for (const id of ids) {
      const { kind, plan } = PLANTED[id]!;
      const mine = report.violations.filter((v) => v.includes(` ${id}:`) || v.includes(`: ${id}.`) || v.startsWith(`${kind}: ${id}`) || new RegExp(`\\b${id}\\b`).test(v));
      if (!kind && mine.length) falseAlarms.push(...mine);
      if (!kind && plan.runs && report.agent.reruns.unexplained > 1) falseAlarms.push(`${id}: re-runs counted unexplained: ${JSON.stringify(report.agent.reruns)}`);
      if (kind && !mine.some((v) => v.startsWith(`${kind}:`))) missed.push(`${id}: expected ${kind}, got ${JSON.stringify(mine)}`);
    }
    return { report, missed, falseAlarms };
  } finally {
    redis.disconnect();
    await server.stop();
  }
}
