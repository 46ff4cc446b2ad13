import { randomUUID } from 'node:crypto';
import type * as XStateStore from '@xstate/store';
import {
  ClosedError,
  InvalidEventError,
  TaskExistsError,
  TaskNotFoundError,
  TaskNotRunningError,
  TimeoutError,
  UnknownMachineError,
} from '../errors.js';
import { Keys } from '../persistence/keys.js';
import { RegistryStore } from '../persistence/registry-store.js';
import { compareStreamIds } from '../persistence/stream-id.js';
import { TaskStore, type AppendResult } from '../persistence/task-store.js';
import { assertIdempotencyKey, assertTaskId, encodeEvent, encodeInput, zodCheck, type EventRules } from '../persistence/validate.js';
import { viewFromHash, viewFromNotice, type TaskStatus, type TaskView } from '../persistence/view.js';
import { Activations } from './activation.js';
import { systemClock, type Clock } from './clock.js';
import { Connections, type ConnectionOption } from './connection.js';
import { definitionRules, normaliseMachines, type MachineEntry, type TaskDefinition } from './definition.js';
import type { MachineGraph } from './machine-graph.js';
import { MachineRegistry } from './registry.js';
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
  /**
   * Machines by name, to validate spawn input and events with their zod
   * schemas before writing. Without them (or for a machine not among them)
   * the client validates against the machine registry that every runtime
   * publishes in Redis: the JSON Schema of each machine's input and events.
   */
  machines?: Record<string, MachineEntry>;
  /**
   * A task whose machine no live process has run for this long (ms) is shown
   * as such in its view (`unserved: true` and a `reason`).
   * @default 10000 (a few heartbeats: a restarting worker is not flagged)
   */
  unservedAfterMs?: number;
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
  /**
   * How long a call waits for Redis to answer before it fails with
   * `REDIS_UNREACHABLE` (naming the address and the cause), writing nothing.
   * @default 5000
   */
  connectTimeoutMs?: number;
  /**
   * Log sink. Losing Redis and getting it back are told here once each (by
   * default on stderr); a runtime's debug messages too.
   * @default silent but for those two, unless BATON_DEBUG is set
   */
  log?: (msg: string, extra?: Record<string, unknown>) => void;
}

/** Options of `send`. */
export interface SendOptions {
  /** A repeated key within the idempotency window is accepted once: the repeat writes nothing. */
  idempotencyKey?: string;
  /**
   * When `send` resolves: `'durable'` once the event is in the mailbox;
   * `'applied'` once the task's process applied it (rejects with
   * `INVALID_EVENT` if that process refused it, for a check only it can make,
   * such as a zod refinement; `TASK_NOT_RUNNING` if the task ended first).
   * @default 'durable'
   */
  wait?: 'durable' | 'applied';
  /** With `wait: 'applied'`: ms before a `TIMEOUT` error (the event stays in the mailbox). @default 30000 */
  timeout?: number;
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

/** One machine version in the registry, as {@link BatonClient.machines} returns it. */
export interface MachineInfo {
  name: string;
  version: number;
  /** JSON Schema of the spawn input (the input side of the zod schema); null: any JSON. */
  input: Record<string, unknown> | null;
  /** A spawn without input is accepted. */
  inputOptional: boolean;
  /** JSON Schema per event type; null for a type whose schema JSON Schema cannot express (checked where the task runs). */
  events: Record<string, Record<string, unknown> | null>;
  /** Event types without a schema are refused. */
  closed: boolean;
  /** The statechart (state tree, transitions, and per state node the event types it handles), for drawing. */
  graph?: MachineGraph;
  /** Processes that published this version: `live` while they beat. */
  processes: Array<{ owner: string; host: string; pid: number; lastSeen: number; live: boolean }>;
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
  /** @internal */ protected readonly opts: Required<Pick<ClientOptions, 'maxEventBytes' | 'maxInputBytes' | 'idempotencyWindowSec' | 'unservedAfterMs'>>;
  /** @internal The machine registry, as this process last read it. */ readonly registry: MachineRegistry;
  /** @internal */ protected closed = false;
  /** Owner id of this process for wake notices ('' for a plain client). */
  /** @internal */ readonly self: string = '';
  private subscriber?: Subscriber;

  /** @internal */
  constructor(options: ClientOptions) {
    this.keys = new Keys(options.prefix ?? 'baton');
    this.connections = new Connections(options.connection, {
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      notify: (m) => (options.log ? options.log(m) : console.error(`[baton] ${m}`)),
    });
    this.store = new TaskStore(this.connections.open('command'), this.keys);
    this.activations = new Activations(() => this.connections.open('subscriber'), this.keys.queuePrefix);
    this.clock = options.clock ?? systemClock;
    this.definitions = normaliseMachines(options.machines);
    this.opts = {
      maxEventBytes: options.maxEventBytes ?? 256 * 1024,
      maxInputBytes: options.maxInputBytes ?? 1024 * 1024,
      idempotencyWindowSec: options.idempotencyWindowSec ?? 86_400,
      unservedAfterMs: options.unservedAfterMs ?? 10_000,
    };
    // Wall-clock time: liveness is about real processes, whatever clock the tasks' timers use.
    this.registry = new MachineRegistry(new RegistryStore(this.store.redis, this.keys), systemClock, (onChange) =>
      this.subs.listen(this.keys.registryChanged, onChange),
    );
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

  /** @internal Resolve once Redis answers; `REDIS_UNREACHABLE` after `connectTimeoutMs`, nothing sent. */
  protected reach(): Promise<void> {
    return this.connections.ready(this.store.redis);
  }

  /**
   * Create a task. Resolves once it is durable; a runtime then runs it.
   * Throws `UNKNOWN_MACHINE`, `INVALID_INPUT`, `INVALID_ID`, `PAYLOAD_TOO_LARGE` or `TASK_EXISTS`, writing nothing.
   */
  async spawn<TInput = unknown>(machine: string, options: SpawnOptions<TInput> = {}): Promise<TaskHandle> {
    this.assertOpen();
    await this.reach();
    const { id, version, input } = await this.prepareSpawn(machine, options);
    const now = this.clock.now();
    let indexed = this.store.spawnFolds;
    try {
      await this.store.spawn(id, { machine, version, input, now, owner: '', leaseMs: 0, index: true });
    } catch (err) {
      // A retry of a spawn whose reply was lost finds its own task, never started: finish the job.
      if (!(err instanceof TaskExistsError) || !(await this.isUnstartedSpawn(id, machine, input))) throw err;
      indexed = false;
    }
    if (!indexed) await this.store.index(id, now);
    this.rememberMachine(id, machine, version);
    await this.wake(id);
    return this.handle(id);
  }

  /** True when task `id` is exactly this spawn (same machine and input) and has never committed. */
  private async isUnstartedSpawn(id: string, machine: string, input: string): Promise<boolean> {
    const h = await this.store.read(id);
    return h.machine === machine && h.input === input && h.seq === '0';
  }

  /**
   * @internal Check a spawn: the id, then the input against the machine's zod
   * schema when this process has the machine, else against the registry's
   * JSON Schema of its newest live version (which it is stamped with).
   */
  protected async prepareSpawn(machine: string, options: SpawnOptions): Promise<{ id: string; version: number; input: string; def?: TaskDefinition }> {
    // Only an absent id picks one: null, '' or a number is a caller's mistake.
    const id = options.id === undefined ? randomUUID() : options.id;
    assertTaskId(id);
    if (typeof machine !== 'string' || machine.length === 0) throw new UnknownMachineError(String(machine), [...this.definitions.keys()]);
    const def = this.definitions.get(machine);
    if (def) return { id, def, version: def.version, input: encodeInput(options.input, this.opts.maxInputBytes, def.input && zodCheck(def.input)) };
    const rules = await this.registry.rules(machine);
    if (!rules) throw new UnknownMachineError(machine, [...new Set([...this.definitions.keys(), ...(await this.registry.names())])].sort());
    return { id, version: rules.record.version, input: encodeInput(options.input, this.opts.maxInputBytes, rules.input) };
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
    await this.reach();
    const json = encodeEvent(event, this.opts.maxEventBytes, await this.rulesFor(taskId));
    const receipt = await this.append(taskId, json, options.idempotencyKey);
    if (options.wait === 'applied') await this.waitApplied(taskId, receipt.entryId, (event as { type: string }).type, options.timeout);
    return receipt;
  }

  /**
   * Resolve once the task's cursor passed `entryId`; reject with
   * `INVALID_EVENT` when the task's process refused that entry (its view
   * keeps the last refusals) or `TASK_NOT_RUNNING` when it ended first.
   */
  private async waitApplied(taskId: string, entryId: string, type: string, timeout?: number): Promise<void> {
    const applied = (v: TaskView) => v.cursor !== undefined && compareStreamIds(v.cursor, entryId) >= 0;
    const v = await this.waitFor(taskId, (v) => applied(v) || v.status !== 'active', { timeout: timeout ?? 30_000 });
    if (!applied(v)) throw new TaskNotRunningError(taskId, v.status);
    const refused = v.rejections?.find((r) => r.entry === entryId);
    if (refused) {
      throw new InvalidEventError(`event '${type}' was refused by the task's process: ${refused.reason}`, {
        details: { type, taskId, entryId, reason: refused.reason },
      });
    }
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
      const machine = await this.machineOfTask(taskId);
      if (machine === undefined) return; // gone: nothing to wake
      await this.activations.wake(taskId, machine);
    } catch (err) {
      try {
        await this.store.setDue([[taskId, this.clock.now()]]);
      } catch {
        throw err;
      }
    }
  }

  /**
   * @internal What the task's machine accepts: its zod schemas when this
   * process has the machine, else the registry's record of the task's version.
   * Undefined for an unknown task (the send script says so) or a machine that
   * no process registered (nothing to check against; its view says no process runs it).
   */
  protected async rulesFor(taskId: string): Promise<EventRules | undefined> {
    // A task's machine and version never change: read them once per task, not once per send.
    const m = await this.taskMachine(taskId);
    if (!m) return undefined;
    const def = this.definitions.get(m.machine);
    if (def) return definitionRules(def);
    return (await this.registry.rules(m.machine, m.version))?.events;
  }

  private readonly machineOf = new Map<string, { machine: string; version: number }>();

  /** @internal The machine and version of a task (read once per task: they never change), undefined when it does not exist. */
  protected async taskMachine(taskId: string): Promise<{ machine: string; version: number } | undefined> {
    let m = this.machineOf.get(taskId);
    if (m === undefined) {
      const [machine, version] = await this.store.redis.hmget(this.keys.task(taskId).state, 'machine', 'version');
      if (!machine) return undefined;
      m = { machine, version: Number(version ?? 1) };
      this.rememberMachine(taskId, m.machine, m.version);
    }
    return m;
  }

  /** @internal The machine of a task, undefined when it does not exist. */
  protected async machineOfTask(taskId: string): Promise<string | undefined> {
    return (await this.taskMachine(taskId))?.machine;
  }

  private rememberMachine(taskId: string, machine: string, version: number): void {
    if (this.machineOf.size >= 10_000) this.machineOf.clear();
    this.machineOf.set(taskId, { machine, version });
  }

  /** The committed view of a task, or undefined when it does not exist. */
  async get(taskId: string): Promise<TaskView | undefined> {
    assertTaskId(taskId);
    await this.reach();
    const view = viewFromHash(taskId, await this.store.read(taskId));
    if (view) await this.markUnserved([view]);
    return view;
  }

  /**
   * Flag active tasks whose machine no live process has run for
   * `unservedAfterMs`: `unserved: true` and a `reason` saying so. A registry
   * that cannot be read flags nothing.
   */
  private async markUnserved(views: TaskView[]): Promise<void> {
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
      if (now - since < this.opts.unservedAfterMs) continue;
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
    await this.reach();
    return this.subs.listen(this.keys.task(taskId).progress, (m) => listener(JSON.parse(m) as AgentProgress));
  }

  /** The last `limit` committed transitions of a task, oldest first. */
  async history(taskId: string, options: { limit?: number } = {}): Promise<HistoryEntry[]> {
    assertTaskId(taskId);
    await this.reach();
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
    await this.markUnserved(out);
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
    await this.reach();
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
