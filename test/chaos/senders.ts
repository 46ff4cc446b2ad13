// The senders of the fault suite: spawn tasks, send each task its events in
// every sender's order, finish them, and log what each call returned (the
// checker's ground truth). A send that fails with a connection error has an
// unknown outcome: keyed senders retry it with the same idempotency key until
// it is accepted; unkeyed senders log it as unknown and go on.
import type { Cluster, Redis } from 'ioredis';
import { BatonError, type BatonClient } from '../../src/index.js';
import { FILES, type RunLog, type SendRecord, type SpawnRecord } from './log.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Run `fn` over `items` with at most `limit` at once. */
export async function pool<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

/** A shared token bucket: at most `perSec` calls a second across every caller. */
export class RateLimit {
  private tokens = 0;
  private last = Date.now();
  constructor(private readonly perSec: number) {}
  async take(): Promise<void> {
    if (!(this.perSec > 0)) return;
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(this.perSec / 10, this.tokens + ((now - this.last) * this.perSec) / 1000);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await sleep(Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.perSec)));
    }
  }
}

/**
 * A failure after which the write may or may not be kept: the connection
 * failed (REDIS), or too few replicas acknowledged it in time (NOT_REPLICATED).
 * Any other BatonError is a rejection that wrote nothing.
 */
function unknownOutcome(err: BatonError): boolean {
  return err.code === 'REDIS' || err.code === 'NOT_REPLICATED';
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** How long a keyed call keeps retrying an unknown outcome before giving up (logged unknown). */
const RETRY_DEADLINE_MS = 120_000;

/** Spawn every task (retrying unknown outcomes; TASK_EXISTS means an earlier attempt landed). */
export async function spawnAll(
  client: BatonClient,
  log: RunLog,
  specs: Array<{ id: string; machine: string; input?: unknown }>,
  concurrency = 32,
): Promise<SpawnRecord[]> {
  const out: SpawnRecord[] = [];
  await pool(specs, concurrency, async (s) => {
    const start = Date.now();
    let tries = 0;
    let rec: SpawnRecord | undefined;
    while (!rec) {
      tries++;
      try {
        await client.spawn(s.machine, { id: s.id, input: s.input });
        rec = { t: 'spawn', task: s.id, machine: s.machine, input: s.input, outcome: 'accepted', at: Date.now(), tries };
      } catch (err) {
        // Ids are new in every run: TASK_EXISTS means an earlier attempt (or a resent command) created it.
        if (err instanceof BatonError && err.code === 'TASK_EXISTS') {
          rec = { t: 'spawn', task: s.id, machine: s.machine, input: s.input, outcome: 'accepted', at: Date.now(), tries, code: err.code };
        } else if (err instanceof BatonError && !unknownOutcome(err)) {
          rec = { t: 'spawn', task: s.id, machine: s.machine, input: s.input, outcome: 'rejected', code: err.code, err: describe(err), at: Date.now(), tries };
        } else if (Date.now() - start > RETRY_DEADLINE_MS) {
          rec = { t: 'spawn', task: s.id, machine: s.machine, input: s.input, outcome: 'unknown', err: describe(err), at: Date.now(), tries };
        } else {
          await sleep(100);
        }
      }
    }
    out.push(rec);
    log.append(FILES.spawns, rec);
  });
  return out;
}

export interface SenderSpec {
  name: string;
  client: BatonClient;
  /** Send with idempotency keys (and retry unknown outcomes with them). */
  keyed: boolean;
}

export interface SendStats {
  accepted: number;
  unknown: number;
  rejected: number;
  retried: number;
  duplicatesOnRetry: number;
}

/** Send one event and log what happened. */
async function sendOne(
  s: SenderSpec,
  log: RunLog,
  task: string,
  event: { type: 'ev'; id: string; sender: string; seq: number } | { type: 'finish' },
  id: string,
  seq: number,
  keyed: boolean,
  stats: SendStats,
): Promise<SendRecord> {
  const sentAt = Date.now();
  let tries = 0;
  for (;;) {
    tries++;
    try {
      const r = await s.client.send(task, event, keyed ? { idempotencyKey: id } : {});
      const rec: SendRecord = {
        t: 'send', task, id, type: event.type, sender: s.name, seq, keyed, outcome: 'accepted',
        entry: r.entryId, sentAt, ackAt: Date.now(), tries,
      };
      if (r.duplicate) {
        rec.dup = true;
        stats.duplicatesOnRetry++;
      }
      stats.accepted++;
      if (tries > 1) stats.retried++;
      log.append(FILES.events, rec);
      return rec;
    } catch (err) {
      if (err instanceof BatonError && !unknownOutcome(err)) {
        stats.rejected++;
        const rec: SendRecord = { t: 'send', task, id, type: event.type, sender: s.name, seq, keyed, outcome: 'rejected', code: err.code, err: describe(err), sentAt, ackAt: Date.now(), tries };
        log.append(FILES.events, rec);
        return rec;
      }
      if (!keyed || Date.now() - sentAt > RETRY_DEADLINE_MS) {
        stats.unknown++;
        const rec: SendRecord = { t: 'send', task, id, type: event.type, sender: s.name, seq, keyed, outcome: 'unknown', err: describe(err), sentAt, ackAt: Date.now(), tries };
        log.append(FILES.events, rec);
        return rec;
      }
      await sleep(50 + Math.random() * 100);
    }
  }
}

/**
 * Every sender sends `perTask` `ev` events to every task: in rounds (round r
 * is each task's r-th event from that sender), each task's events one after
 * the other, tasks concurrently. Senders run at the same time.
 */
export async function runSenders(opts: {
  senders: SenderSpec[];
  tasks: string[];
  perTask: number;
  concurrency: number;
  log: RunLog;
  rate?: RateLimit;
  onSent?: () => void;
}): Promise<SendStats> {
  const stats: SendStats = { accepted: 0, unknown: 0, rejected: 0, retried: 0, duplicatesOnRetry: 0 };
  await Promise.all(
    opts.senders.map(async (s) => {
      for (let seq = 1; seq <= opts.perTask; seq++) {
        // Shuffle the task order per round, so tasks get events at different moments.
        const order = [...opts.tasks].sort(() => Math.random() - 0.5);
        await pool(order, opts.concurrency, async (task) => {
          await opts.rate?.take();
          const id = `${s.name}.${task}.${seq}`;
          await sendOne(s, opts.log, task, { type: 'ev', id, sender: s.name, seq }, id, seq, s.keyed, stats);
          opts.onSent?.();
        });
      }
    }),
  );
  return stats;
}

/** Send `finish` to every task (keyed, retried until accepted). */
export async function finishAll(s: SenderSpec, log: RunLog, tasks: string[], concurrency = 32): Promise<SendStats> {
  const stats: SendStats = { accepted: 0, unknown: 0, rejected: 0, retried: 0, duplicatesOnRetry: 0 };
  await pool(tasks, concurrency, async (task) => {
    await sendOne(s, log, task, { type: 'finish' }, `finish.${task}`, 1, true, stats);
  });
  return stats;
}

/**
 * Sample every task's committed seq every `everyMs` into seq.jsonl, until
 * stopped. Reads through its own connection; a failed sample (Redis down) is
 * skipped.
 */
export function startSeqMonitor(redis: Redis | Cluster, stateKeys: string[], log: RunLog, everyMs = 500): { stop: () => Promise<number> } {
  let stopped = false;
  let samples = 0;
  const loop = (async () => {
    while (!stopped) {
      try {
        // Auto-pipelined (one batch per node); a failed read is a gap in the sample.
        const res = await Promise.all(stateKeys.map((k) => redis.hget(k, 'seq').catch(() => null)));
        const s = res.map((v) => (v === null || v === undefined ? null : Number(v)));
        log.append(FILES.seq, { t: 'seq', at: Date.now(), s });
        samples++;
      } catch {
        /* Redis away: skip this sample */
      }
      await sleep(everyMs);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return samples;
    },
  };
}
