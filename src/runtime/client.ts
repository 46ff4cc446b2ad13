import { randomUUID } from 'node:crypto';
import { ClosedError, TaskExistsError, UnknownMachineError } from '../errors.js';
import { Keys } from '../persistence/keys.js';
import { RegistryStore } from '../persistence/registry-store.js';
import { TaskStore } from '../persistence/task-store.js';
import { assertIdempotencyKey, assertTaskId, encodeEvent, encodeInput, zodCheck, type EventRules } from '../persistence/validate.js';
import type { TaskView } from '../persistence/view.js';
import { Activations } from './activation.js';
import type { AgentProgress, Subscription, ClientOptions, TaskApi, HistoryEntry, ListOptions, MachineInfo, SendOptions, SendReceipt, SpawnOptions, TaskHandle, TaskWatch, WaitOptions } from './client-api.js';
import { resolveClientOptions, type ResolvedClientOptions } from './client-options.js';
import { systemClock, type Clock } from './clock.js';
import { Connections } from './connection.js';
import { definitionRules, normaliseMachines, type TaskDefinition } from './definition.js';
import { MailboxDelivery, TaskMachines, type Delivery } from './delivery.js';
import { MachineRegistry } from './registry.js';
import { Subscriber } from './subscriber.js';
import { TaskReads } from './task-reads.js';
import { StreamStore, type StreamItem } from '../persistence/stream-store.js';
import { readTaskStream, type StreamOptions } from './task-stream.js';

export type * from './client-api.js';

/** @internal How a runtime builds its client: its owner id, and the delivery it puts in front of the mailbox. */
export interface ClientInternals {
  owner: string;
  delivery: (mailbox: MailboxDelivery) => Delivery;
}

/**
 * Spawns, sends to and reads tasks without running any: for web servers and
 * other processes that only talk to Baton. Created by {@link createClient}.
 * A runtime holds one (the same calls, with a delivery that hands events to
 * the tasks it holds).
 */
export class BatonClient implements TaskApi {
  /** @internal */ readonly keys: Keys;
  /** @internal */ readonly store: TaskStore;
  /** @internal */ readonly clock: Clock;
  /** @internal */ readonly definitions: Map<string, TaskDefinition>;
  /** @internal */ readonly connections: Connections;
  /** @internal */ readonly activations: Activations;
  /** @internal The machine registry, as this process last read it. */ readonly registry: MachineRegistry;
  /** @internal */ readonly machineOf: TaskMachines;
  /** @internal */ readonly mailbox: MailboxDelivery;
  /** @internal */ readonly options: ResolvedClientOptions;
  private readonly delivery: Delivery;
  private readonly reads: TaskReads;
  private closed = false;
  private subscriber?: Subscriber;

  /** @internal */
  constructor(options: ClientOptions, internals?: ClientInternals) {
    this.options = resolveClientOptions(options);
    const o = this.options;
    this.keys = new Keys(o.prefix);
    this.connections = new Connections(options.connection, { connectTimeoutMs: o.connectTimeoutMs, notify: o.notify });
    this.store = new TaskStore(this.connections.open('command'), this.keys, o.durability);
    this.activations = new Activations(() => this.connections.open('subscriber'), this.keys.queuePrefix);
    this.clock = o.clock;
    this.definitions = normaliseMachines(options.machines);
    // Wall-clock time: liveness is about real processes, whatever clock the tasks' timers use.
    this.registry = new MachineRegistry(new RegistryStore(this.store.redis, this.keys), systemClock, (onChange) => this.subs().listen(this.keys.registryChanged, onChange));
    this.machineOf = new TaskMachines(this.store);
    this.mailbox = new MailboxDelivery(this.store, this.activations, this.machineOf, this.clock, internals?.owner ?? '', o.idempotencyWindowSec);
    this.delivery = internals ? internals.delivery(this.mailbox) : this.mailbox;
    this.reads = new TaskReads(this.store, this.keys, this.registry, () => this.subs(), () => this.reach(), o.unservedAfterMs);
  }

  /** The key namespace this client works in. */
  get prefix(): string {
    return this.keys.prefix;
  }

  /** @internal The pub/sub connection, opened on first use. */
  subs(): Subscriber {
    this.subscriber ??= new Subscriber(this.connections.open('subscriber'));
    return this.subscriber;
  }

  /** @internal */
  assertOpen(): void {
    if (this.closed) throw new ClosedError();
  }

  /** @internal True once closed. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal Resolve once Redis answers; `REDIS_UNREACHABLE` after `connectTimeoutMs`, nothing sent. */
  reach(): Promise<void> | undefined {
    // Connected: nothing to wait for (no promise, no microtask on the send path).
    return this.connections.isReady(this.store.redis) ? undefined : this.connections.ready(this.store.redis);
  }

  /**
   * Create a task. Resolves once it is durable; a runtime that runs its machine then runs it.
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
    this.machineOf.remember(id, machine, version);
    await this.mailbox.wake(id);
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
  async prepareSpawn(machine: string, options: SpawnOptions): Promise<{ id: string; version: number; input: string; def?: TaskDefinition }> {
    // Only an absent id picks one: null, '' or a number is a caller's mistake.
    const id = options.id === undefined ? randomUUID() : options.id;
    assertTaskId(id);
    if (typeof machine !== 'string' || machine.length === 0) throw new UnknownMachineError(String(machine), [...this.definitions.keys()]);
    const max = this.options.maxInputBytes;
    const def = this.definitions.get(machine);
    if (def) return { id, def, version: def.version, input: encodeInput(options.input, max, def.input && zodCheck(def.input)) };
    const rules = await this.registry.rules(machine);
    if (!rules) throw new UnknownMachineError(machine, [...new Set([...this.definitions.keys(), ...(await this.registry.names())])].sort());
    return { id, version: rules.record.version, input: encodeInput(options.input, max, rules.input) };
  }

  /**
   * Send an event to a task. Resolves once the event is durable in its
   * mailbox (or, with `wait: 'applied'`, once applied); the task applies it
   * once, in mailbox order. Throws `INVALID_EVENT`, `PAYLOAD_TOO_LARGE`,
   * `TASK_NOT_FOUND` or `TASK_NOT_RUNNING`, writing nothing.
   */
  send(taskId: string, event: { type: string; [k: string]: unknown }, options: SendOptions = {}): Promise<SendReceipt> {
    // The common case (connected, the task's rules known, nothing to wait for) in one synchronous pass: no await before the delivery.
    const known = this.localRules.get(taskId);
    // isReady, not reach(): reach() makes a wait for the connection, which nothing would await here (it then
    // rejected unhandled with REDIS_UNREACHABLE when Redis stayed away past connectTimeoutMs).
    if (known !== undefined && options.wait === undefined && options.idempotencyKey === undefined && !this.closed && this.connections.isReady(this.store.redis)) {
      try {
        return this.delivery.deliver(taskId, encodeEvent(event, this.options.maxEventBytes, known ?? undefined));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.sendChecked(taskId, event, options);
  }

  private async sendChecked(taskId: string, event: { type: string; [k: string]: unknown }, options: SendOptions): Promise<SendReceipt> {
    this.assertOpen();
    assertTaskId(taskId);
    if (options.idempotencyKey !== undefined) assertIdempotencyKey(options.idempotencyKey);
    const reaching = this.reach();
    if (reaching) await reaching;
    const r = this.rulesFor(taskId);
    const json = encodeEvent(event, this.options.maxEventBytes, r instanceof Promise ? await r : r);
    const receipt = await this.delivery.deliver(taskId, json, { idempotencyKey: options.idempotencyKey });
    if (options.wait === 'applied') await this.reads.waitApplied(taskId, receipt.entryId, (event as { type: string }).type, options.timeoutMs ?? options.timeout);
    return receipt;
  }

  /**
   * @internal What the task's machine accepts: its zod schemas when this
   * process has the machine, else the registry's record of the task's version.
   * Undefined for an unknown task (the send script says so) or a machine that
   * no process registered (nothing to check against; its view says no process runs it).
   */
  rulesFor(taskId: string): EventRules | undefined | Promise<EventRules | undefined> {
    // A task whose machine this process has: its rules never change, so they are looked up once (the send path's budget).
    const known = this.localRules.get(taskId);
    if (known !== undefined) return known ?? undefined;
    return this.resolveRules(taskId);
  }

  private async resolveRules(taskId: string): Promise<EventRules | undefined> {
    const m = await this.machineOf.of(taskId);
    if (!m) return undefined;
    const def = this.definitions.get(m.machine);
    if (def) {
      const rules = definitionRules(def);
      const checked = rules.closed || rules.types.size > 0 ? rules : null; // nothing to check: null, and no check at all
      if (this.localRules.size >= 10_000) this.localRules.clear();
      this.localRules.set(taskId, checked);
      return checked ?? undefined;
    }
    return (await this.registry.rules(m.machine, m.version))?.events;
  }

  private readonly localRules = new Map<string, EventRules | null>();

  /**
   * Stop a task: a `baton.stop` entry goes through its mailbox (so events sent
   * before it are applied first), and the task ends in status `stopped`.
   * Resolves with the stopped view.
   */
  async stop(taskId: string, options: WaitOptions = {}): Promise<TaskView> {
    this.assertOpen();
    assertTaskId(taskId);
    await this.reach();
    await this.delivery.deliver(taskId, JSON.stringify({ type: 'baton.stop' }));
    return this.waitFor(taskId, (v) => v.status !== 'active', options);
  }

  /** @internal Reads of tasks' durable streams. */
  get streams(): StreamStore {
    this.streamStore ??= new StreamStore(this.store.redis, this.keys);
    return this.streamStore;
  }
  private streamStore?: StreamStore;

  /**
   * A task's durable stream (agents' `stream.write` chunks and the markers of
   * their attempts), as an async iterable: what is stored from `from`
   * (default: the start), then live, ending with the task's `end` entry.
   * Resuming from the last id seen loses and repeats nothing. A reader told
   * `{ kind: 'attempt' }` for a job drops what earlier attempts of that job
   * wrote (a retry, or a re-run after a crash). An unknown task is
   * `TASK_NOT_FOUND`.
   *
   * @example
   * for await (const item of client.stream('task-42', { from: lastSeenId })) {
   *   if (item.kind === 'chunk') process.stdout.write(String(item.data));
   * }
   */
  stream(taskId: string, options: StreamOptions = {}): AsyncIterable<StreamItem> {
    this.assertOpen();
    assertTaskId(taskId);
    return readTaskStream({ store: this.store, streams: this.streams, open: () => this.connections.open('blocking'), release: (c) => this.connections.release(c) }, taskId, options);
  }

  /** @internal Deliver an encoded event (checked by the caller) the way `send` does: a runtime's delivery hands it to a host here. */
  deliverEncoded(taskId: string, json: string, options: { idempotencyKey?: string } = {}): Promise<SendReceipt> {
    return this.delivery.deliver(taskId, json, options);
  }

  /** The committed view of a task, or undefined when it does not exist. */
  get(taskId: string): Promise<TaskView | undefined> {
    return this.reads.get(taskId);
  }

  /**
   * The raw committed snapshot of a task (XState's persisted snapshot,
   * children included): for tools that look deeper than the view. With
   * `seq`, the whole tree as it was at that commit, rebuilt from the history
   * (`NOT_RETAINED` once the history no longer keeps it).
   */
  persisted(taskId: string, options?: { seq?: number }): Promise<Record<string, unknown> | undefined> {
    return this.reads.persisted(taskId, options);
  }

  /** Tasks of this prefix, newest first, filtered by machine and status. */
  list(options: ListOptions = {}): Promise<TaskView[]> {
    return this.reads.list(options);
  }

  /** The last `limit` committed transitions of a task, oldest first. */
  history(taskId: string, options: { limit?: number } = {}): Promise<HistoryEntry[]> {
    return this.reads.history(taskId, options);
  }

  /** The machine registry: every machine version published under this prefix, its schemas, statechart and processes. */
  machines(): Promise<MachineInfo[]> {
    return this.reads.machines();
  }

  /** Resolve with the first committed view that satisfies `predicate`; `TIMEOUT` after `options.timeoutMs`. */
  waitFor(taskId: string, predicate: (view: TaskView) => boolean, options: WaitOptions = {}): Promise<TaskView> {
    return this.reads.waitFor(taskId, predicate, options);
  }

  /**
   * Call `listener` with the view of every commit of the task, from any
   * process. Returns at once (see {@link Subscription}: `await s.ready` to
   * know it is live; call `s()` or `s.unsubscribe()` to stop). A missed
   * notice (a dropped connection) is made up by reading the stored state: a
   * listener may see seqs skip, never go back.
   */
  subscribe(taskId: string, listener: (view: TaskView) => void): Subscription {
    return this.reads.subscribe(taskId, listener);
  }

  /** @deprecated Use `const s = subscribe(id, listener); await s.ready`. */
  async subscribeReady(taskId: string, listener: (view: TaskView) => void): Promise<Subscription> {
    const s = this.subscribe(taskId, listener);
    await s.ready;
    return s;
  }

  /** Listen to agents' progress reports of a task, from any process: a {@link Subscription}, like `subscribe`. */
  onProgress(taskId: string, listener: (progress: AgentProgress) => void): Subscription {
    return this.reads.onProgress(taskId, listener);
  }

  /** A live @xstate/store of the task's view, current from commit notices. */
  watch(taskId: string): Promise<TaskWatch> {
    return this.reads.watch(taskId);
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
      stream: (options) => this.stream(taskId, options),
    };
  }

  /**
   * Close connections: at most `connectTimeoutMs` of waiting for an
   * unreachable Redis, then they are dropped.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.connections.closeWithin(() => this.closeInOrder());
  }

  /** @internal Close the queues, then the connections (a runtime's close ends with this). */
  async closeInOrder(): Promise<void> {
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
