import type { StreamItem } from '../persistence/stream-store.js';
import type { StreamOptions } from './task-stream.js';
import type * as XStateStore from '@xstate/store';
import type { TaskStatus, TaskView } from '../persistence/view.js';
import type { Clock } from './clock.js';
import type { ConnectionOption } from './connection.js';
import type { MachineEntry } from './definition.js';
import type { MachineGraph } from './machine-graph.js';

/*
 * What a client's caller passes and gets back: the options (each with its
 * default), receipts, views and handles. Defaults are applied, and options
 * checked, in one place: client-options.ts.
 */

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
   * `REDIS_UNREACHABLE` (naming the address and the cause), writing nothing;
   * and how long `close()` waits for an unreachable Redis before it drops
   * its connections.
   * @default 5000
   */
  connectTimeoutMs?: number;
  /**
   * How many Redis replicas must hold a write before Baton acts on it
   * (Redis `WAIT`, after the script's reply, on the connection it went out
   * on): `send()` resolves, a commit counts as landed (its effects are sent,
   * its change notice is published, the local sends it carries resolve) and
   * a lease counts as taken only once
   * `replicas` replicas acknowledged it. Too few within `timeoutMs`: `send()`
   * and `spawn()` reject with `NOT_REPLICATED` (the write may or may not be
   * kept: a resend with the same idempotency key is safe) and a holder lets
   * the task go instead of trusting the commit. With replicas (Sentinel, or a
   * Cluster with replicas) and `replicas: 0`, a failover can lose writes the
   * old master acknowledged; see the README's "Redis high availability".
   * @default { replicas: 0, timeoutMs: 1000 }
   */
  durability?: { replicas?: number; timeoutMs?: number };
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
  timeoutMs?: number;
  /** @deprecated the same as `timeoutMs` */
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
  timeoutMs?: number;
  /** @deprecated the same as `timeoutMs` (every duration option names its unit) */
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
  /** The attempt that reported it (1 for the first). */
  attempt?: number;
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
  /** Only the child tasks of this task (started with `fromTask`). */
  parent?: string;
  /** At most this many tasks (newest first). @default 1000 */
  limit?: number;
}

/**
 * A live listener (`subscribe`, `onProgress`): returned at once, like
 * XState's `actor.subscribe`. Call it, or `unsubscribe()`, to stop; `ready`
 * resolves once it is live (no commit after that is missed) and rejects
 * when Redis cannot be reached (`REDIS_UNREACHABLE`).
 */
export interface Subscription {
  (): void;
  unsubscribe(): void;
  readonly ready: Promise<void>;
}

/** A {@link Subscription} over `start` (which resolves with the stop once live). */
export function toSubscription(start: () => Promise<() => void>): Subscription {
  let off: (() => void) | undefined;
  let stopped = false;
  const ready = start().then((u) => {
    if (stopped) u();
    else off = u;
  });
  ready.catch(() => undefined); // seen by whoever awaits `ready`; never an unhandled rejection
  const stop = () => {
    stopped = true;
    off?.();
    off = undefined;
  };
  return Object.assign(stop, { unsubscribe: stop, ready });
}

/** A live, read-side view of one task: an @xstate/store kept current from commit notices. */
export type TaskWatch = ReturnType<typeof createWatchStore> & {
  /** Stop listening. */
  close(): void;
  /** The same as {@link close}: every listening handle stops with `unsubscribe()`. */
  unsubscribe(): void;
};

/** The store behind {@link TaskWatch}: the newest committed view wins. */
export function createWatchStore(createStore: typeof XStateStore.createStore) {
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
  subscribe(listener: (view: TaskView) => void): Subscription;
  history(options?: { limit?: number }): Promise<HistoryEntry[]>;
  stop(options?: WaitOptions): Promise<TaskView>;
  /** The task's durable stream: stored, then live (see {@link TaskApi.stream}). */
  stream(options?: StreamOptions): AsyncIterable<StreamItem>;
}


/** The calls every client has, and every runtime too (a runtime holds a client). */
export interface TaskApi {
  spawn<TInput = unknown>(machine: string, options?: SpawnOptions<TInput>): Promise<TaskHandle>;
  send(taskId: string, event: { type: string; [k: string]: unknown }, options?: SendOptions): Promise<SendReceipt>;
  stop(taskId: string, options?: WaitOptions): Promise<TaskView>;
  get(taskId: string): Promise<TaskView | undefined>;
  list(options?: ListOptions): Promise<TaskView[]>;
  history(taskId: string, options?: { limit?: number }): Promise<HistoryEntry[]>;
  machines(): Promise<MachineInfo[]>;
  persisted(taskId: string, options?: { seq?: number }): Promise<Record<string, unknown> | undefined>;
  waitFor(taskId: string, predicate: (view: TaskView) => boolean, options?: WaitOptions): Promise<TaskView>;
  subscribe(taskId: string, listener: (view: TaskView) => void): Subscription;
  /** @deprecated `const s = subscribe(id, fn); await s.ready` */
  subscribeReady(taskId: string, listener: (view: TaskView) => void): Promise<Subscription>;
  onProgress(taskId: string, listener: (progress: AgentProgress) => void): Subscription;
  watch(taskId: string): Promise<TaskWatch>;
  /** A task's durable stream (agents' chunks and attempt markers): what is stored from `from`, then live, until the task ends. */
  stream(taskId: string, options?: StreamOptions): AsyncIterable<StreamItem>;
  handle(taskId: string): TaskHandle;
  close(): Promise<void>;
}
