import { randomBytes } from 'node:crypto';
import { BatonError, ErrorCode, FencedError, SeqConflictError, StaleMailboxError, TaskExistsError, TaskNotFoundError, TaskNotRunningError } from '../errors.js';
import type { Keys } from './keys.js';
import { runScript, ScriptCode, type RedisLike } from './scripts.js';
import { ReplicaWaits, type Durability, type Ticket } from './replication.js';

/**
 * Typed calls over Baton's Lua scripts: each maps its return codes to results
 * or {@link BatonError}s. This is the only module that writes task state.
 */

type Reply = [number, ...unknown[]];

/**
 * The one table from a script's return code to the error a caller sees
 * (codes in scripts.ts, each script's header says which it returns).
 */
const REFUSALS: Partial<Record<number, (taskId: string, reply: Reply) => BatonError>> = {
  [ScriptCode.NotFound]: (id) => new TaskNotFoundError(id),
  [ScriptCode.Exists]: (id) => new TaskExistsError(id),
  [ScriptCode.NotRunning]: (id, r) => new TaskNotRunningError(id, String(r[1])),
  [ScriptCode.Fenced]: (id) => new FencedError(id),
  [ScriptCode.SeqConflict]: (id, r) => new SeqConflictError(id, Number(r[2] ?? 0), Number(r[1])),
  [ScriptCode.Stale]: (id, r) => new StaleMailboxError(id, String(r[1])),
  // The holder's state is ahead of Redis: it is restored from the last commit, like a stale mailbox.
  [ScriptCode.Gone]: (id, r) =>
    new StaleMailboxError(
      id,
      String(r[1]),
      `task '${id}': the mailbox entry this commit consumes is not in Redis (a master acknowledged it and failed over before passing it on); restoring from the last commit`,
    ),
};

/** The change notice the commit script would publish: its head, then the delta (as commit-7.lua writes it). */
function noticeOf(c: CommitArgs): string {
  const { set, del } = c.parts;
  const s: string[] = [];
  // The outbox field is no part of the state (commit-7.lua leaves it out of the notice too).
  for (let i = 0; i < set.length; i += 2) if (set[i] !== OUTBOX_FIELD) s.push(`${JSON.stringify(set[i])}:${set[i + 1]}`);
  return `${c.notice}{"s":{${s.join(',')}},"x":[${del.filter((f) => f !== OUTBOX_FIELD).map((f) => JSON.stringify(f)).join(',')}]}}`;
}

/** The typed error for a script's refusal, or an unexpected-reply error. */
function refused(script: string, taskId: string, reply: Reply): BatonError {
  return REFUSALS[reply[0]]?.(taskId, reply) ?? new BatonError(ErrorCode.Redis, `${script}: unexpected reply ${JSON.stringify(reply)}`);
}

/** Result of appending an event to a mailbox. */
export interface AppendResult {
  /** Stream id of the entry. */
  id: string;
  /** Id of the entry before it ('0-0' for the first); undefined for a duplicate. */
  prev?: string;
  /** Owner id of the holder at append time ('' when none). */
  holder: string;
  /** True when the idempotency key was seen before and nothing was written. */
  duplicate: boolean;
}

const TOKEN_PREFIX = randomBytes(9).toString('base64url');
let tokenCount = 0;

/**
 * A token identifying one send: a command resent after a lost reply (or a
 * fallback send) appends nothing twice. Unique per process (random prefix)
 * and per call (counter); cheaper than random bytes per call.
 */
export function newSendToken(): string {
  return TOKEN_PREFIX + (tokenCount++).toString(36);
}

/** The state hash field a commit keeps its step's sends to other tasks and child spawns in, until they are done (no part of the state). */
export const OUTBOX_FIELD = 'o';

/** Prefix of the state hash fields holding each agent child's latest progress report (by child path). */
export const PROGRESS_FIELD = 'g:';

/** Committed fields returned when a lease is acquired. */
export type StateFields = Record<string, string>;

function pairs(arr: unknown[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < arr.length; i += 2) out[String(arr[i])] = String(arr[i + 1]);
  return out;
}

/** The parts a commit changes (see parts.ts): flat lists, as the commit script takes them. */
export interface PartsDelta {
  /** field, JSON, field, JSON, … */
  set: string[];
  /** fields to delete */
  del: string[];
}

/** Arguments of one commit. */
export interface CommitArgs {
  epoch: number;
  seq: number;
  cursor: string;
  /** The parts of the actor tree that changed. */
  parts: PartsDelta;
  /** Pending timers (JSON), or '' when unchanged since the last commit. */
  timers: string;
  status: string;
  now: number;
  event: string;
  from: string;
  to: string;
  notice: string;
  owner: string;
  leaseMs: number;
  historyLimit: number;
  version: number;
  /** An event sent from the writer's own process, appended by this commit (its id is the cursor). */
  append?: { event: string; expectLast: string; token: string };
  /** Sets the task's `reason` (why it ended in error without running). */
  reason?: string;
  /** Replaces the task's list of refused events (JSON), when this step refused one. */
  rejections?: string;
  /** The task was stored in format 1 (one snapshot field): this commit writes every part and converts it. */
  upgrade?: boolean;
}

/**
 * One history entry: the commit's seq, event, root state value before and
 * after, time, and (format 2) what the commit replaced: `u` the previous JSON
 * of each field it set or deleted, `n` the fields it created. Entries converted from
 * format 1 have no undo and cannot be rebuilt past.
 */
export interface HistoryRecord {
  seq: number;
  e: unknown;
  from: unknown;
  to: unknown;
  at: number;
  u?: Record<string, unknown>;
  n?: string[];
}

function parseHistory(json: string): HistoryRecord {
  return JSON.parse(json) as HistoryRecord;
}

/** Reads and writes one prefix's tasks. */
export class TaskStore {
  /** The replication barrier when writes must reach replicas (`durability.replicas` > 0), else undefined. */
  private readonly replicas: ReplicaWaits | undefined;

  constructor(
    readonly redis: RedisLike,
    readonly keys: Keys,
    durability?: Durability,
  ) {
    this.replicas = durability && durability.replicas > 0 ? new ReplicaWaits(redis, durability) : undefined;
  }

  /** Call right before sending a write for `key`: with durability, where it goes (see {@link ReplicaWaits}). */
  private ticket(key: string): Ticket | undefined {
    return this.replicas?.ticket(key);
  }

  /** Once the write sent under `t` said it wrote: with durability, resolves when enough replicas hold it. */
  private replicated(t: Ticket | undefined, key: string, what: () => string): Promise<void> | undefined {
    return t && this.replicas!.confirm(t, what, key);
  }

  /**
   * True on a single Redis node: {@link spawn} then also writes the due set
   * and the index in its one script. On Redis Cluster those keys live in other
   * slots and the caller writes them.
   */
  get spawnFolds(): boolean {
    return !(this.redis as { isCluster?: boolean }).isCluster;
  }

  /**
   * Create a task; with `owner`, also take its lease and return the epoch.
   * Where {@link spawnFolds}, `dueAt` marks it due and `index` adds it to the
   * index in the same script (ignored otherwise). `parent` and `link` make it
   * a child task (fromTask).
   */
  async spawn(
    taskId: string,
    a: { machine: string; version: number; input: string; now: number; owner: string; leaseMs: number; dueAt?: number; index?: boolean; parent?: string; link?: string },
  ): Promise<number> {
    const k = this.keys.task(taskId);
    const fold = this.spawnFolds;
    const due = fold && a.dueAt !== undefined ? Math.round(a.dueAt) : undefined;
    const t = this.ticket(k.state);
    const sent = runScript<Reply>(this.redis, 'batonSpawn', [k.state, k.lease, k.epoch, fold ? this.keys.due : k.state, fold ? this.keys.tasks : k.state], [
      a.machine,
      a.version,
      a.input,
      a.now,
      a.owner,
      a.leaseMs,
      due ?? '',
      fold && a.index ? '1' : '',
      taskId,
      a.parent ?? '',
      a.link ?? '',
    ]);
    const reply = await sent;
    // TASK_EXISTS too waits for the replicas: a retry of a spawn that was not replicated may get it, and
    // it must then mean the task exists where a failover keeps it.
    if (reply[0] === ScriptCode.Ok || reply[0] === ScriptCode.Exists) await this.replicated(t, k.state, () => `the spawn of task '${taskId}'`);
    if (reply[0] !== ScriptCode.Ok) throw refused('spawn', taskId, reply);
    if (due !== undefined) this.written.set(taskId, due);
    return Number(reply[1]);
  }

  /** Append an event (JSON) to a task's mailbox. */
  async append(
    taskId: string,
    a: { event: string; idempotencyKey?: string; idemTtlSec: number; now: number; owner: string; token?: string },
  ): Promise<AppendResult> {
    const k = this.keys.task(taskId);
    const idem = a.idempotencyKey ?? '';
    // A token per call, unless an idempotency key already identifies it.
    const token = idem ? '' : (a.token ?? newSendToken());
    const t = this.ticket(k.state);
    const sent = runScript<Reply>(this.redis, 'batonSend', [k.state, k.mailbox, k.lease, k.idemPrefix + idem, k.recent], [
      a.event,
      idem,
      a.idemTtlSec,
      a.now,
      this.keys.ownerChannelPrefix,
      taskId,
      a.owner,
      token,
    ]);
    const reply = await sent;
    switch (reply[0]) {
      case ScriptCode.Ok:
        await this.replicated(t, k.state, () => `the event sent to task '${taskId}'`);
        return { id: String(reply[1]), prev: String(reply[2]), holder: String(reply[3]), duplicate: false };
      case ScriptCode.Duplicate:
        await this.replicated(t, k.state, () => `the event sent to task '${taskId}'`);
        return { id: String(reply[1]), holder: String(reply[2] ?? ''), duplicate: true };
      default:
        throw refused('send', taskId, reply);
    }
  }

  /** Take a task's lease. Returns the epoch and committed fields, or why not. */
  async acquire(
    taskId: string,
    owner: string,
    leaseMs: number,
  ): Promise<{ ok: true; epoch: number; fields: StateFields } | { ok: false; reason: 'not-found' | 'not-running' | 'held'; detail?: string }> {
    const k = this.keys.task(taskId);
    const t = this.ticket(k.state);
    const reply = await runScript<Reply>(this.redis, 'batonAcquire', [k.state, k.lease, k.epoch], [owner, leaseMs]);
    switch (reply[0]) {
      case ScriptCode.Ok:
        // A lease counts as taken only once replicated: a failover can then not hand out its epoch again.
        await this.replicated(t, k.state, () => `the lease of task '${taskId}'`);
        return { ok: true, epoch: Number(reply[1]), fields: pairs(reply[2] as unknown[]) };
      case ScriptCode.NotFound:
        return { ok: false, reason: 'not-found' };
      case ScriptCode.NotRunning:
        return { ok: false, reason: 'not-running', detail: String(reply[1]) };
      case ScriptCode.Held:
        return { ok: false, reason: 'held', detail: String(reply[1]) };
      default:
        throw refused('acquire', taskId, reply);
    }
  }

  /** Commit one step. Throws {@link FencedError} when another writer took over. */
  async commit(taskId: string, c: CommitArgs): Promise<void> {
    const k = this.keys.task(taskId);
    const p = c.parts;
    const t = this.ticket(k.state);
    const sent = runScript<Reply>(this.redis, 'batonCommit', [k.state, k.epoch, k.history, k.lease, k.mailbox, k.recent, k.stream], [
      c.epoch,
      c.seq,
      c.cursor,
      c.timers,
      c.status,
      c.now,
      c.event,
      c.from,
      c.to,
      // With durability the notice goes out once the replicas hold the commit (below): a follower then never sees a
      // step that a failover loses.
      t ? '' : k.changes,
      c.notice,
      c.owner,
      c.leaseMs,
      c.historyLimit,
      c.version,
      c.append ? c.cursor : '',
      c.append?.event ?? '',
      c.append?.expectLast ?? '',
      c.append?.token ?? '',
      c.reason ?? '',
      c.rejections ?? '',
      c.upgrade ? '1' : '',
      p.set.length / 2,
      p.del.length,
      ...p.set,
      ...p.del,
    ]);
    const reply = await sent;
    if (reply[0] === ScriptCode.Ok || reply[0] === ScriptCode.Duplicate) {
      if (t) {
        await this.replicated(t, k.state, () => `commit ${c.seq} of task '${taskId}'`);
        // A lost notice is a gap its followers resync over, as ever.
        this.redis.publish(k.changes, noticeOf(c)).catch(() => undefined);
      }
      return;
    }
    throw refused('commit', taskId, reply[0] === ScriptCode.SeqConflict ? [reply[0], reply[1], c.seq] : reply);
  }

  /** Release a lease; false when entries wait past the cursor (the lease is kept). */
  async release(taskId: string, epoch: number, owner: string): Promise<boolean> {
    const k = this.keys.task(taskId);
    const reply = await runScript<Reply>(this.redis, 'batonRelease', [k.state, k.lease, k.epoch, k.mailbox], [epoch, owner]);
    if (reply[0] === ScriptCode.Ok) return true;
    if (reply[0] === ScriptCode.Pending) return false;
    throw refused('release', taskId, reply);
  }

  /** Quarantine a task with a reason (fenced). */
  async quarantine(taskId: string, a: { epoch: number; reason: string; now: number; owner: string; notice: string }): Promise<void> {
    const k = this.keys.task(taskId);
    const reply = await runScript<Reply>(this.redis, 'batonQuarantine', [k.state, k.lease, k.epoch], [
      a.epoch,
      a.reason,
      a.now,
      a.owner,
      k.changes,
      a.notice,
    ]);
    if (reply[0] !== ScriptCode.Ok) throw refused('quarantine', taskId, reply);
  }

  /** Extend leases this owner holds; returns, per task, whether it still holds it. */
  async renew(taskIds: string[], owner: string, leaseMs: number): Promise<boolean[]> {
    return Promise.all(
      taskIds.map(async (id) => (await runScript<number>(this.redis, 'batonRenew', [this.keys.task(id).lease], [owner, leaseMs])) === 1),
    );
  }

  /** Due scores this store wrote last, so that clearing never erases another process's entry. */
  private readonly written = new Map<string, number>();

  /** Mark tasks as needing a look at `at` (lease expiry or next timer). */
  async setDue(entries: Array<[taskId: string, at: number]>): Promise<void> {
    if (entries.length === 0) return;
    const args: (string | number)[] = [];
    for (const [id, at] of entries) {
      const score = Math.round(at);
      args.push(score, id);
      this.written.set(id, score);
    }
    await this.redis.zadd(this.keys.due, ...args);
  }

  /** Forget a task in the due set (finished, or passivated with no timer), unless another process re-marked it since. */
  async clearDue(taskId: string): Promise<void> {
    const mine = this.written.get(taskId);
    this.written.delete(taskId);
    await runScript(this.redis, 'batonClearDue', [this.keys.due], [taskId, mine ?? '']);
  }

  /** Claim due tasks (see claim-due-1.lua). */
  async claimDue(now: number, limit: number, retryMs: number): Promise<string[]> {
    return runScript<string[]>(this.redis, 'batonClaimDue', [this.keys.due], [now, limit, retryMs]);
  }

  /** Record that `owner` holds these tasks (the owner index; a hint, not a lease). */
  async addOwned(owner: string, taskIds: string[]): Promise<void> {
    if (taskIds.length) await this.redis.sadd(this.keys.owned(owner), ...taskIds);
  }

  /** Forget tasks in `owner`'s index. */
  async removeOwned(owner: string, taskIds: string[]): Promise<void> {
    if (taskIds.length) await this.redis.srem(this.keys.owned(owner), ...taskIds);
  }

  /** Up to `count` task ids from `owner`'s index, from `cursor` ('0' to start); the next cursor is '0' at the end. */
  async scanOwned(owner: string, cursor: string, count: number): Promise<[string, string[]]> {
    return this.redis.sscan(this.keys.owned(owner), cursor, 'COUNT', count);
  }

  /** Add a task to the prefix's index (no-op when present). */
  async index(taskId: string, createdAt: number): Promise<void> {
    await this.redis.zadd(this.keys.tasks, 'NX', createdAt, taskId);
  }

  /** True when a task with this id exists. */
  async exists(taskId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.task(taskId).state)) === 1;
  }

  /** The state hash of a task ({} when absent). */
  async read(taskId: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.task(taskId).state);
  }

  /** Machine name and version of a task, undefined when it does not exist. */
  async machineOf(taskId: string): Promise<{ machine: string; version: number } | undefined> {
    const [machine, version] = await this.redis.hmget(this.keys.task(taskId).state, 'machine', 'version');
    return machine ? { machine, version: Number(version ?? 1) } : undefined;
  }

  /**
   * The last `limit` history entries of a task, oldest first, parsed (see
   * {@link HistoryRecord}). A task still in format 1 keeps them in a stream.
   */
  async history(taskId: string, limit: number): Promise<HistoryRecord[]> {
    const key = this.keys.task(taskId).history;
    if (limit <= 0) return [];
    try {
      return (await this.redis.lrange(key, -limit, -1)).map(parseHistory);
    } catch (err) {
      if (!/WRONGTYPE/.test((err as Error).message)) throw err;
    }
    const rows = await this.redis.xrevrange(key, '+', '-', 'COUNT', limit);
    return rows.reverse().map(([, f]) => {
      const m = pairs(f);
      return { seq: Number(m.seq), e: JSON.parse(m.e ?? '{}'), from: m.from ? JSON.parse(m.from) : null, to: m.to ? JSON.parse(m.to) : null, at: Number(m.at) };
    });
  }

  /**
   * The state hash and every history entry, read in one transaction (a commit
   * cannot fall between them): what rebuilding a past commit's tree starts from.
   */
  async stateAndHistory(taskId: string): Promise<{ fields: Record<string, string>; history: HistoryRecord[] }> {
    const k = this.keys.task(taskId);
    const type = await this.redis.type(k.history);
    if (type === 'stream') return { fields: await this.read(taskId), history: await this.history(taskId, 1_000_000) };
    const res = await this.redis.multi().hgetall(k.state).lrange(k.history, 0, -1).exec();
    if (!res) throw new BatonError(ErrorCode.Redis, 'reading the task state and its history was aborted');
    for (const [err] of res) if (err) throw err;
    return { fields: res[0]![1] as Record<string, string>, history: (res[1]![1] as string[]).map(parseHistory) };
  }

  /** Every task id of the prefix, newest first. */
  async taskIds(): Promise<string[]> {
    return this.redis.zrevrange(this.keys.tasks, 0, -1);
  }

  /**
   * Publish an agent's progress report on the task's progress channel, and
   * keep it as the latest of its child (the state hash's `g:<child path>`,
   * shown in the task's view).
   */
  async publishProgress(taskId: string, childPath: string[], message: string): Promise<void> {
    const k = this.keys.task(taskId);
    await runScript(this.redis, 'batonProgress', [k.state], [`${PROGRESS_FIELD}${childPath.join('/')}`, message, k.progress]);
  }

  /** Mailbox entries after `after` (exclusive), oldest first. */
  async readMailbox(taskId: string, after: string, count: number): Promise<Array<{ id: string; event: string; key: string }>> {
    const rows = await this.redis.xrange(this.keys.task(taskId).mailbox, `(${after}`, '+', 'COUNT', count);
    return rows.map(([id, fields]) => {
      const f = pairs(fields);
      return { id, event: f.e ?? '{}', key: f.k ?? '' };
    });
  }
}
