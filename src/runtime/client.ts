import { randomUUID } from 'node:crypto';
import type * as XStateStore from '@xstate/store';
import { ClosedError, TaskExistsError, TaskNotFoundError, TimeoutError, UnknownMachineError } from '../errors.js';
import { Keys } from '../persistence/keys.js';
import { TaskStore, type AppendResult } from '../persistence/task-store.js';
import { assertIdempotencyKey, assertTaskId, encodeEvent, encodeInput } from '../persistence/validate.js';
import { viewFromHash, viewFromNotice, type TaskStatus, type TaskView } from '../persistence/view.js';
import { Activations } from './activation.js';
import { systemClock, type Clock } from './clock.js';
import { Connections, type ConnectionOption } from './connection.js';
import { normaliseMachines, type MachineEntry, type TaskDefinition } from './definition.js';
import { Subscriber } from './subscriber.js';

/** Options shared by {@link createClient} and `createRuntime`. */
export interface ClientOptions {
  /** Redis to use. @default process.env.REDIS_URL */
  connection?: ConnectionOption;
  /**
   * Key namespace: two prefixes never see each other's tasks.
   * @default 'baton'
   */
  prefix?: string;
  /** Machines by name. A client needs them only to validate spawn input and events before writing. */
  machines?: Record<string, MachineEntry>;
  /**
   * Largest accepted event, in bytes of JSON.
   * @default 262144 (256 KiB): keep large payloads out of events, by reference
   */
  maxEventBytes?: number;
  /**
   * Largest accepted spawn input, in bytes of JSON.
   * @default 1048576 (1 MiB)
   */
  maxInputBytes?: number;
  /**
   * How long an idempotency key is remembered, in seconds.
   * @default 86400 (one day)
   */
  idempotencyWindowSec?: number;
  /** Time source. @default the system clock */
  clock?: Clock;
}

/** Options of `send`. */
export interface SendOptions {
  /** A repeated key within the idempotency window is accepted once: the repeat writes nothing. */
  idempotencyKey?: string;
}

/** What `send` returns once the event is durable. */
export interface SendReceipt {
  /** Mailbox entry id (a Redis stream id). */
  entryId: string;
  /** True when the idempotency key was seen before and this call wrote nothing. */
  duplicate: boolean;
}

/** Options of `spawn`. */
export interface SpawnOptions<TInput = unknown> {
  /** Task id; a random UUID when omitted. An existing id is a `TASK_EXISTS` error. */
  id?: string;
  /** Input of the machine (`context: ({ input }) => …`). */
  input?: TInput;
}

/** Options of `waitFor`. */
export interface WaitOptions {
  /** Milliseconds before a `TIMEOUT` error. @default 30000 */
  timeout?: number;
}

/** One committed transition. */
export interface HistoryEntry {
  /** Commit sequence number. */
  seq: number;
  /** The event that caused it (a mailbox event, or an internal one such as a timer or a child's completion). */
  event: { type: string; [k: string]: unknown };
  /** Root state value before. */
  from: unknown;
  /** Root state value after. */
  to: unknown;
  /** Commit time, ms since the epoch. */
  at: number;
}

/** A progress report from an agent invocation. */
export interface AgentProgress {
  jobId: string;
  agent: string;
  childPath: string[];
  data: unknown;
  at: number;
}

/** Filter of `list`. */
export interface ListOptions {
  machine?: string;
  status?: TaskStatus;
  /** At most this many tasks (newest first). @default 1000 */
  limit?: number;
}

/** A live, read-side view of one task: an @xstate/store kept current from commit notices. */
export type TaskWatch = ReturnType<typeof createWatchStore> & {
  /** Stop listening. */
  close(): void;
};

function createWatchStore(createStore: typeof XStateStore.createStore) {
  return createStore({
    context: { view: undefined as TaskView | undefined },
    on: {
      commit: (ctx, e: { view: TaskView }) => (ctx.view && ctx.view.seq > e.view.seq ? ctx : { view: e.view }),
    },
  });
}

/** Per-task calls, bound to one task id. */
export interface TaskHandle {
  readonly id: string;
  send(event: { type: string; [k: string]: unknown }, options?: SendOptions): Promise<SendReceipt>;
  get(): Promise<TaskView | undefined>;
  waitFor(predicate: (view: TaskView) => boolean, options?: WaitOptions): Promise<TaskView>;
  subscribe(listener: (view: TaskView) => void): () => void;
  history(options?: { limit?: number }): Promise<HistoryEntry[]>;
  stop(options?: WaitOptions): Promise<TaskView>;
}

/**
 * Spawns, sends to and reads tasks without running any: for web servers and
 * other processes that only talk to Baton. Created by {@link createClient}.
 */
export class BatonClient {
  /** @internal */ readonly keys: Keys;
  /** @internal */ readonly store: TaskStore;
  /** @internal */ readonly clock: Clock;
  /** @internal */ readonly definitions: Map<string, TaskDefinition>;
  /** @internal */ protected readonly connections: Connections;
  /** @internal */ protected readonly activations: Activations;
  /** @internal */ protected readonly opts: Required<Pick<ClientOptions, 'maxEventBytes' | 'maxInputBytes' | 'idempotencyWindowSec'>>;
  /** @internal */ protected closed = false;
  /** Owner id of this process for wake notices ('' for a plain client). */
  /** @internal */ readonly self: string = '';
  private subscriber?: Subscriber;

  /** @internal */
  constructor(options: ClientOptions) {
    this.keys = new Keys(options.prefix ?? 'baton');
    this.connections = new Connections(options.connection);
    this.store = new TaskStore(this.connections.open('command'), this.keys);
    this.activations = new Activations(() => this.connections.open('subscriber'), this.keys.queuePrefix);
    this.clock = options.clock ?? systemClock;
    this.definitions = normaliseMachines(options.machines);
    this.opts = {
      maxEventBytes: options.maxEventBytes ?? 256 * 1024,
      maxInputBytes: options.maxInputBytes ?? 1024 * 1024,
      idempotencyWindowSec: options.idempotencyWindowSec ?? 86_400,
    };
  }

  /** @internal */
  protected get subs(): Subscriber {
    this.subscriber ??= new Subscriber(this.connections.open('subscriber'));
    return this.subscriber;
  }

  /** @internal */
  protected assertOpen(): void {
    if (this.closed) throw new ClosedError();
  }

  /**
   * Create a task. Resolves once it is durable; a runtime then runs it.
   * Throws `UNKNOWN_MACHINE`, `INVALID_INPUT`, `INVALID_ID`, `PAYLOAD_TOO_LARGE` or `TASK_EXISTS`, writing nothing.
   */
  async spawn<TInput = unknown>(machine: string, options: SpawnOptions<TInput> = {}): Promise<TaskHandle> {
    this.assertOpen();
    const { id, def, input } = this.prepareSpawn(machine, options);
    const now = this.clock.now();
    let indexed = this.store.spawnFolds;
    try {
      await this.store.spawn(id, { machine, version: def?.version ?? 1, input, now, owner: '', leaseMs: 0, index: true });
    } catch (err) {
      // A retry of a spawn whose reply was lost finds its own task, never started: finish the job.
      if (!(err instanceof TaskExistsError) || !(await this.isUnstartedSpawn(id, machine, input))) throw err;
      indexed = false;
    }
    if (!indexed) await this.store.index(id, now);
    await this.activations.wake(id);
    return this.handle(id);
  }

  /** True when task `id` is exactly this spawn (same machine and input) and has never committed. */
  private async isUnstartedSpawn(id: string, machine: string, input: string): Promise<boolean> {
    const h = await this.store.read(id);
    return h.machine === machine && h.input === input && h.seq === '0';
  }

  /** @internal */
  protected prepareSpawn(machine: string, options: SpawnOptions): { id: string; def: TaskDefinition | undefined; input: string } {
    const id = options.id ?? randomUUID();
    assertTaskId(id);
    const def = this.definitions.get(machine);
    if (!def && (this.definitions.size > 0 || this.self)) throw new UnknownMachineError(machine, [...this.definitions.keys()]);
    const input = encodeInput(options.input, this.opts.maxInputBytes, def?.input);
    return { id, def, input };
  }

  /**
   * Append an event to a task's mailbox. Resolves once the event is durable;
   * the task applies it once, in mailbox order. Throws `INVALID_EVENT`,
   * `PAYLOAD_TOO_LARGE`, `TASK_NOT_FOUND` or `TASK_NOT_RUNNING`, writing nothing.
   */
  async send(taskId: string, event: { type: string; [k: string]: unknown }, options: SendOptions = {}): Promise<SendReceipt> {
    this.assertOpen();
    assertTaskId(taskId);
    if (options.idempotencyKey !== undefined) assertIdempotencyKey(options.idempotencyKey);
    const schemas = this.schemasFor(taskId);
    const json = encodeEvent(event, this.opts.maxEventBytes, await schemas);
    return this.append(taskId, json, options.idempotencyKey);
  }

  /** @internal */
  protected async append(taskId: string, json: string, idempotencyKey?: string, token?: string): Promise<SendReceipt> {
    const result = await this.store.append(taskId, {
      event: json,
      idempotencyKey,
      token,
      idemTtlSec: this.opts.idempotencyWindowSec,
      now: this.clock.now(),
      self: this.self,
    });
    await this.afterAppend(taskId, result, json);
    return { entryId: result.id, duplicate: result.duplicate };
  }

  /** @internal Wake the task when nobody holds it (a runtime also delivers to its own tasks). */
  protected async afterAppend(taskId: string, result: AppendResult, _json: string): Promise<void> {
    // A duplicate wakes too: its first send may have appended and then failed to wake.
    if (result.holder === '') await this.wake(taskId);
  }

  /**
   * @internal Enqueue an activation. If that fails (the queue unreachable or
   * not permitted), mark the task due now instead: a sweeper wakes it within
   * half a lease. Only when both fail does the caller see the error (the event
   * is durable; a retry with its idempotency key wakes the task again).
   */
  protected async wake(taskId: string): Promise<void> {
    try {
      await this.activations.wake(taskId);
    } catch (err) {
      try {
        await this.store.setDue([[taskId, this.clock.now()]]);
      } catch {
        throw err;
      }
    }
  }

  /** @internal The event schemas of the task's machine, when this process knows it. */
  protected async schemasFor(taskId: string) {
    if (!this.anySchemas) return undefined;
    // A task's machine never changes: read it once per task, not once per send (the send path's budget is one script).
    let machine = this.machineOf.get(taskId);
    if (machine === undefined) {
      machine = (await this.store.redis.hget(this.keys.task(taskId).state, 'machine')) ?? undefined;
      if (machine === undefined) return undefined; // unknown task: the send script says so
      if (this.machineOf.size >= 10_000) this.machineOf.clear();
      this.machineOf.set(taskId, machine);
    }
    return this.definitions.get(machine)?.events;
  }

  private readonly machineOf = new Map<string, string>();
  private get anySchemas(): boolean {
    for (const d of this.definitions.values()) if (d.events) return true;
    return false;
  }

  /** The committed view of a task, or undefined when it does not exist. */
  async get(taskId: string): Promise<TaskView | undefined> {
    assertTaskId(taskId);
    return viewFromHash(taskId, await this.store.read(taskId));
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
    return this.subs.listen(this.keys.task(taskId).changes, (message) => listener(viewFromNotice(message)));
  }

  /** Resolve with the first committed view that satisfies `predicate`; `TIMEOUT` after `options.timeout`. */
  async waitFor(taskId: string, predicate: (view: TaskView) => boolean, options: WaitOptions = {}): Promise<TaskView> {
    assertTaskId(taskId);
    const timeout = options.timeout ?? 30_000;
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
    return this.subs.listen(this.keys.task(taskId).progress, (m) => listener(JSON.parse(m) as AgentProgress));
  }

  /** The last `limit` committed transitions of a task, oldest first. */
  async history(taskId: string, options: { limit?: number } = {}): Promise<HistoryEntry[]> {
    assertTaskId(taskId);
    const rows = await this.store.redis.xrevrange(this.keys.task(taskId).history, '+', '-', 'COUNT', options.limit ?? 100);
    return rows.reverse().map(([, f]) => {
      const m: Record<string, string> = {};
      for (let i = 0; i + 1 < f.length; i += 2) m[f[i]!] = f[i + 1]!;
      return {
        seq: Number(m.seq),
        event: JSON.parse(m.e ?? '{}'),
        from: m.from ? JSON.parse(m.from) : undefined,
        to: m.to ? JSON.parse(m.to) : undefined,
        at: Number(m.at),
      };
    });
  }

  /** Tasks of this prefix, newest first, filtered by machine and status. */
  async list(options: ListOptions = {}): Promise<TaskView[]> {
    const ids = await this.store.redis.zrevrange(this.keys.tasks, 0, -1);
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
    return out;
  }

  /**
   * Stop a task: a `baton.stop` entry goes through its mailbox (so events sent
   * before it are applied first), and the task ends in status `stopped`.
   * Resolves with the stopped view.
   */
  async stop(taskId: string, options: WaitOptions = {}): Promise<TaskView> {
    this.assertOpen();
    assertTaskId(taskId);
    await this.append(taskId, JSON.stringify({ type: 'baton.stop' }));
    return this.waitFor(taskId, (v) => v.status !== 'active', options);
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

  /** Per-task calls bound to `taskId`. */
  handle(taskId: string): TaskHandle {
    assertTaskId(taskId);
    return {
      id: taskId,
      send: (event, options) => this.send(taskId, event, options),
      get: () => this.get(taskId),
      waitFor: (predicate, options) => this.waitFor(taskId, predicate, options),
      subscribe: (listener) => this.subscribe(taskId, listener),
      history: (options) => this.history(taskId, options),
      stop: (options) => this.stop(taskId, options),
    };
  }

  /** Close connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.activations.close();
    await this.connections.close();
  }
}

/**
 * A client that spawns, sends and reads without running tasks.
 *
 * @example
 * const client = createClient({ connection: process.env.REDIS_URL, prefix: 'baton' });
 * await client.send('task-42', { type: 'user.update', scope: 'EU only' });
 * await client.close();
 */
export function createClient(options: ClientOptions = {}): BatonClient {
  return new BatonClient(options);
}
