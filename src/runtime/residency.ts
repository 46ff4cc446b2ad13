import type { Clock } from './clock.js';
import type { TaskDefinition } from './definition.js';
import type { GoneReason, HeldTask, HostContext } from './host-context.js';
import type { LeaseKeeper } from './lease.js';
import { TaskHost } from './task-host.js';

/**
 * Which tasks live in this process, and how they come and go: activation
 * (take the lease, restore the actor, start its loop), wake notices from
 * other processes routed to their hosts, and passivation of hosts idle for
 * `idleMs` (their actors leave memory; the next event or timer activates the
 * task again, on any process that runs its machine).
 */
export class Residency {
  private readonly hosts = new Map<string, HeldTask>();
  private readonly activating = new Map<string, Promise<void>>();
  private idler?: NodeJS.Timeout;
  private passivating = false;
  private readonly settledWaiters = new Set<() => void>();


  constructor(
    private readonly definitions: Map<string, TaskDefinition>,
    private readonly lease: LeaseKeeper,
    private readonly clock: Clock,
    private readonly idleMs: number,
    private readonly log: (msg: string, extra?: Record<string, unknown>) => void,
    private readonly closing: () => boolean,
    /** Wake a task that a newer version of its machine must run, if a live process runs that version. */
    private readonly elsewhere: (taskId: string, machine: string, version: number) => Promise<void>,
  ) {}

  /** The context every host of this process gets (set once, by the runtime). */
  hostCtx!: HostContext;

  /** A host took its task (called through the host context). */
  onHeld(host: HeldTask): void {
    if (host.isGone) return;
    this.hosts.set(host.id, host);
    this.lease.held(host.id);
  }

  /** A host let its task go. */
  onGone(host: HeldTask, why: GoneReason): void {
    if (this.hosts.get(host.id) === host) this.hosts.delete(host.id);
    // Our own event met one from elsewhere: the lease is still ours, so restore the task here at once.
    if (why === 'stale') void this.activate(host.id).catch((err) => this.log('re-activation failed', { taskId: host.id, error: (err as Error).message }));
    this.lease.gone(host.id);
  }

  /** The host of a task held here, if any. */
  host(taskId: string): HeldTask | undefined {
    const h = this.hosts.get(taskId);
    return h && !h.isGone ? h : undefined;
  }

  /** Every host. */
  held(): Iterable<HeldTask> {
    return this.hosts.values();
  }

  /** The hosts by task id. */
  get hostMap(): ReadonlyMap<string, HeldTask> {
    return this.hosts;
  }

  /** Number of tasks held here. */
  get size(): number {
    return this.hosts.size;
  }

  /** Take a task's lease and hold it here (a task held here already is poked instead). */
  activate(taskId: string): Promise<void> {
    if (this.closing()) return Promise.resolve();
    const local = this.host(taskId);
    if (local) {
      // A host that is releasing may already have let the lease go (a send then found no holder and woke
      // the task here): poking it could drop that wake. Wait for the release, then look again.
      if (local.releasing) return local.releasing.then(() => this.activate(taskId), () => this.activate(taskId));
      local.poke();
      return Promise.resolve();
    }
    const running = this.activating.get(taskId);
    if (running) return running;
    const p = this.doActivate(taskId).finally(() => this.activating.delete(taskId));
    this.activating.set(taskId, p);
    return p;
  }

  private async doActivate(taskId: string): Promise<void> {
    const r = await this.lease.acquire(taskId);
    if (!r.ok) return;
    const name = r.fields.machine ?? '';
    const def = this.definitions.get(name);
    // A task spawned for a newer version than this process runs (its input was checked against that
    // version's schema) is not ours to start. (A committed snapshot of a newer version quarantines, on restore.)
    const fresh = (r.fields.seq ?? '0') === '0';
    const version = Number(r.fields.version ?? 1);
    if (!def || (fresh && version > def.version)) {
      this.log('activation for a machine (or version) this process does not run; releasing', { taskId, machine: name, version });
      await this.hostCtx.store.release(taskId, r.epoch, this.hostCtx.owner).catch(() => undefined);
      // Offered again at once, for a process of that version to take (the due set's sweep stays the backstop).
      if (def) await this.elsewhere(taskId, name, version).catch(() => undefined);
      return;
    }
    await TaskHost.start(this.hostCtx, taskId, name, def, r.epoch, r.fields); // registers itself (onHeld)
  }

  /**
   * A wake notice from a send in another process: `taskId\nentryId\nprevId\nevent`
   * (send-5.lua), or a bare task id. The entry is offered to the host, which
   * reads the stream only when it does not follow the last entry it knows.
   */
  onWake(message: string): void {
    const a = message.indexOf('\n');
    const host = this.host(a < 0 ? message : message.slice(0, a));
    if (!host) return;
    const b = a < 0 ? -1 : message.indexOf('\n', a + 1);
    const c = b < 0 ? -1 : message.indexOf('\n', b + 1);
    if (c < 0) host.poke();
    else host.offer(message.slice(a + 1, b), message.slice(b + 1, c), message.slice(c + 1));
  }

  /** Every held mailbox may have missed notices (the subscriber reconnected): read them. */
  pokeAll(): void {
    for (const h of this.hosts.values()) h.poke();
  }

  /** Passivate idle hosts every half `idleMs` (at most every second). */
  start(): void {
    if (this.idleMs > 0) this.idler = setInterval(() => void this.passivateIdle(), Math.max(20, Math.min(1000, this.idleMs / 2)));
  }

  /** Passivate the hosts idle for `idleMs` (one pass). */
  async passivateIdle(): Promise<void> {
    if (this.closing() || this.passivating) return;
    this.passivating = true;
    try {
      const cutoff = this.clock.now() - this.idleMs;
      await Promise.all(
        [...this.hosts.values()]
          .filter((h) => h.lastActivity <= cutoff && h.passivatable)
          .map(async (h) => {
            try {
              const r = await h.release(1);
              if (r && r.nextDue !== undefined) this.lease.sweepAt(r.nextDue);
            } catch (err) {
              this.log('passivation failed', { taskId: h.id, error: (err as Error).message });
            }
          }),
      );
    } finally {
      this.passivating = false;
    }
  }

  /**
   * Resolve once the hosts of `ids` have no step in hand and no in-process
   * agent run, or after `withinMs`. Looked at whenever a host's loop goes
   * idle, not polled. (The deadline is wall-clock time: it bounds a process's
   * start-up, which a task's injected clock does not drive.)
   */
  async whenSettled(ids: string[], withinMs: number): Promise<void> {
    const busy = () => ids.some((id) => this.host(id)?.settled === false);
    if (!busy()) return;
    await new Promise<void>((resolve) => {
      const check = () => {
        if (!busy() || this.closing()) finish();
      };
      const finish = () => {
        this.settledWaiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(finish, withinMs);
      this.settledWaiters.add(check);
    });
  }

  /** A host's loop went idle: waiters of {@link settled} look again. */
  onIdle(): void {
    if (this.settledWaiters.size === 0) return;
    for (const check of [...this.settledWaiters]) check();
  }

  /** Stop passivating; wait for activations in flight; release every lease (tasks with timers stay due). */
  async close(): Promise<void> {
    if (this.idler) clearInterval(this.idler);
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
  }
}
