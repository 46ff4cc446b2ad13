/**
 * Baselines measured on the same Redis without XState: the commit script
 * (TaskStore.commit, the exact call a task host makes, with arguments of the
 * same shape and size), the send script and PING.
 */
import { createActor } from 'xstate';
import type { Redis } from 'ioredis';
import { encodeJson } from '../src/persistence/codec.js';
import { Keys } from '../src/persistence/keys.js';
import { defineScripts } from '../src/persistence/scripts.js';
import { newSendToken, TaskStore, type CommitArgs } from '../src/persistence/task-store.js';
import { nextStreamId } from '../src/persistence/stream-id.js';
import { noticeHead } from '../src/persistence/view.js';
import { splitSnapshot } from '../src/persistence/parts.js';
import { counter, INC, MACHINE } from './machines.js';
import { now } from './stats.js';

const OWNER = 'bench-baseline-owner';
const LEASE_MS = 120_000;
const HISTORY_MAX = 10_000; // the runtime's default historyLimit

/** Snapshot JSON of the counter after `count` incs, exactly as a host commits it. */
export function counterSnapshotJson(count: number): { snapshot: string; value: string } {
  const actor = createActor(counter).start();
  for (let i = 0; i < count; i++) actor.send(INC);
  const json = encodeJson(actor.getPersistedSnapshot());
  const value = encodeJson(actor.getSnapshot().value);
  actor.stop();
  return { snapshot: json, value };
}

let cachedSnapshot: { snapshot: string; value: string } | undefined;

/**
 * One baseline task: spawned with a lease held by {@link OWNER}, then
 * committed seq 1, 2, 3, … With `append`, each commit also appends the event
 * to the mailbox under its send token, as the commit of a send from the
 * holding process does (the exact call a `send` makes; the Redis work a send
 * cannot do without: the event durable in the mailbox, once).
 */
export class CommitLoop {
  private seq = 0;
  private last = '0-0';
  private readonly event = encodeJson(INC);
  private readonly createdAt = Date.now();
  private readonly parts: Record<string, string>;
  private readonly value: string;

  private constructor(
    readonly store: TaskStore,
    readonly taskId: string,
    private readonly epoch: number,
    private readonly append: boolean,
  ) {
    cachedSnapshot ??= counterSnapshotJson(12_345);
    const s = cachedSnapshot;
    this.parts = splitSnapshot(JSON.parse(s.snapshot) as Record<string, unknown>, encodeJson);
    this.value = s.value;
  }

  static async create(store: TaskStore, taskId: string, options: { append?: boolean } = {}): Promise<CommitLoop> {
    const epoch = await store.spawn(taskId, { machine: MACHINE, version: 1, input: 'null', now: Date.now(), owner: OWNER, leaseMs: LEASE_MS });
    return new CommitLoop(store, taskId, epoch, options.append ?? false);
  }

  /** The arguments of the next commit, built the way task-host.ts builds them (notice included). */
  nextArgs(): CommitArgs {
    const seq = this.seq + 1;
    const t = Date.now();
    const timers = '[]';
    // Without the append the cursor stays where it is: a commit that moves it must name an entry the mailbox
    // holds (commit-7.lua refuses one that is gone), and the bare loop sends no entries.
    const cursor = this.append ? nextStreamId(this.last, t) : this.last;
    return {
      epoch: this.epoch,
      seq,
      cursor,
      append: this.append ? { event: this.event, expectLast: this.last, token: newSendToken() } : undefined,
      // What a counter's step changes: its context's `count` (and, on the first commit, every part).
      parts: seq === 1 ? { set: Object.entries(this.parts).flat(), del: [] } : { set: ['x::count', String(12_345 + seq)], del: [] },
      timers: seq === 1 ? timers : '',
      status: 'active',
      now: t,
      event: this.event,
      from: this.value,
      to: this.value,
      notice: noticeHead(
        this.taskId,
        { machine: MACHINE, version: 1, status: 'active', seq, updatedAt: t, createdAt: this.createdAt, base: seq - 1 },
        timers,
      ),
      owner: OWNER,
      leaseMs: LEASE_MS,
      historyLimit: HISTORY_MAX,
      version: 1,
    };
  }

  /** Commit the next step; resolves when Redis answered. */
  async commit(): Promise<void> {
    const args = this.nextArgs();
    await this.store.commit(this.taskId, args);
    this.seq = args.seq;
    this.last = args.cursor;
  }
}

/** A TaskStore over `conn` for `prefix` (scripts defined on the connection). */
export function storeOn(conn: Redis, prefix: string): TaskStore {
  defineScripts(conn);
  return new TaskStore(conn, new Keys(prefix));
}

/** Commits awaited one after another on one task for `durationMs`: count and elapsed ms. */
export async function sequentialCommits(loop: CommitLoop, durationMs: number): Promise<{ count: number; elapsedMs: number }> {
  const t0 = now();
  const end = t0 + BigInt(Math.round(durationMs * 1e6));
  let count = 0;
  let t = t0;
  while (t < end) {
    await loop.commit();
    count++;
    if ((count & 63) === 0) t = now();
  }
  return { count, elapsedMs: Number(now() - t0) / 1e6 };
}

/** `perTask` commits on each loop, each loop sequential, all loops concurrent (auto-pipelined). */
export async function concurrentCommits(loops: CommitLoop[], perTask: number): Promise<{ count: number; elapsedMs: number }> {
  const t0 = now();
  await Promise.all(
    loops.map(async (l) => {
      for (let i = 0; i < perTask; i++) await l.commit();
    }),
  );
  return { count: loops.length * perTask, elapsedMs: Number(now() - t0) / 1e6 };
}

/** Round-trip times (ms) of `n` awaited calls of `op`. */
export async function roundTrips(n: number, op: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = now();
    await op();
    out[i] = Number(now() - t0) / 1e6;
  }
  return out;
}
