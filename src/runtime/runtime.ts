import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Worker } from 'bullmq';
import type { Inspector } from './inspection.js';
import { BatonError, ErrorCode, InvalidOptionsError, TaskExistsError } from '../errors.js';
import { RegistryStore } from '../persistence/registry-store.js';
import { newSendToken, type AppendResult } from '../persistence/task-store.js';
import { Activations } from './activation.js';
import { AgentQueues } from './agent-queues.js';
import type { AgentEntry, AgentRegistration } from './agent-run.js';
import { AgentWorkers } from './agent-workers.js';
import { LocalAgents, routeAgents } from './local-agents.js';
import { BatonClient, type ClientOptions, type SendReceipt, type SpawnOptions, type TaskHandle } from './client.js';
import type { MachineEntry } from './definition.js';
import { systemClock } from './clock.js';
import { RegistryPublisher } from './registry-publisher.js';
import { TaskHost, type HostContext } from './task-host.js';

/** Options of {@link createRuntime}. */
export interface RuntimeOptions extends ClientOptions {
  /** Machines this runtime runs, by name. A runtime with none only runs agents. */
  machines?: Record<string, MachineEntry>;
  /** Agent implementations this process runs, by the name `fromAgent(name)` uses. */
  agents?: Record<string, AgentEntry>;
  /**
   * A held task with nothing in flight for this long (ms) is passivated: its
   * actor leaves memory, its lease is released, and its next event or timer
   * activates it on any worker. 0 disables passivation.
   * @default 30000
   */
  idleMs?: number;
  /**
   * Lock of a running agent job, in ms: a job whose worker died runs again
   * elsewhere after about this long (BullMQ's stalled-job recovery).
   * @default 30000
   */
  agentLockMs?: number;
  /**
   * Largest agent output accepted, in bytes of JSON; larger is an error result.
   * @default 1048576 (1 MiB)
   */
  maxOutputBytes?: number;
  /**
   * How long a task's lease lasts without renewal, in ms. A dead process's
   * tasks are taken over by others after about this long.
   * @default 5000
   */
  leaseMs?: number;
  /**
   * How many activations this process handles at once.
   * @default 32
   */
  activationConcurrency?: number;
  /**
   * Approximate number of history entries kept per task.
   * @default 10000
   */
  historyLimit?: number;
  /**
   * A stable owner id for this process (e.g. the pod or unit name). A runtime
   * started with the id of a process that died takes that process's tasks back
   * at once, instead of waiting for their leases to lapse (it keeps an index
   * of the tasks it holds under this id). At most one live process may use an
   * id: a second one would take the first one's tasks over (the first is then
   * fenced, so nothing is lost, but they would fight).
   * @default hostname-pid-random (no index; tasks of a dead process are taken over after `leaseMs`)
   */
  owner?: string;
  /**
   * An XState inspector (e.g. `createWebSocketInspector({ url }).inspect` or
   * `createBrowserInspector().inspect` from @statelyai/inspect): every task's
   * inspection events are forwarded, with stable ids (the task id, and
   * `<taskId>/<child path>` for children) that survive restores and workers.
   */
  inspect?: Inspector;
  /**
   * How often this process refreshes its entry in the machine registry, in ms.
   * It counts as live for three beats after the last one: a task whose machine
   * no live process runs is flagged in its view.
   * @default 5000
   */
  registryHeartbeatMs?: number;
}

/**
 * A process that runs tasks: it takes activations, holds task actors, commits
 * every step, renews its leases and recovers tasks whose holder died. It has
 * every call of {@link BatonClient} too.
 */
export class Runtime extends BatonClient {
  override readonly self: string;
  /** @internal */ readonly hosts = new Map<string, TaskHost>();
  private readonly activating = new Map<string, Promise<void>>();
  private readonly leaseMs: number;
  private readonly hostCtx: HostContext;
  private readonly workers: Worker[] = [];
  private heartbeat?: NodeJS.Timeout;
  private sweeper?: NodeJS.Timeout;
  private readonly concurrency: number;
  private readonly wakeTimers = new Set<unknown>();
  private readonly log: (msg: string, extra?: Record<string, unknown>) => void;
  private readonly agentQueues: AgentQueues;
  private readonly agentWorkers?: AgentWorkers;
  private readonly localAgents?: LocalAgents;
  private readonly idleMs: number;
  private idler?: NodeJS.Timeout;
  private passivating = false;
  private queueWorkersStarted = false;
  /** True when the owner id was given: this runtime keeps the owner index and reclaims it at start. */
  private readonly stableOwner: boolean;
  private readonly publisher?: RegistryPublisher;

  /** @internal */
  constructor(options: RuntimeOptions) {
    super(options);
    const agents = new Map<string, AgentRegistration>();
    for (const [name, entry] of Object.entries(options.agents ?? {})) {
      if (!/^[A-Za-z0-9_-]{1,100}$/.test(name)) throw new InvalidOptionsError(`agent name '${name}' is invalid: use letters, digits, '_' and '-'`);
      agents.set(name, typeof entry === 'function' ? { run: entry } : entry);
    }
    if (this.definitions.size === 0 && agents.size === 0) {
      throw new InvalidOptionsError('createRuntime needs at least one machine in `machines` or one agent in `agents`');
    }
    this.idleMs = options.idleMs ?? 30_000;
    this.agentQueues = new AgentQueues(() => this.connections.open('command'), this.keys.queuePrefix, this.keys.agentCancel);
    if (agents.size) {
      const progress = async (taskId: string, message: string): Promise<void> => {
        await this.store.redis.publish(this.keys.task(taskId).progress, message);
      };
      const log = (msg: string, extra?: Record<string, unknown>): void => this.log(msg, extra);
      const maxOutputBytes = options.maxOutputBytes ?? 1024 * 1024;
      this.agentWorkers = new AgentWorkers(
        agents,
        { deliver: (taskId, event, key) => this.deliverAgentEvent(taskId, event, key), progress, log },
        maxOutputBytes,
        options.agentLockMs ?? 30_000,
      );
      if (this.definitions.size) {
        this.localAgents = new LocalAgents(agents, { deliver: (taskId, event, key) => this.deliverLocalOutcome(taskId, event, key), progress, log }, maxOutputBytes);
      }
    }
    this.leaseMs = options.leaseMs ?? 5000;
    if (!(this.leaseMs >= 100)) throw new InvalidOptionsError('leaseMs must be at least 100');
    this.concurrency = options.activationConcurrency ?? 32;
    if (options.owner !== undefined && !/^[A-Za-z0-9_.@-]{1,200}$/.test(options.owner)) {
      throw new InvalidOptionsError(`owner '${options.owner}' is invalid: use 1-200 letters, digits, '_', '.', '@' and '-'`);
    }
    this.stableOwner = options.owner !== undefined;
    this.self = options.owner ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.log =
      options.log ??
      (process.env.BATON_DEBUG ? (msg, extra) => console.error(`[baton ${this.self}] ${msg}`, extra ?? '') : () => undefined);
    const beatMs = options.registryHeartbeatMs ?? 5000;
    if (!(beatMs >= 10)) throw new InvalidOptionsError('registryHeartbeatMs must be at least 10');
    if (this.definitions.size) {
      this.publisher = new RegistryPublisher(new RegistryStore(this.store.redis, this.keys), this.self, this.definitions, systemClock, beatMs, (m, e) => this.log(m, e));
    }
    this.hostCtx = {
      store: this.store,
      clock: this.clock,
      owner: this.self,
      leaseMs: this.leaseMs,
      historyMax: options.historyLimit ?? 10_000,
      log: (msg, extra) => this.log(msg, extra),
      agents: routeAgents(this.localAgents, this.agentQueues),
      inspect: options.inspect,
      agentsRunning: (taskId) => !!this.localAgents?.busy(taskId),
      onHeld: (host) => {
        if (host.isGone) return;
        this.hosts.set(host.id, host);
        if (this.stableOwner) this.store.addOwned(this.self, [host.id]).catch((err) => this.log('owner index write failed', { taskId: host.id, error: (err as Error).message }));
      },
      onGone: (host, why) => {
        if (this.hosts.get(host.id) === host) this.hosts.delete(host.id);
        // Our own event met one from elsewhere: the lease is still ours, so restore the task here at once.
        if (why === 'stale') void this.activate(host.id).catch((err) => this.log('re-activation failed', { taskId: host.id, error: (err as Error).message }));
        if (this.stableOwner) this.store.removeOwned(this.self, [host.id]).catch(() => undefined);
      },
    };
  }

  /** @internal Start listening for wakes, taking activations, renewing leases and sweeping. */
  async start(): Promise<void> {
    // An unreachable Redis fails here, in seconds and by name, not in a hang.
    await this.reach();
    await Promise.all([
      // Before anything is spawned: a client validates against what this process published.
      this.publisher?.start(),
      this.agentWorkers ? this.subs.listen(this.keys.agentCancel, (m) => this.agentWorkers?.onCancel(m)) : undefined,
      this.definitions.size ? this.subs.listen(this.keys.ownerChannel(this.self), (m) => this.onWake(m)) : undefined,
    ]);
    if (this.definitions.size === 0) {
      this.startQueueWorkers(); // an agent-only worker holds no tasks
      return;
    }
    // Wakes published while the subscriber was reconnecting are lost: read every held mailbox.
    this.subs.onReconnect(() => {
      for (const h of this.hosts.values()) h.poke();
    });
    if (this.idleMs > 0) this.idler = setInterval(() => void this.passivateIdle(), Math.max(20, Math.min(1000, this.idleMs / 2)));
    const beat = Math.max(50, Math.floor(this.leaseMs / 3));
    this.heartbeat = setInterval(() => void this.renew(), beat);
    this.sweeper = setInterval(() => void this.sweep(), Math.max(50, Math.floor(this.leaseMs / 2)));
    // A restarted runtime takes its own tasks back and runs their immediate steps first, then starts
    // taking queue work (loading bullmq, ~0.1 s of CPU, only then). With nothing to take back, the
    // queue workers start before this resolves, as for any runtime.
    const first = this.stableOwner ? await this.store.scanOwned(this.self, '0', this.concurrency).catch(() => undefined) : undefined;
    if (first && (first[1].length > 0 || first[0] !== '0')) void this.reclaimOwned(first, (ids) => void this.settle(ids).then(() => this.startQueueWorkers()));
    else this.startQueueWorkers();
    void this.sweep();
  }

  /**
   * Resolve once the hosts of `ids` have no step in hand and no in-process
   * agent run, or after min(1 s, leaseMs).
   */
  private async settle(ids: string[]): Promise<void> {
    const deadline = Date.now() + Math.min(1000, this.leaseMs);
    const busy = () =>
      ids.some((id) => {
        const h = this.hosts.get(id);
        return !!h && !h.settled;
      });
    while (busy() && Date.now() < deadline && !this.closed) await new Promise((r) => setTimeout(r, 2));
  }

  /**
   * A wake notice from a send in another process: `taskId\nentryId\nprevId\nevent`
   * (send-5.lua). The entry is handed to the host, which reads the stream
   * only when it does not follow the last entry it knows.
   */
  private onWake(message: string): void {
    const a = message.indexOf('\n');
    if (a < 0) {
      this.hosts.get(message)?.poke();
      return;
    }
    const b = message.indexOf('\n', a + 1);
    const c = message.indexOf('\n', b + 1);
    const host = this.hosts.get(message.slice(0, a));
    if (!host || host.isGone) return;
    if (b < 0 || c < 0) host.poke();
    else host.deliver(message.slice(a + 1, b), message.slice(b + 1, c), message.slice(c + 1));
  }

  /** Start the BullMQ workers: agents' jobs, and activations of tasks nobody holds. */
  private startQueueWorkers(): void {
    if (this.closed || this.queueWorkersStarted) return;
    this.queueWorkersStarted = true;
    this.agentWorkers?.start(() => this.connections.open('blocking'), this.keys.queuePrefix);
    // One worker per machine this process runs: a task's activation reaches only processes that run its machine.
    for (const machine of this.definitions.keys()) {
      const worker = Activations.worker(this.connections.open('blocking'), this.keys.queuePrefix, machine, this.concurrency, (id) => this.activate(id));
      worker.on('error', (err) => this.log('activation worker error', { machine, error: err.message }));
      this.workers.push(worker);
    }
  }

  /**
   * Take back, at once, the tasks a previous process with this owner id held
   * when it died (their leases still name this id, so acquiring them succeeds
   * and fences any write of the old process). Entries for tasks that finished
   * or moved on are dropped from the index.
   */
  private async reclaimOwned(firstBatch: [cursor: string, ids: string[]], afterFirstBatch: (ids: string[]) => void): Promise<void> {
    let batch: [string, string[]] | undefined = firstBatch;
    let cursor = '0';
    let first = true;
    const once = (ids: string[]) => {
      if (first) afterFirstBatch(ids);
      first = false;
    };
    try {
      do {
        const [next, ids] = batch ?? (await this.store.scanOwned(this.self, cursor, this.concurrency));
        batch = undefined;
        cursor = next;
        const stale: string[] = [];
        await Promise.all(
          ids.map(async (id) => {
            if (!this.hosts.has(id)) await this.activate(id);
            if (!this.hosts.has(id)) stale.push(id);
          }),
        );
        await this.store.removeOwned(this.self, stale);
        once(ids);
      } while (cursor !== '0' && !this.closed);
    } catch (err) {
      // The leases lapse and sweepers take the tasks over, as for any dead process.
      this.log('reclaiming the owner index failed', { error: (err as Error).message });
    } finally {
      once([]);
    }
  }

  /** The grace after a lease expiry before its task is looked at by a sweeper. */
  private leaseDueAt(): number {
    return this.clock.now() + this.leaseMs + Math.min(1000, this.leaseMs / 2);
  }

  /** Create a task and run it in this process. */
  override async spawn<TInput = unknown>(machine: string, options: SpawnOptions<TInput> = {}): Promise<TaskHandle> {
    this.assertOpen();
    await this.reach();
    const { id, def, input } = await this.prepareSpawn(machine, options);
    // A machine another process runs (known from the registry): spawned as a client would, for it to take.
    if (!def) return super.spawn(machine, options);
    const now = this.clock.now();
    const spec = { machine, version: def.version, input, now, owner: this.self, leaseMs: this.leaseMs };
    let epoch: number;
    if (this.store.spawnFolds) {
      // One script: create, take the lease, mark due (so a sweeper looks should this process die) and index.
      epoch = await this.store.spawn(id, { ...spec, dueAt: this.leaseDueAt(), index: true });
    } else {
      // Cluster: the due set and the index are in other slots. A taken id writes nothing (checked again, atomically, by the script).
      if (await this.store.exists(id)) throw new TaskExistsError(id);
      // Due first: a crash right after the spawn leaves a sweeper a reason to look at the task.
      await this.store.setDue([[id, this.leaseDueAt()]]);
      epoch = await this.store.spawn(id, spec);
      await this.store.index(id, now);
    }
    const fields = { machine, version: String(def.version), input, status: 'active', seq: '0', cursor: '0-0', createdAt: String(now) };
    await TaskHost.start(this.hostCtx, id, machine, def, epoch, fields, true); // registers itself (onHeld)
    return this.handle(id);
  }

  /**
   * @internal A send to a task this process holds goes to its host, which
   * appends it with the commit that applies it (one script); with an
   * idempotency key, or when the host cannot, through the mailbox.
   */
  protected override async append(taskId: string, json: string, idempotencyKey?: string, token?: string): Promise<SendReceipt> {
    const host = idempotencyKey === undefined && token === undefined ? this.hosts.get(taskId) : undefined;
    if (host && !host.isGone) {
      const own = newSendToken();
      const entryId = await host.sendLocal(json, own);
      if (entryId !== undefined) return { entryId, duplicate: false };
      // Not committed by the host: through the mailbox, with the same token (appended once even if it was).
      return super.append(taskId, json, undefined, own);
    }
    return super.append(taskId, json, idempotencyKey, token);
  }

  /** @internal */
  protected override async afterAppend(taskId: string, result: AppendResult, json: string): Promise<void> {
    if (result.holder === this.self) {
      const host = this.hosts.get(taskId);
      if (host && !host.isGone && result.duplicate) {
        host.poke(); // the entry is in the stream already; make sure it is read
        return;
      }
      if (host && !host.isGone) {
        // Handed over in memory; the stream is re-read only when entries from elsewhere came between.
        host.deliver(result.id, result.prev, json);
        return;
      }
    }
    await super.afterAppend(taskId, result, json);
  }

  /** @internal Take a task's lease and hold it here. */
  async activate(taskId: string): Promise<void> {
    if (this.closed) return;
    const local = this.hosts.get(taskId);
    if (local && !local.isGone) {
      local.poke();
      return;
    }
    const running = this.activating.get(taskId);
    if (running) return running;
    const p = this.doActivate(taskId).finally(() => this.activating.delete(taskId));
    this.activating.set(taskId, p);
    return p;
  }

  private async doActivate(taskId: string): Promise<void> {
    await this.store.setDue([[taskId, this.leaseDueAt()]]);
    const r = await this.store.acquire(taskId, this.self, this.leaseMs);
    if (!r.ok) {
      if (r.reason !== 'held') await this.store.clearDue(taskId);
      return;
    }
    const name = r.fields.machine ?? '';
    const def = this.definitions.get(name);
    // A task spawned for a newer version than this process runs (its input was checked against that
    // version's schema) is not ours to start. (A committed snapshot of a newer version quarantines, on restore.)
    const fresh = (r.fields.seq ?? '0') === '0';
    if (!def || (fresh && Number(r.fields.version ?? 1) > def.version)) {
      this.log('activation for a machine (or version) this process does not run; releasing', { taskId, machine: name, version: r.fields.version });
      await this.store.release(taskId, r.epoch, this.self).catch(() => undefined);
      return;
    }
    await TaskHost.start(this.hostCtx, taskId, name, def, r.epoch, r.fields); // registers itself (onHeld)
  }

  /** An in-process agent's outcome: in memory to the task's host here, else through the mailbox (it moved or passivated). */
  private async deliverLocalOutcome(taskId: string, event: Record<string, unknown>, key: string): Promise<void> {
    const host = this.hosts.get(taskId);
    if (host && !host.isGone) {
      host.deliverAgentEvent(event as { type: string });
      return;
    }
    await this.deliverAgentEvent(taskId, event, key);
  }

  /** Append an agent's result to its task's mailbox; a finished or missing task just drops it. */
  private async deliverAgentEvent(taskId: string, event: Record<string, unknown>, key: string): Promise<void> {
    try {
      await this.append(taskId, JSON.stringify(event), key);
    } catch (err) {
      if (err instanceof BatonError && (err.code === ErrorCode.TaskNotRunning || err.code === ErrorCode.TaskNotFound)) {
        this.log('agent result for a task that no longer runs: dropped', { taskId, jobId: event.jobId });
        return;
      }
      throw err;
    }
  }

  /** Passivate held tasks that have been idle for `idleMs`. */
  private async passivateIdle(): Promise<void> {
    if (this.closed || this.passivating) return;
    this.passivating = true;
    try {
      await this.passivateIdleNow();
    } finally {
      this.passivating = false;
    }
  }

  private async passivateIdleNow(): Promise<void> {
    const cutoff = this.clock.now() - this.idleMs;
    await Promise.all(
      [...this.hosts.values()]
        .filter((h) => h.lastActivity <= cutoff && h.passivatable)
        .map(async (h) => {
          try {
            const r = await h.release(1);
            if (r && r.nextDue !== undefined) this.sweepAt(r.nextDue);
          } catch (err) {
            this.log('passivation failed', { taskId: h.id, error: (err as Error).message });
          }
        }),
    );
  }

  private async renew(): Promise<void> {
    const hosts = [...this.hosts.values()];
    if (hosts.length === 0 || this.closed) return;
    try {
      const held = await this.store.renew(
        hosts.map((h) => h.id),
        this.self,
        this.leaseMs,
      );
      const due: Array<[string, number]> = [];
      hosts.forEach((h, i) => {
        if (held[i] && !h.isGone) due.push([h.id, this.leaseDueAt()]); // a host released meanwhile keeps its timer's due time
        else if (!h.isGone) {
          this.log('lease lost; dropping the task', { taskId: h.id });
          h.drop('lost');
        }
      });
      await this.store.setDue(due);
    } catch (err) {
      this.log('lease renewal failed', { error: (err as Error).message });
    }
  }

  private async sweep(): Promise<void> {
    if (this.closed) return;
    try {
      const ids = await this.store.claimDue(this.clock.now(), 100, this.leaseMs);
      const remote = ids.filter((id) => !this.hosts.has(id));
      // A task held here (perhaps mid-passivation) is woken in place; the claim pushed its due time,
      // so dropping it could leave a timer a whole lease late.
      for (const id of ids) if (this.hosts.has(id)) void this.activate(id).catch(() => undefined);
      // Woken on its machine's queue: a sweeper wakes any task, whichever machines it runs itself.
      const machines = await Promise.all(remote.map((id) => this.machineOfTask(id)));
      await this.activations.wakeMany(remote.flatMap((taskId, i) => (machines[i] === undefined ? [] : [{ taskId, machine: machines[i]! }])));
      if (ids.length === 100) setImmediate(() => void this.sweep());
    } catch (err) {
      this.log('sweep failed', { error: (err as Error).message });
    }
  }

  /** Wake a sweep at `at` by this runtime's clock (a passivated task's next timer). */
  private sweepAt(at: number): void {
    const handle = this.clock.setTimeout(() => {
      this.wakeTimers.delete(handle);
      void this.sweep();
    }, Math.max(0, at - this.clock.now()));
    this.wakeTimers.add(handle);
  }

  /** Number of tasks this process holds. */
  get heldCount(): number {
    return this.hosts.size;
  }

  /**
   * Finish the event in flight, commit, release every lease (tasks with
   * pending timers stay due, so another runtime wakes them in time) and close
   * connections. A stopped actor is never persisted.
   */
  override async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.idler) clearInterval(this.idler);
    await this.publisher?.stop();
    await this.agentWorkers?.close();
    // In-process agent runs are interrupted, not awaited: the tasks' next holders run them again.
    await this.localAgents?.close();
    for (const h of this.wakeTimers) this.clock.clearTimeout(h);
    await Promise.all(this.workers.map((w) => w.close()));
    await Promise.all([...this.activating.values()].map((p) => p.catch(() => undefined)));
    await Promise.all(
      [...this.hosts.values()].map(async (h) => {
        try {
          const r = await h.release();
          if (r === false && !h.isGone) h.drop('lost');
        } catch (err) {
          this.log('release on close failed', { taskId: h.id, error: (err as Error).message });
          h.drop('lost');
        }
      }),
    );
    await this.agentQueues.close();
    await this.activations.close();
    await this.connections.close();
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
