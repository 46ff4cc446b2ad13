import type { Worker } from 'bullmq';
import { TaskExistsError } from '../errors.js';
import { RegistryStore } from '../persistence/registry-store.js';
import { Activations } from './activation.js';
import { AgentQueues } from './agent-queues.js';
import { AgentWorkers } from './agent-workers.js';
import { BatonClient, type TaskApi, type AgentProgress, type HistoryEntry, type ListOptions, type MachineInfo, type SendOptions, type SendReceipt, type SpawnOptions, type TaskHandle, type TaskWatch, type WaitOptions } from './client.js';
import type { Subscription } from './client-api.js';
import { systemClock } from './clock.js';
import type { HeldTask } from './host-context.js';
import { LeaseKeeper } from './lease.js';
import { LocalAgents, routeAgents } from './local-agents.js';
import { RegistryPublisher } from './registry-publisher.js';
import { Residency } from './residency.js';
import { RuntimeDelivery } from './runtime-delivery.js';
import { resolveRuntimeOptions, type ResolvedRuntimeOptions, type RuntimeOptions } from './runtime-options.js';
import { TaskHost } from './task-host.js';
import { TaskLinks } from './task-links.js';
import { AgentStream } from './agent-stream.js';
import { StreamStore } from '../persistence/stream-store.js';
import type { AgentJobData } from './agent-queues.js';
import type { AttemptIo } from './agent-run.js';
import type { TaskView } from '../persistence/view.js';
import type { StreamItem } from '../persistence/stream-store.js';
import type { StreamOptions } from './task-stream.js';

export type { RuntimeOptions } from './runtime-options.js';

/**
 * A process that runs tasks: it takes activations of the machines it runs,
 * holds task actors, commits every step, renews its leases and recovers tasks
 * whose holder died. It has every call of a client, and holds one: a send to
 * a task held here is handed to its host (one way: client → delivery → host
 * → commit).
 */
export class Runtime implements TaskApi {
  /** @internal */ readonly client: BatonClient;
  /** @internal */ readonly options: ResolvedRuntimeOptions;
  /** @internal */ readonly residency: Residency;
  private readonly lease: LeaseKeeper;
  private delivery!: RuntimeDelivery;
  private readonly workers: Worker[] = [];
  private readonly agentQueues: AgentQueues;
  private readonly agentWorkers?: AgentWorkers;
  private readonly localAgents?: LocalAgents;
  private readonly publisher?: RegistryPublisher;
  private readonly links: TaskLinks;
  private queueWorkersStarted = false;
  private closed = false;

  /** @internal */
  constructor(options: RuntimeOptions) {
    const machineCount = Object.keys(options.machines ?? {}).length;
    this.options = resolveRuntimeOptions(options, machineCount);
    const o = this.options;
    this.client = new BatonClient(options, { owner: o.owner, delivery: (mailbox) => (this.delivery = new RuntimeDelivery(mailbox, () => this.residency, o.owner)) });
    const { store, keys, clock, definitions } = this.client;
    const log = o.log;
    this.lease = new LeaseKeeper(store, clock, o.owner, o.leaseMs, o.stableOwner, {
      held: () => this.residency.held(),
      activate: (id) => this.residency.activate(id),
      wake: (ids) => this.wake(ids),
      closing: () => this.closed,
      ended: (id) => this.links.finishEnded(id),
    }, log);
    this.residency = new Residency(definitions, this.lease, clock, o.idleMs, log, () => this.closed, async (id, machine, version) => {
      const serving = await this.client.registry.serving(machine, version);
      if (serving.live.some((p) => p.owner !== o.owner)) await this.client.activations.wake(id, machine);
    });
    this.links = new TaskLinks(this.client, this.client.options.maxEventBytes, () => this.closed, log, () => this.lease.dueAt(), (id, ev, key) => this.delivery.outcome(id, ev, key, log));
    this.agentQueues = new AgentQueues(() => this.client.connections.open('command'), keys.queuePrefix, keys.agentCancel);
    if (o.agents.size) {
      const streams = new StreamStore(store.redis, keys, o.stream, this.client.options.durability);
      const attempt = (d: AgentJobData, first: boolean): AttemptIo => ({
        progress: (message) => store.publishProgress(d.taskId, d.childPath, message),
        stream: new AgentStream(streams, d, first, o.stream.maxChunkBytes),
      });
      this.agentWorkers = new AgentWorkers(o.agents, this.delivery.queued(attempt, log), o.maxOutputBytes, o.agentLockMs);
      if (definitions.size) this.localAgents = new LocalAgents(o.agents, this.delivery.inProcess(attempt, log), o.maxOutputBytes);
    }
    if (definitions.size) this.publisher = new RegistryPublisher(new RegistryStore(store.redis, keys), o.owner, definitions, systemClock, o.registryHeartbeatMs, log);
    this.residency.hostCtx = {
      store,
      clock,
      owner: o.owner,
      leaseMs: o.leaseMs,
      historyLimit: o.historyLimit,
      log,
      agents: routeAgents(this.localAgents, this.agentQueues),
      tasks: this.links,
      maxTaskDepth: o.maxTaskDepth,
      inspect: options.inspect,
      agentsRunning: (taskId) => !!this.localAgents?.busy(taskId),
      onHeld: (host) => this.residency.onHeld(host),
      onGone: (host, why) => this.residency.onGone(host, why),
      onIdle: () => this.residency.onIdle(),
    };
  }

  /** @internal Start listening for wakes, taking activations, renewing leases and sweeping. */
  async start(): Promise<void> {
    const { client } = this;
    const { keys, definitions } = client;
    // An unreachable Redis fails here, in seconds and by name, not in a hang.
    await client.reach();
    await Promise.all([
      // Before anything is spawned: a client validates against what this process published.
      this.publisher?.start(),
      this.agentWorkers ? client.subs().listen(keys.agentCancel, (m) => this.agentWorkers?.onCancel(m)) : undefined,
      definitions.size ? client.subs().listen(keys.ownerChannel(this.options.owner), (m) => this.residency.onWake(m)) : undefined,
    ]);
    if (definitions.size === 0) {
      this.startQueueWorkers(); // an agent-only worker holds no tasks
      return;
    }
    // Wakes published while the subscriber was reconnecting are lost: read every held mailbox.
    client.subs().onReconnect(() => this.residency.pokeAll());
    this.residency.start();
    this.lease.start();
    // A restarted runtime takes its own tasks back and runs their immediate steps first, then starts
    // taking queue work (loading bullmq, ~0.1 s of CPU, only then). With nothing to take back, the
    // queue workers start before this resolves, as for any runtime.
    const batch = this.options.activationConcurrency;
    const first = await this.lease.firstOwned(batch);
    if (first && (first[1].length > 0 || first[0] !== '0')) {
      const within = Math.min(1000, this.options.leaseMs);
      void this.lease.reclaim(first, batch, (id) => !!this.residency.host(id), (ids) => void this.residency.whenSettled(ids, within).then(() => this.startQueueWorkers()));
    } else this.startQueueWorkers();
  }

  /** Start the BullMQ workers: agents' jobs, and activations of the tasks of this process's machines. */
  private startQueueWorkers(): void {
    if (this.closed || this.queueWorkersStarted) return;
    this.queueWorkersStarted = true;
    const { connections, keys, definitions } = this.client;
    this.agentWorkers?.start(() => connections.open('blocking'), keys.queuePrefix);
    // One worker per machine: a task's activation reaches only processes that run its machine.
    for (const machine of definitions.keys()) {
      const worker = Activations.worker(connections.open('blocking'), keys.queuePrefix, machine, this.options.activationConcurrency, (id) => this.residency.activate(id));
      worker.on('error', (err) => this.options.log('activation worker error', { machine, error: err.message }));
      this.workers.push(worker);
    }
  }

  /** Wake tasks on their machines' queues (a sweeper wakes any task, whichever machines it runs itself). */
  private async wake(ids: string[]): Promise<void> {
    const machines = await Promise.all(ids.map((id) => this.client.machineOf.of(id)));
    await this.client.activations.wakeMany(ids.flatMap((taskId, i) => (machines[i] ? [{ taskId, machine: machines[i]!.machine }] : [])));
  }

  /** Create a task and run it in this process (a machine only another process runs is spawned for it, as a client would). */
  async spawn<TInput = unknown>(machine: string, options: SpawnOptions<TInput> = {}): Promise<TaskHandle> {
    const { client } = this;
    client.assertOpen();
    await client.reach();
    const { id, def, input } = await client.prepareSpawn(machine, options);
    if (!def) return client.spawn(machine, options);
    const { store, clock } = client;
    const now = clock.now();
    const spec = { machine, version: def.version, input, now, owner: this.options.owner, leaseMs: this.options.leaseMs };
    let epoch: number;
    if (store.spawnFolds) {
      // One script: create, take the lease, mark due (so a sweeper looks should this process die) and index.
      epoch = await store.spawn(id, { ...spec, dueAt: this.lease.dueAt(), index: true });
    } else {
      // Cluster: the due set and the index are in other slots. A taken id writes nothing (checked again, atomically, by the script).
      if (await store.exists(id)) throw new TaskExistsError(id);
      // Due first: a crash right after the spawn leaves a sweeper a reason to look at the task.
      await store.setDue([[id, this.lease.dueAt()]]);
      epoch = await store.spawn(id, spec);
      await store.index(id, now);
    }
    const fields = { machine, version: String(def.version), input, status: 'active', seq: '0', cursor: '0-0', createdAt: String(now) };
    await TaskHost.start(this.residency.hostCtx, id, machine, def, epoch, fields, true); // registers itself (onHeld)
    return this.handle(id);
  }

  /** Send an event to a task (see {@link BatonClient.send}); to a task held here, in one script. */
  send(taskId: string, event: { type: string; [k: string]: unknown }, options?: SendOptions): Promise<SendReceipt> {
    return this.client.send(taskId, event, options);
  }
  /** Stop a task (see {@link BatonClient.stop}). */
  stop(taskId: string, options?: WaitOptions): Promise<TaskView> {
    return this.client.stop(taskId, options);
  }
  /** The committed view of a task. */
  get(taskId: string): Promise<TaskView | undefined> {
    return this.client.get(taskId);
  }
  /** Tasks of this prefix. */
  list(options?: ListOptions): Promise<TaskView[]> {
    return this.client.list(options);
  }
  /** Committed transitions of a task. */
  history(taskId: string, options?: { limit?: number }): Promise<HistoryEntry[]> {
    return this.client.history(taskId, options);
  }
  /** The machine registry. */
  machines(): Promise<MachineInfo[]> {
    return this.client.machines();
  }
  /** The raw committed XState snapshot of a task (children included); with `seq`, as it was at that commit. */
  persisted(taskId: string, options?: { seq?: number }): Promise<Record<string, unknown> | undefined> {
    return this.client.persisted(taskId, options);
  }
  /** The first committed view that satisfies `predicate`. */
  waitFor(taskId: string, predicate: (view: TaskView) => boolean, options?: WaitOptions): Promise<TaskView> {
    return this.client.waitFor(taskId, predicate, options);
  }
  /** Every commit of a task, from any process. */
  subscribe(taskId: string, listener: (view: TaskView) => void): Subscription {
    return this.client.subscribe(taskId, listener);
  }
  /** @deprecated Use `const s = subscribe(id, listener); await s.ready`. */
  subscribeReady(taskId: string, listener: (view: TaskView) => void): Promise<Subscription> {
    return this.client.subscribeReady(taskId, listener);
  }
  /** Agents' progress reports (see {@link BatonClient.onProgress}). */
  onProgress(taskId: string, listener: (progress: AgentProgress) => void): Subscription {
    return this.client.onProgress(taskId, listener);
  }
  /** A live @xstate/store of a task's view. */
  watch(taskId: string): Promise<TaskWatch> {
    return this.client.watch(taskId);
  }
  /** A task's durable stream (see {@link BatonClient.stream}). */
  stream(taskId: string, options?: StreamOptions): AsyncIterable<StreamItem> {
    return this.client.stream(taskId, options);
  }
  /** Per-task calls bound to `taskId`. */
  handle(taskId: string): TaskHandle {
    return this.client.handle(taskId);
  }

  /** @internal */ get store() {
    return this.client.store;
  }
  /** @internal */ get keys() {
    return this.client.keys;
  }
  /** @internal */ get registry() {
    return this.client.registry;
  }
  /** @internal */ get connections() {
    return this.client.connections;
  }
  /** This process's owner id: the name its leases, wake notices and registry entry carry. */
  get owner(): string {
    return this.options.owner;
  }
  /** @deprecated the same as {@link owner} */
  get self(): string {
    return this.options.owner;
  }
  /** @internal The tasks held here. */ get hosts(): ReadonlyMap<string, HeldTask> {
    return this.residency.hostMap;
  }
  /** @internal Passivate idle hosts now. */ passivateIdle(): Promise<void> {
    return this.residency.passivateIdle();
  }
  /** @internal Deliver an agent outcome as a queued job's would be. */ deliverAgentEvent(taskId: string, event: Record<string, unknown>, key: string): Promise<void> {
    return this.delivery.outcome(taskId, event, key, this.options.log);
  }

  /** Number of tasks this process holds. */
  get heldCount(): number {
    return this.residency.size;
  }

  /**
   * Finish the event in flight, commit, release every lease (tasks with
   * pending timers stay due, so another runtime wakes them in time) and close
   * connections. A stopped actor is never persisted. With Redis out of reach
   * for `connectTimeoutMs` meanwhile (down, or not answering) it says so and
   * drops what was left to write: the leases it held expire, and other
   * processes take the tasks (events they had not committed are still in
   * their mailboxes). It never waits for Redis for good.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.connections.closeWithin(() => this.closeInOrder());
  }

  private async closeInOrder(): Promise<void> {
    this.lease.close();
    await this.publisher?.stop();
    await this.agentWorkers?.close();
    // In-process agent runs are interrupted, not awaited: the tasks' next holders run them again.
    await this.localAgents?.close();
    await Promise.all(this.workers.map((w) => w.close()));
    await this.residency.close();
    await this.agentQueues.close();
    await this.client.closeInOrder();
  }
}

/**
 * Start a worker process: a runtime that runs agents (and tasks, when given
 * machines). `createWorker` is `createRuntime` under the name operators use.
 *
 * @example
 * const worker = await createWorker({ connection, agents: { research: async ({ input }) => ({ findings: [input.topic] }) } });
 */
export async function createWorker(options: RuntimeOptions): Promise<Runtime> {
  return createRuntime(options);
}

/**
 * Start a runtime: a process that runs tasks.
 *
 * @example
 * import { createRuntime } from 'baton';
 * const runtime = await createRuntime({ connection: process.env.REDIS_URL, prefix: 'baton', machines: { research } });
 * const task = await runtime.spawn('research', { id: 'task-42', input: { topic: 'batteries' } });
 * await task.send({ type: 'user.update', scope: 'EU only' }, { idempotencyKey: 'msg-7' });
 * await task.waitFor((v) => v.status === 'done');
 * await runtime.close();
 */
export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const runtime = new Runtime(options);
  try {
    await runtime.start();
  } catch (err) {
    await runtime.close().catch(() => undefined); // no timers or reconnecting sockets left behind
    throw err;
  }
  return runtime;
}
