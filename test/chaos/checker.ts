// The fault suite's checker. Independent of Baton's code: it reads only Redis
// (raw keys: each task's state hash and history, the agents' execution list)
// and the test's own logs in a run directory (spawns, every send and what it
// returned, injected faults, seq samples), and checks:
//
//  1. every accepted event (by id) is applied exactly once; an event whose
//     send() had an unknown outcome at most once; a rejected one never; no
//     event that nobody sent is applied;
//  2. each sender's events are applied in that sender's order, per task;
//  3. the committed context (`context.log`) is exactly the applied `ev`
//     events of the history, in order;
//  4. every task reaches its final state (`done`, steps [1, 2]);
//  5. each agent invocation's result is applied exactly once, and it executed
//     once, or more only when an earlier execution was interrupted by a fault
//     (its worker SIGKILLed or frozen, or Redis restarted/paused/disconnected
//     meanwhile): every re-run is attributed to a fault, or it is a violation;
//  6. history seqs run 1, 2, 3, … with no gap and no repeat, the last one is
//     the state's seq, and each entry starts where the previous one ended
//     (`from` = previous `to`: no forked writer);
//  7. a task's seq never goes backwards across the test's periodic samples.
//
// In lossy mode (AOF everysec), accepted events that are gone are counted and
// timed against the restart that lost them (the loss window) instead of
// failing the run.
//
// Usage: node --import tsx test/chaos/checker.ts <redis-url> <prefix> <run-dir> [--lossy]
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FILES, readJsonl, type FaultRecord, type SendRecord, type SeqSample, type SpawnRecord } from './log.js';

export interface CheckOptions {
  /** Where Redis is (a URL, ioredis options, or `{ cluster: nodes }`). */
  connection: CheckConnection;
  prefix: string;
  /** The run directory with the test's logs. */
  dir: string;
  /** AOF everysec: count lost accepted events (and measure the window) instead of failing. */
  lossy?: boolean;
  /** Steps each task's agent calls must have applied. @default [1, 2] */
  steps?: number[];
  /** The final state value. @default 'done' */
  finalValue?: string;
  /** Machines whose tasks have agent steps (others: events only). @default ['chaosTask'] */
  agentMachines?: string[];
  /** Every task must have reached its final state. @default true */
  requireFinal?: boolean;
}

/** A Redis URL, ioredis options (a node or Sentinel), or the startup nodes of a Redis Cluster. */
export type CheckConnection = string | RedisOptions | { cluster: ClusterNode[] };

/** A raw ioredis connection for the test's own reads (auto-pipelined, so it batches on a node and across a cluster alike). */
export function rawConnection(c: CheckConnection, retries = 50): Redis | Cluster {
  if (typeof c === 'string') return new Redis(c, { maxRetriesPerRequest: retries, enableAutoPipelining: true });
  if ('cluster' in c) return new Cluster(c.cluster, { enableAutoPipelining: true, redisOptions: { maxRetriesPerRequest: retries } });
  return new Redis({ ...c, maxRetriesPerRequest: retries, enableAutoPipelining: true });
}

export interface RerunCauses {
  'worker-killed': number;
  'worker-frozen': number;
  'redis-fault': number;
  unexplained: number;
}

export interface CheckReport {
  ok: boolean;
  tasks: number;
  /** Events the checker verified (accepted + unknown outcome, plus finishes). */
  eventsChecked: number;
  accepted: number;
  unknown: { total: number; applied: number; notApplied: number };
  rejected: number;
  rejectedCodes: Record<string, number>;
  lost: number;
  appliedTwice: number;
  /** Of appliedTwice: events sent without an idempotency key (a lost reply resent by the client library). */
  appliedTwiceUnkeyed: number;
  outOfOrder: number;
  phantom: number;
  contextMismatch: number;
  notFinal: number;
  /** Of notFinal: ticker tasks (never idle, so never passivated). */
  notFinalTickers: number;
  historyGaps: number;
  chainBreaks: number;
  historyTrimmed: number;
  seqSamples: number;
  seqBackwards: number;
  agent: {
    invocations: number;
    resultsApplied: number;
    resultsAppliedTwice: number;
    errors: number;
    dropped: number;
    executions: number;
    maxExecutions: number;
    reruns: RerunCauses;
    appliedWithoutExecution: number;
    executedNeverApplied: number;
  };
  /** Lossy mode: accepted events lost, and the loss window (ms before the restart that lost them). */
  loss?: { lost: number; keyed: number; unkeyed: number; windowMaxMs: number; windowsPerRestart: Array<{ at: number; lost: number; windowMs: number }>; stuckTasks: number };
  violations: string[];
}

type Fields = Record<string, string>;

function pairs(arr: string[]): Fields {
  const o: Fields = {};
  for (let i = 0; i + 1 < arr.length; i += 2) o[arr[i]!] = arr[i + 1]!;
  return o;
}

function parse(json: string | undefined): unknown {
  if (json === undefined) return undefined;
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

function sameJson(a: string | undefined, b: string | undefined): boolean {
  if (a === b) return true;
  return JSON.stringify(parse(a)) === JSON.stringify(parse(b));
}

/**
 * The root actor's committed snapshot (value and context), read from the raw
 * state hash in either storage format, written out here (not Baton's
 * assemble()) so the checker stays independent:
 *  - format 2 (`format: '2'`): the root's node part `n:` is `{ s, x?, c? }`;
 *    a machine's node (`x: 1`) holds its snapshot without context and
 *    children, and each top-level context key is a field `x::<key>` (or the
 *    whole context is `c` when it is not a plain object), with the items
 *    appended to an array since it was last written whole in chunks
 *    `a::<key>:<n>` (JSON arrays, joined in the order of n); another node's
 *    `s` is the whole snapshot;
 *  - format 1: one `snapshot` field with the whole snapshot.
 */
function rootSnapshot(state: Fields): { value?: unknown; context?: { log?: string[]; steps?: number[] } } | undefined {
  if (state.format !== '2') return parse(state.snapshot) as ReturnType<typeof rootSnapshot>;
  const node = parse(state['n:']) as { s?: Record<string, unknown>; x?: unknown; c?: unknown } | undefined;
  if (!node || typeof node !== 'object' || !node.s || typeof node.s !== 'object') return undefined;
  if (node.x !== 1) return node.s;
  const context: Record<string, unknown> = {};
  const chunks: Array<{ key: string; n: number; items: unknown }> = [];
  for (const f of Object.keys(state)) {
    if (f.startsWith('x::')) context[f.slice(3)] = parse(state[f]);
    else if (f.startsWith('a::')) {
      const at = f.lastIndexOf(':');
      chunks.push({ key: f.slice(3, at), n: Number(f.slice(at + 1)), items: parse(state[f]) });
    }
  }
  const unreadable = new Set<string>();
  for (const c of chunks.sort((a, b) => a.n - b.n)) {
    const base = context[c.key] ?? [];
    // A chunk that does not join (not arrays) leaves the key unreadable: the checks on it fail.
    if (!unreadable.has(c.key) && Array.isArray(base) && Array.isArray(c.items)) context[c.key] = base.concat(c.items);
    else {
      unreadable.add(c.key);
      context[c.key] = undefined;
    }
  }
  return { ...node.s, context: 'c' in node ? node.c : context } as ReturnType<typeof rootSnapshot>;
}

/** One history entry with its event and values as JSON text (format 2's list item, or format 1's stream fields). */
type HistoryRow = { sid: string; seq?: string; e?: string; from?: string; to?: string };

/** A history entry of format 2: a JSON item of the history list. */
function listRow(json: string, i: number): HistoryRow {
  const h = parse(json) as { seq?: unknown; e?: unknown; from?: unknown; to?: unknown } | undefined;
  if (!h || typeof h !== 'object') return { sid: `#${i}` };
  const text = (v: unknown) => (v === undefined ? undefined : JSON.stringify(v));
  return { sid: `#${i}`, seq: h.seq === undefined ? undefined : String(h.seq), e: text(h.e), from: text(h.from), to: text(h.to) };
}

/** Key names, written out here (not imported from Baton) so the checker stays independent. */
function taskKey(prefix: string, id: string, part: 'state' | 'history'): string {
  return `${prefix}:task:{${id}}:${part}`;
}

const REDIS_FAULTS = new Set(['redis-failover', 'redis-restart', 'redis-powercut', 'client-pause', 'client-kill-type', 'client-kill-addr', 'client-kill-pubsub']);

export async function check(opts: CheckOptions): Promise<CheckReport> {
  const violations: string[] = [];
  const counts = new Map<string, number>();
  const violate = (kind: string, msg: string) => {
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    if (violations.length < 200) violations.push(`${kind}: ${msg}`);
  };
  const steps = opts.steps ?? [1, 2];
  const finalValue = opts.finalValue ?? 'done';
  const agentMachines = new Set(opts.agentMachines ?? ['chaosTask']);

  const spawns = readJsonl<SpawnRecord>(path.join(opts.dir, FILES.spawns));
  const sends = readJsonl<SendRecord>(path.join(opts.dir, FILES.events));
  const faults = readJsonl<FaultRecord>(path.join(opts.dir, FILES.faults)).filter((f) => !f.detail?.startsWith('not injected'));
  const samples = readJsonl<SeqSample>(path.join(opts.dir, FILES.seq));
  let sampleOrder: string[] = [];
  try {
    sampleOrder = JSON.parse(readFileSync(path.join(opts.dir, FILES.tasks), 'utf8')) as string[];
  } catch {
    /* no seq samples */
  }

  const tasks = spawns.filter((s) => s.outcome === 'accepted');
  const machineOf = new Map(tasks.map((s) => [s.task, s.machine]));
  const byTask = new Map<string, SendRecord[]>();
  for (const s of sends) {
    const list = byTask.get(s.task) ?? [];
    list.push(s);
    byTask.set(s.task, list);
  }
  for (const s of sends) if (!machineOf.has(s.task)) violate('send-to-unknown-task', `${s.id} went to ${s.task}, which the spawn log does not have`);

  const redis = rawConnection(opts.connection);
  redis.on('error', () => undefined);
  const report: CheckReport = {
    ok: false,
    tasks: tasks.length,
    eventsChecked: 0,
    accepted: 0,
    unknown: { total: 0, applied: 0, notApplied: 0 },
    rejected: 0,
    rejectedCodes: {},
    lost: 0,
    appliedTwice: 0,
    appliedTwiceUnkeyed: 0,
    outOfOrder: 0,
    phantom: 0,
    contextMismatch: 0,
    notFinal: 0,
    notFinalTickers: 0,
    historyGaps: 0,
    chainBreaks: 0,
    historyTrimmed: 0,
    seqSamples: samples.length,
    seqBackwards: 0,
    agent: {
      invocations: 0,
      resultsApplied: 0,
      resultsAppliedTwice: 0,
      errors: 0,
      dropped: 0,
      executions: 0,
      maxExecutions: 0,
      reruns: { 'worker-killed': 0, 'worker-frozen': 0, 'redis-fault': 0, unexplained: 0 },
      appliedWithoutExecution: 0,
      executedNeverApplied: 0,
    },
    violations,
  };
  const lostRecords: SendRecord[] = [];
  const appliedJobs = new Map<string, string>(); // jobId -> task
  const finalSeq = new Map<string, number>();

  try {
    // ------------------------------------------------------------ per task
    for (let i = 0; i < tasks.length; i += 100) {
      const batch = tasks.slice(i, i + 100);
      // The history is a list of JSON entries (format 2), or a stream for a task still in format 1.
      const kinds = await Promise.all(batch.map((t) => redis.type(taskKey(opts.prefix, t.task, 'history'))));
      const res = await Promise.all(
        batch.map((t, j) =>
          Promise.all([
            redis.hgetall(taskKey(opts.prefix, t.task, 'state')),
            kinds[j] === 'stream' ? redis.xrange(taskKey(opts.prefix, t.task, 'history'), '-', '+') : redis.lrange(taskKey(opts.prefix, t.task, 'history'), 0, -1),
          ]),
        ),
      );
      batch.forEach((t, j) => {
        const [state, raw] = res[j]!;
        const rows = kinds[j] === 'stream' ? (raw as Array<[string, string[]]>).map(([sid, f]) => ({ sid, ...pairs(f) }) as HistoryRow) : (raw as string[]).map(listRow);
        checkTask(t, state as Fields, rows);
      });
    }

    function checkTask(t: SpawnRecord, state: Fields, history: HistoryRow[]): void {
      const id = t.task;
      if (!state || Object.keys(state).length === 0) {
        violate('task-missing', `${id}: spawn was accepted but the task has no state in Redis`);
        return;
      }
      const seq = Number(state.seq);
      finalSeq.set(id, seq);

      // 6. seqs 1..N, chained.
      const first = Number(history[0]?.seq ?? 0);
      if (first !== 1) {
        report.historyTrimmed++;
        violate('history-trimmed', `${id}: history starts at seq ${first}; the checker needs it whole`);
      }
      for (let k = 1; k < history.length; k++) {
        const prev = history[k - 1]!;
        const cur = history[k]!;
        if (Number(cur.seq) !== Number(prev.seq) + 1) {
          report.historyGaps++;
          violate('history-seq', `${id}: history seq ${cur.seq} follows ${prev.seq}`);
        }
        if (!sameJson(cur.from, prev.to)) {
          report.chainBreaks++;
          violate('history-fork', `${id}: seq ${cur.seq} starts from ${cur.from} but seq ${prev.seq} ended in ${prev.to}`);
        }
      }
      const last = Number(history[history.length - 1]?.seq ?? 0);
      if (history.length && last !== seq) {
        report.historyGaps++;
        violate('history-seq', `${id}: state seq ${seq} but the last history entry is seq ${last}`);
      }

      // 1-3. events.
      const events = history.map((h) => ({ seq: Number(h.seq), e: (parse(h.e) ?? {}) as Record<string, unknown> }));
      const applied = events.filter((h) => h.e.type === 'ev').map((h) => String(h.e.id));
      const finishes = events.filter((h) => h.e.type === 'finish').length;
      const snapshot = rootSnapshot(state);
      const ctxLog = snapshot?.context?.log;
      if (!Array.isArray(ctxLog) || JSON.stringify(ctxLog) !== JSON.stringify(applied)) {
        report.contextMismatch++;
        violate('context', `${id}: committed context.log (${Array.isArray(ctxLog) ? ctxLog.length : 'none'}) differs from the history's applied events (${applied.length})`);
      }
      const times = new Map<string, number>();
      for (const a of applied) times.set(a, (times.get(a) ?? 0) + 1);
      const recs = byTask.get(id) ?? [];
      const known = new Set(recs.map((r) => r.id));
      for (const a of times.keys()) {
        if (!known.has(a)) {
          report.phantom++;
          violate('phantom', `${id}: applied event ${a} that no sender logged`);
        }
      }
      for (const r of recs) {
        const n = r.type === 'finish' ? finishes : (times.get(r.id) ?? 0);
        if (r.outcome === 'accepted') {
          report.accepted++;
          report.eventsChecked++;
          if (n === 0) {
            report.lost++;
            lostRecords.push(r);
            if (!opts.lossy) violate('lost', `${id}: accepted event ${r.id} (acked at ${r.ackAt}, entry ${r.entry}) was never applied`);
          }
        } else if (r.outcome === 'unknown') {
          report.unknown.total++;
          report.eventsChecked++;
          if (n > 0) report.unknown.applied++;
          else report.unknown.notApplied++;
        } else {
          report.rejected++;
          report.rejectedCodes[r.code ?? '?'] = (report.rejectedCodes[r.code ?? '?'] ?? 0) + 1;
          if (n > 0) violate('rejected-applied', `${id}: event ${r.id} was rejected (${r.code}) but applied ${n}×`);
        }
        if (n > 1) {
          report.appliedTwice++;
          if (!r.keyed) report.appliedTwiceUnkeyed++;
          violate('applied-twice', `${id}: event ${r.id} (${r.outcome}, keyed ${r.keyed}, ${r.tries} tries) applied ${n}×`);
        }
      }
      // Order per sender.
      const seqOf = new Map(recs.filter((r) => r.type === 'ev').map((r) => [r.id, r] as const));
      const lastBySender = new Map<string, number>();
      for (const a of applied) {
        const r = seqOf.get(a);
        if (!r) continue;
        const prev = lastBySender.get(r.sender) ?? 0;
        if (r.seq <= prev) {
          report.outOfOrder++;
          violate('order', `${id}: ${r.sender}'s event #${r.seq} applied after its #${prev}`);
        }
        lastBySender.set(r.sender, Math.max(prev, r.seq));
      }

      // 4. final state.
      const hasAgents = agentMachines.has(t.machine);
      const final = opts.requireFinal === false || (state.status === 'done' && snapshot?.value === finalValue && (!hasAgents || JSON.stringify(snapshot?.context?.steps) === JSON.stringify(steps)));
      if (!final) {
        report.notFinal++;
        if ((t.input as { ticker?: boolean } | undefined)?.ticker) report.notFinalTickers++;
        if (!opts.lossy) violate('not-final', `${id}: status ${state.status}, value ${JSON.stringify(snapshot?.value)}, steps ${JSON.stringify(snapshot?.context?.steps)}${state.reason ? `, reason ${state.reason}` : ''}`);
      }

      // 5. agent results.
      if (hasAgents) {
        report.agent.invocations += steps.length;
        const results = events.filter((h) => h.e.type === 'baton.agent.result');
        report.agent.errors += events.filter((h) => h.e.type === 'baton.agent.error').length;
        const dropped = events.filter((h) => h.e.type === 'baton.agent.dropped');
        report.agent.dropped += dropped.length;
        for (const d of dropped) violate('agent-dropped', `${id}: seq ${d.seq} dropped a result of ${String(d.e.jobId)}`);
        const perJob = new Map<string, number>();
        for (const r of results) perJob.set(String(r.e.jobId), (perJob.get(String(r.e.jobId)) ?? 0) + 1);
        for (const [job, n] of perJob) {
          appliedJobs.set(job, id);
          report.agent.resultsApplied++;
          if (n > 1) {
            report.agent.resultsAppliedTwice++;
            violate('agent-applied-twice', `${id}: result of ${job} applied ${n}×`);
          }
        }
        if (perJob.size !== steps.length && !opts.lossy) violate('agent-results', `${id}: ${perJob.size} agent results applied, expected ${steps.length}`);
      }
    }

    // ------------------------------------------------------------ 5. executions
    const runsRaw = await redis.lrange(`${opts.prefix}:chaos:runs`, 0, -1);
    const runs = new Map<string, Array<{ pid: number; attempt: number; at: number }>>();
    for (const line of runsRaw) {
      const [job, pid, attempt, at] = line.split('|');
      const list = runs.get(job!) ?? [];
      list.push({ pid: Number(pid), attempt: Number(attempt), at: Number(at) });
      runs.set(job!, list);
    }
    report.agent.executions = runsRaw.length;
    const killedAt = new Map<number, number>();
    const frozen = new Map<number, Array<{ at: number; until: number }>>();
    for (const f of faults) {
      if (f.kind === 'sigkill-worker' && f.pid) killedAt.set(f.pid, f.at);
      if (f.kind === 'sigstop-worker' && f.pid) frozen.set(f.pid, [...(frozen.get(f.pid) ?? []), { at: f.at, until: f.until ?? f.at }]);
    }
    const redisFaults = faults.filter((f) => REDIS_FAULTS.has(f.kind));
    // While Redis is away no lease is renewed: one can lapse during the outage or while the holder reconnects,
    // and the task's next holder re-drives the agent work that was in flight (by design). So a Redis fault
    // explains a re-run whose first run began up to two leases after the fault ended, not only during it.
    const leaseMs = readLeaseMs(opts.dir);
    for (const [job, task] of appliedJobs) {
      const list = (runs.get(job) ?? []).sort((a, b) => a.at - b.at);
      if (list.length === 0) {
        report.agent.appliedWithoutExecution++;
        if (!opts.lossy) violate('agent-no-execution', `${task}: result of ${job} applied, but no execution was recorded`);
        continue;
      }
      report.agent.maxExecutions = Math.max(report.agent.maxExecutions, list.length);
      for (let k = 0; k + 1 < list.length; k++) {
        const run = list[k]!;
        const next = list[k + 1]!;
        const killed = killedAt.get(run.pid);
        if (killed !== undefined && killed >= run.at) {
          report.agent.reruns['worker-killed']++;
        } else if ((frozen.get(run.pid) ?? []).some((f) => f.at >= run.at - 50 && f.at <= next.at)) {
          report.agent.reruns['worker-frozen']++;
        } else if ((frozen.get(next.pid) ?? []).some((f) => f.at <= run.at && f.until >= run.at - 50 && f.until <= next.at + 100)) {
          // The later execution is the frozen worker's own: it took the job before its freeze (its lock then
          // lapsed and the job ran elsewhere) and recorded its start only after SIGCONT.
          report.agent.reruns['worker-frozen']++;
        } else if (redisFaults.some((f) => (f.until ?? f.at) + 2 * leaseMs >= run.at && f.at <= next.at + 50)) {
          report.agent.reruns['redis-fault']++;
        } else {
          report.agent.reruns.unexplained++;
          violate('agent-rerun', `${task}: ${job} executed ${list.length}× (run ${k + 1} on pid ${run.pid} at ${run.at}, attempt ${run.attempt}; next on pid ${next.pid} at ${next.at}, attempt ${next.attempt}) with no fault to explain it`);
        }
      }
    }
    for (const job of runs.keys()) {
      if (!appliedJobs.has(job)) {
        report.agent.executedNeverApplied++;
        if (!opts.lossy) violate('agent-unapplied', `${job} executed ${runs.get(job)!.length}× but no task applied its result`);
      }
    }

    // ------------------------------------------------------------ 7. seq samples
    if (sampleOrder.length) {
      const max = new Array<number>(sampleOrder.length).fill(0);
      for (const s of samples) {
        s.s.forEach((v, i) => {
          if (v === null) return;
          if (v < max[i]!) {
            report.seqBackwards++;
            if (!opts.lossy) violate('seq-backwards', `${sampleOrder[i]}: seq ${v} sampled at ${s.at} after ${max[i]} had been seen`);
          }
          max[i] = Math.max(max[i]!, v);
        });
      }
      sampleOrder.forEach((id, i) => {
        const f = finalSeq.get(id);
        if (f !== undefined && f < max[i]!) {
          report.seqBackwards++;
          if (!opts.lossy) violate('seq-backwards', `${id}: final seq ${f} is below the sampled ${max[i]}`);
        }
      });
    }

    // ------------------------------------------------------------ loss window (lossy mode)
    if (opts.lossy) {
      // A failover loses what its master had not passed on: the fault starts with the cut of the replica's
      // link (`at`) and the loss is timed against the master's SIGKILL.
      const restarts = faults
        .filter((f) => f.kind === 'redis-restart' || f.kind === 'redis-powercut' || f.kind === 'redis-failover')
        .map((f) => (f.timings?.killAt ? { ...f, at: f.timings.killAt } : f))
        .sort((a, b) => a.at - b.at);
      const per = new Map<number, { lost: number; windowMs: number }>();
      for (const r of lostRecords) {
        // A reply the dying server wrote just before the kill can reach the client a few ms after `at`
        // (seen: acked 3 ms after a cut's kill, on a loaded machine): a cut explains losses acked before it ended.
        const restart = restarts.find((f) => (f.until ?? f.at) >= r.ackAt);
        if (!restart) {
          violate('lost-without-restart', `${r.task}: accepted event ${r.id} (acked ${r.ackAt}) lost with no restart after it`);
          continue;
        }
        const w = per.get(restart.at) ?? { lost: 0, windowMs: 0 };
        w.lost++;
        w.windowMs = Math.max(w.windowMs, restart.at - r.ackAt);
        per.set(restart.at, w);
      }
      report.loss = {
        lost: lostRecords.length,
        keyed: lostRecords.filter((r) => r.keyed).length,
        unkeyed: lostRecords.filter((r) => !r.keyed).length,
        windowMaxMs: Math.max(0, ...[...per.values()].map((w) => w.windowMs)),
        windowsPerRestart: restarts.map((f) => ({ at: f.at, lost: per.get(f.at)?.lost ?? 0, windowMs: per.get(f.at)?.windowMs ?? 0 })),
        stuckTasks: report.notFinal,
      };
    }
  } finally {
    redis.disconnect();
  }
  report.ok = violations.length === 0;
  return report;
}

/** One line per non-zero figure, for logs. */
export function summarise(r: CheckReport): string {
  const a = r.agent;
  return [
    `tasks ${r.tasks}, events checked ${r.eventsChecked} (accepted ${r.accepted}, unknown outcome ${r.unknown.total}: ${r.unknown.applied} applied, ${r.unknown.notApplied} not), rejected ${r.rejected}`,
    `lost ${r.lost}, applied twice ${r.appliedTwice} (unkeyed ${r.appliedTwiceUnkeyed}), out of order ${r.outOfOrder}, phantom ${r.phantom}, context mismatch ${r.contextMismatch}, not final ${r.notFinal} (tickers ${r.notFinalTickers})`,
    `history gaps ${r.historyGaps}, forks ${r.chainBreaks}, seq samples ${r.seqSamples}, seq backwards ${r.seqBackwards}`,
    `agent invocations ${a.invocations}, results applied ${a.resultsApplied} (twice ${a.resultsAppliedTwice}), executions ${a.executions} (max ${a.maxExecutions}/invocation), re-runs ${JSON.stringify(a.reruns)}, dropped ${a.dropped}`,
    r.loss ? `loss: ${r.loss.lost} accepted events lost (${r.loss.keyed} keyed, ${r.loss.unkeyed} unkeyed), window ≤ ${r.loss.windowMaxMs} ms, stuck tasks ${r.loss.stuckTasks}` : '',
    r.violations.length ? `violations (${r.violations.length}):\n  ${r.violations.slice(0, 20).join('\n  ')}` : 'no violations',
  ]
    .filter(Boolean)
    .join('\n');
}

// Standalone: node --import tsx test/chaos/checker.ts <redis-url> <prefix> <run-dir> [--lossy]
if (process.argv[1] && import.meta.url === new URL(`file://${path.resolve(process.argv[1])}`).href) {
  const [url, prefix, dir] = process.argv.slice(2);
  if (!url || !prefix || !dir) {
    console.error('usage: checker.ts <redis-url> <prefix> <run-dir> [--lossy]');
    process.exit(2);
  }
  const r = await check({ connection: url, prefix, dir, lossy: process.argv.includes('--lossy') });
  console.log(summarise(r));
  process.exit(r.ok ? 0 : 1);
}

/** The lease the run's workers used (meta.json), 0 when the run did not record it. */
function readLeaseMs(dir: string): number {
  try {
    const meta = JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8')) as { options?: { leaseMs?: unknown } };
    return typeof meta.options?.leaseMs === 'number' ? meta.options.leaseMs : 0;
  } catch {
    return 0;
  }
}
