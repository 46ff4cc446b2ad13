import { TaskNotFoundError, TimeoutError } from '../errors.js';
import type { Keys } from '../persistence/keys.js';
import type { TaskStore } from '../persistence/task-store.js';
import { assertTaskId } from '../persistence/validate.js';
import { viewFromHash, viewFromNotice, type TaskView } from '../persistence/view.js';
import { createWatchStore, type AgentProgress, type HistoryEntry, type ListOptions, type MachineInfo, type TaskWatch, type WaitOptions } from './client-api.js';
import type { MachineGraph } from './machine-graph.js';
import type { MachineRegistry } from './registry.js';
import type { Subscriber } from './subscriber.js';

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

  /** The raw committed snapshot of a task (XState's persisted snapshot, children included), or undefined. */
  async persisted(taskId: string): Promise<Record<string, unknown> | undefined> {
    assertTaskId(taskId);
    await this.reach();
    const h = await this.store.read(taskId);
    try {
      return h.snapshot ? (JSON.parse(h.snapshot) as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
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

  /** Call `listener` with the view of every commit of the task, from any process. */
  subscribe(taskId: string, listener: (view: TaskView) => void): () => void {
    assertTaskId(taskId);
    let off: (() => void) | undefined;
    let cancelled = false;
    void this.subscribeReady(taskId, listener).then((u) => {
      if (cancelled) u();
      else off = u;
    });
    return () => {
      cancelled = true;
      off?.();
    };
  }

  /** Like {@link subscribe}, resolving once the subscription is live. */
  async subscribeReady(taskId: string, listener: (view: TaskView) => void): Promise<() => void> {
    assertTaskId(taskId);
    await this.reach();
    return this.subs().listen(this.keys.task(taskId).changes, (message) => listener(viewFromNotice(message)));
  }

  /** Resolve with the first committed view that satisfies `predicate`; `TIMEOUT` after `options.timeout`. */
  async waitFor(taskId: string, predicate: (view: TaskView) => boolean, options: WaitOptions = {}): Promise<TaskView> {
    assertTaskId(taskId);
    const timeout = options.timeoutMs ?? options.timeout ?? 30_000;
    let off: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
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
        this.subscribeReady(taskId, check)
          .then(async (u) => {
            off = u;
            const v = await this.get(taskId);
            if (!v) reject(new TaskNotFoundError(taskId));
            else check(v);
          })
          .catch(reject);
      });
    } finally {
      if (timer) clearTimeout(timer);
      off?.();
    }
  }

  /** Listen to agents' progress reports of a task (from any process). Resolves once listening. */
  async onProgress(
    taskId: string,
    listener: (progress: AgentProgress) => void,
  ): Promise<() => void> {
    assertTaskId(taskId);
    await this.reach();
    return this.subs().listen(this.keys.task(taskId).progress, (m) => listener(JSON.parse(m) as AgentProgress));
  }

  /** The last `limit` committed transitions of a task, oldest first. */
  async history(taskId: string, options: { limit?: number } = {}): Promise<HistoryEntry[]> {
    assertTaskId(taskId);
    await this.reach();
    return (await this.store.history(taskId, options.limit ?? 100)).map((m) => {
      return {
        seq: Number(m.seq),
        event: JSON.parse(m.e ?? '{}'),
        from: m.from ? JSON.parse(m.from) : undefined,
        to: m.to ? JSON.parse(m.to) : undefined,
        at: Number(m.at),
      };
    });
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
    const off = await this.subscribeReady(taskId, (view) => store.trigger.commit({ view }));
    const first = await this.get(taskId);
    if (first) store.trigger.commit({ view: first });
    return Object.assign(store, { close: off });
  }
}
