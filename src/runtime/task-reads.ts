import { InvalidEventError, TaskNotFoundError, TaskNotRunningError, TimeoutError } from '../errors.js';
import { compareStreamIds } from '../persistence/stream-id.js';
import type { Keys } from '../persistence/keys.js';
import type { TaskStore } from '../persistence/task-store.js';
import { assertTaskId } from '../persistence/validate.js';
import { parseNotice, snapshotOfHash, viewFromHash, type TaskView } from '../persistence/view.js';
import { TaskMirror } from '../persistence/task-mirror.js';
import { rebuildAt } from '../persistence/rebuild.js';
import { createWatchStore, toSubscription, type Subscription, type AgentProgress, type HistoryEntry, type ListOptions, type MachineInfo, type TaskWatch, type WaitOptions } from './client-api.js';
import type { MachineGraph } from './machine-graph.js';
import type { MachineRegistry } from './registry.js';
import type { Subscriber } from './subscriber.js';

/** Queued for a follower when its connection came back: reload the stored state. */
const RELOAD = '';

/**
 * The read side of a client: committed views, history and the registry read
 * from Redis, and live views from commit notices (subscribing before
 * reading, so no commit falls between). Every call waits for Redis first
 * (`REDIS_UNREACHABLE` after `connectTimeoutMs`).
 */
export class TaskReads {
  constructor(
    private readonly store: TaskStore,
    private readonly keys: Keys,
    private readonly registry: MachineRegistry,
    private readonly subs: () => Subscriber,
    private readonly reach: () => Promise<void> | undefined,
    private readonly unservedAfterMs: number,
  ) {}

  /** The committed view of a task, or undefined when it does not exist. */
  async get(taskId: string): Promise<TaskView | undefined> {
    assertTaskId(taskId);
    await this.reach();
    const view = viewFromHash(taskId, await this.store.read(taskId));
    if (view) await this.markUnserved([view]);
    return view;
  }

  /**
   * The raw committed snapshot of a task (XState's persisted snapshot,
   * children included), or undefined. With `seq`, the tree as it was at that
   * retained commit, rebuilt from the history (`HISTORY_NOT_RETAINED` when it
   * is older than what the history keeps).
   */
  async persisted(taskId: string, options: { seq?: number } = {}): Promise<Record<string, unknown> | undefined> {
    assertTaskId(taskId);
    await this.reach();
    if (options.seq === undefined) return snapshotOfHash(await this.store.read(taskId));
    const { fields, history } = await this.store.stateAndHistory(taskId);
    if (!fields.machine) return undefined;
    return rebuildAt(taskId, fields, history, options.seq);
  }

  /**
   * Flag active tasks whose machine no live process has run for
   * `unservedAfterMs`: `unserved: true` and a `reason` saying so. A registry
   * that cannot be read flags nothing.
   */
  async markUnserved(views: TaskView[]): Promise<void> {
    const now = Date.now();
    for (const v of views) {
      if (v.status !== 'active') continue;
      let serving;
      try {
        serving = await this.registry.serving(v.machine, v.version);
      } catch {
        return;
      }
      if (serving.live.length) continue;
      const since = Math.max(serving.lastSeen ?? 0, v.updatedAt || v.createdAt);
      if (now - since < this.unservedAfterMs) continue;
      v.unserved = true;
      v.reason =
        serving.lastSeen === undefined
          ? `no process runs machine '${v.machine}' (version ${v.version} or newer): none has registered it`
          : `no live process runs machine '${v.machine}' (version ${v.version} or newer) since ${new Date(serving.lastSeen).toISOString()}`;
    }
  }

  /** Call `listener` with the view of every commit of the task, from any process (see {@link Subscription}). */
  subscribe(taskId: string, listener: (view: TaskView) => void): Subscription {
    assertTaskId(taskId);
    return toSubscription(async () => (await this.follow(taskId, listener)).off);
  }

  /**
   * Follow a task's commits: a mirror loaded from the stored state once the
   * subscription is live, then kept current from each notice's delta (in seq
   * order; a gap, from a missed notice, reloads the stored state and reports
   * the view it finds). `listener` hears each commit after `initial`.
   */
  async follow(taskId: string, listener: (view: TaskView) => void): Promise<{ off: () => void; initial: TaskView | undefined }> {
    assertTaskId(taskId);
    await this.reach();
    const mirror = new TaskMirror(taskId);
    const queue: string[] = [];
    let loading = true;
    let closed = false;
    const drain = async (): Promise<void> => {
      while (queue.length && !closed) {
        const message = queue.shift()!;
        const step = message === RELOAD ? ({ kind: 'gap' } as const) : mirror.apply(parseNotice(message));
        if (step.kind === 'view') listener(step.view);
        else if (step.kind === 'gap') {
          loading = true;
          try {
            const was = { seq: mirror.seq, status: mirror.status };
            const view = mirror.load(await this.store.read(taskId));
            if (view && !closed && (view.seq !== was.seq || view.status !== was.status)) listener(view);
          } finally {
            loading = false;
          }
        }
      }
    };
    const run = (): void => {
      drain().catch((err: unknown) => {
        if (process.env.BATON_DEBUG) console.error(`[baton] following task ${taskId} failed: ${(err as Error)?.message ?? String(err)}`);
      });
    };
    const subs = this.subs();
    const listening = await subs.listen(this.keys.task(taskId).changes, (message) => {
      queue.push(message);
      if (!loading) run();
    });
    // Notices published while the connection was down are lost, and none may follow: reload at once.
    const offReconnect = subs.onReconnect(() => {
      queue.push(RELOAD);
      if (!loading) run();
    });
    const off = () => {
      offReconnect();
      listening();
    };
    let initial: TaskView | undefined;
    try {
      initial = mirror.load(await this.store.read(taskId));
    } catch (err) {
      off();
      throw err;
    }
    loading = false;
    run();
    return {
      off: () => {
        closed = true;
        off();
      },
      initial,
    };
  }

  /** Resolve with the first committed view that satisfies `predicate`; `TIMEOUT` after `options.timeout`. */
  async waitFor(taskId: string, predicate: (view: TaskView) => boolean, options: WaitOptions = {}): Promise<TaskView> {
    assertTaskId(taskId);
    const timeout = options.timeoutMs ?? options.timeout ?? 30_000;
    let off: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    try {
      return await new Promise<TaskView>((resolve, reject) => {
        let last: TaskView | undefined;
        const check = (v: TaskView | undefined) => {
          if (!v) return;
          if (last && last.seq > v.seq) return;
          last = v;
          try {
            if (predicate(v)) resolve(v);
          } catch (err) {
            reject(err); // the caller's predicate failed: say so now, not at the timeout
          }
        };
        timer = setTimeout(
          () => reject(new TimeoutError(`task '${taskId}': condition not met within ${timeout} ms`, { taskId, last: last?.value, seq: last?.seq })),
          timeout,
        );
        this.follow(taskId, check)
          .then(async (f) => {
            if (settled) return f.off(); // met (or timed out) before the subscription was handed over
            off = f.off;
            if (!f.initial) return reject(new TaskNotFoundError(taskId));
            await this.markUnserved([f.initial]);
            check(f.initial);
          })
          .catch(reject);
      });
    } finally {
      settled = true;
      if (timer) clearTimeout(timer);
      off?.();
    }
  }

  /**
   * Resolve once the task's cursor passed `entryId`; reject with
   * `INVALID_EVENT` when the task's process refused that entry (its view
   * keeps the last refusals) or `TASK_NOT_RUNNING` when it ended first.
   */
  async waitApplied(taskId: string, entryId: string, type: string, timeoutMs?: number): Promise<void> {
    const applied = (v: TaskView) => v.cursor !== undefined && compareStreamIds(v.cursor, entryId) >= 0;
    const v = await this.waitFor(taskId, (v) => applied(v) || v.status !== 'active', { timeoutMs: timeoutMs ?? 30_000 });
    if (!applied(v)) throw new TaskNotRunningError(taskId, v.status);
    const refused = v.rejections?.find((r) => r.entry === entryId);
    if (refused) {
      throw new InvalidEventError(`event '${type}' was refused by the task's process: ${refused.reason}`, {
        details: { type, taskId, entryId, reason: refused.reason },
      });
    }
  }

  /** Listen to agents' progress reports of a task (from any process; see {@link Subscription}). */
  onProgress(taskId: string, listener: (progress: AgentProgress) => void): Subscription {
    assertTaskId(taskId);
    return toSubscription(async () => {
      await this.reach();
      return this.subs().listen(this.keys.task(taskId).progress, (m) => listener(JSON.parse(m) as AgentProgress));
    });
  }

  /** The last `limit` committed transitions of a task, oldest first. */
  async history(taskId: string, options: { limit?: number } = {}): Promise<HistoryEntry[]> {
    assertTaskId(taskId);
    await this.reach();
    return (await this.store.history(taskId, options.limit ?? 100)).map((m) => ({
      seq: Number(m.seq),
      event: (m.e ?? {}) as HistoryEntry['event'],
      from: m.from ?? undefined,
      to: m.to ?? undefined,
      at: Number(m.at),
    }));
  }

  /**
   * The machine registry: every machine version a runtime of this prefix has
   * published, with the JSON Schemas of its input and events, its statechart
   * and the processes that run it (live or last seen). Read fresh.
   */
  async machines(): Promise<MachineInfo[]> {
    await this.reach();
    this.registry.invalidate();
    const [records, procs] = await Promise.all([this.registry.machines(), this.registry.processes()]);
    const now = Date.now();
    return records
      .map((r) => ({
        name: r.name,
        version: r.version,
        input: r.input,
        inputOptional: r.inputOptional,
        events: r.events,
        closed: r.closed,
        graph: r.graph as MachineGraph | undefined,
        processes: procs
          .filter((p) => p.machines.includes(`${r.name}@${r.version}`))
          .map((p) => ({ owner: p.owner, host: p.host, pid: p.pid, lastSeen: p.lastSeen, live: p.expiresAt > now })),
      }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
  }

  /** Tasks of this prefix, newest first, filtered by machine and status. */
  async list(options: ListOptions = {}): Promise<TaskView[]> {
    await this.reach();
    const ids = await this.store.taskIds();
    const out: TaskView[] = [];
    const limit = options.limit ?? 1000;
    for (let i = 0; i < ids.length && out.length < limit; i += 100) {
      const batch = ids.slice(i, i + 100);
      const hashes = await Promise.all(batch.map((id) => this.store.read(id)));
      batch.forEach((id, j) => {
        const v = viewFromHash(id, hashes[j]!);
        if (!v) return;
        if (options.machine && v.machine !== options.machine) return;
        if (options.status && v.status !== options.status) return;
        if (options.parent !== undefined && v.parent !== options.parent) return;
        if (out.length < limit) out.push(v);
      });
    }
    await this.markUnserved(out);
    return out;
  }

  /** A live @xstate/store of the task's view, current from commit notices. */
  async watch(taskId: string): Promise<TaskWatch> {
    // Loaded on first use: a process that never watches does not pay for it at start.
    const { createStore } = await import('@xstate/store');
    const store = createWatchStore(createStore);
    const { off, initial } = await this.follow(taskId, (view) => store.trigger.commit({ view }));
    if (initial) {
      await this.markUnserved([initial]);
      store.trigger.commit({ view: initial });
    }
    return Object.assign(store, { close: off, unsubscribe: off });
  }
}
