// The test's own logs: JSON lines in a run directory, written by the senders,
// the fault loops and the seq monitor, read back by the checker. Record types
// are shared here; nothing in this file talks to Redis or Baton.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** A spawn, as the test saw it. */
export interface SpawnRecord {
  t: 'spawn';
  task: string;
  machine: string;
  input?: unknown;
  outcome: 'accepted' | 'rejected' | 'unknown';
  code?: string;
  err?: string;
  at: number;
  tries: number;
}

/** One event a sender sent, and what send() said. */
export interface SendRecord {
  t: 'send';
  task: string;
  /** Event id (`ev` events: `<sender>.<task>.<seq>`); `finish` events: `finish.<task>`. */
  id: string;
  type: 'ev' | 'finish';
  sender: string;
  /** Position in this sender's order for this task (1, 2, …). */
  seq: number;
  /** Sent with an idempotency key (retried with it on an unknown outcome). */
  keyed: boolean;
  /**
   * accepted: send() resolved (the event is durable).
   * unknown:  send() failed with a connection error (REDIS) or NOT_REPLICATED: it may or may not have been stored.
   * rejected: send() threw a BatonError: nothing was written.
   */
  outcome: 'accepted' | 'unknown' | 'rejected';
  /** send() resolved with duplicate: true (a retry after an unknown outcome found the first attempt). */
  dup?: boolean;
  entry?: string;
  code?: string;
  err?: string;
  /** When the first attempt started and when send() resolved (ms since the epoch). */
  sentAt: number;
  ackAt: number;
  tries: number;
}

/** One injected fault. */
export interface FaultRecord {
  t: 'fault';
  kind: FaultKind;
  at: number;
  /** End of the fault's effect (restart done, pause over, SIGCONT sent). */
  until?: number;
  pid?: number;
  detail?: string;
  /** Moments of a multi-step fault (a failover: cutAt, killAt, promotedAt, firstCommitAt, rejoinedAt), ms since the epoch. */
  timings?: Record<string, number>;
  /** The tasks a fault hit (a failover: those the failed master held). */
  tasks?: string[];
}

export type FaultKind =
  | 'sigkill-worker'
  | 'sigstop-worker'
  | 'redis-restart'
  | 'redis-powercut'
  | 'client-kill-type'
  | 'client-kill-addr'
  | 'client-kill-pubsub'
  | 'client-pause'
  | 'redis-failover';

/** A sample of every task's committed seq (in the order of tasks.json). */
export interface SeqSample {
  t: 'seq';
  at: number;
  s: Array<number | null>;
}

export type LogRecord = SpawnRecord | SendRecord | FaultRecord | SeqSample;

/** Append-only JSON-lines files in one directory. */
export class RunLog {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  append(name: string, records: LogRecord | LogRecord[]): void {
    const list = Array.isArray(records) ? records : [records];
    if (list.length === 0) return;
    appendFileSync(this.file(name), list.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }

  writeJson(name: string, value: unknown): void {
    writeFileSync(this.file(name), JSON.stringify(value, null, 2));
  }
}

/** Read a JSON-lines file (missing: empty). */
export function readJsonl<T = LogRecord>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as T);
}

/** Names of the files in a run directory. */
export const FILES = {
  tasks: 'tasks.json',
  spawns: 'spawns.jsonl',
  events: 'events.jsonl',
  faults: 'faults.jsonl',
  seq: 'seq.jsonl',
  meta: 'meta.json',
} as const;
