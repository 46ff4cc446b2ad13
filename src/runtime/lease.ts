import type { StateFields, TaskStore } from '../persistence/task-store.js';
import type { Clock } from './clock.js';
import type { HeldTask } from './host-context.js';

/** What the lease keeper needs from the process that holds tasks. */
export interface LeaseHolder {
  /** The tasks held here now. */
  held(): Iterable<HeldTask>;
  /** Activate a task here (a due task held here, or one of this owner's tasks after a restart). */
  activate(taskId: string): Promise<void>;
  /** Wake tasks nobody here holds, on their machines' activation queues. */
  wake(taskIds: string[]): Promise<void>;
  /** True when the runtime is closing. */
  closing(): boolean;
  /** A task found ended when activated (a child task whose parent may not have been told yet). */
  ended(taskId: string): Promise<void>;
}

/** The answer of {@link LeaseKeeper.acquire}. */
export type Acquired = { ok: true; epoch: number; fields: StateFields } | { ok: false; reason: 'not-found' | 'not-running' | 'held'; detail?: string };

/**
 * The leases of one runtime, like BullMQ's lock manager: taking a task's
 * lease (with a new fencing epoch), renewing every held one, sweeping the
 * due set for tasks whose holder died or whose timer is due, the owner index
 * of a runtime with a stable id, and the wake-up of a passivated task's next
 * timer. Releasing is the host's (release-4.lua refuses while entries wait).
 */
export class LeaseKeeper {
  private heartbeat?: NodeJS.Timeout;
  private sweeper?: NodeJS.Timeout;
  private readonly wakeTimers = new Set<unknown>();

  constructor(
    private readonly store: TaskStore,
    private readonly clock: Clock,
    private readonly owner: string,
    private readonly leaseMs: number,
    private readonly stableOwner: boolean,
    private readonly holder: LeaseHolder,
    private readonly log: (msg: string, extra?: Record<string, unknown>) => void,
  ) {}

  /** When a sweeper looks at a task whose holder died now: the lease's expiry plus a grace. */
  dueAt(): number {
    return this.clock.now() + this.leaseMs + Math.min(1000, this.leaseMs / 2);
  }

  /**
   * Take a task's lease (`SET NX PX` + `INCR epoch`, one script). The task is
   * marked due first, so a crash right after leaves a sweeper a reason to look.
   */
  async acquire(taskId: string): Promise<Acquired> {
    await this.store.setDue([[taskId, this.dueAt()]]);
    const r = await this.store.acquire(taskId, this.owner, this.leaseMs);
    // An ended child task stays due until its parent was told: the activation that finds it tells it.
    if (!r.ok && r.reason === 'not-running') await this.holder.ended(taskId);
    if (!r.ok && r.reason !== 'held') await this.store.clearDue(taskId);
    return r;
  }

  /** Start renewing held leases (every third of a lease) and sweeping the due set (every half). */
  start(): void {
    this.heartbeat = setInterval(() => void this.renew(), Math.max(50, Math.floor(this.leaseMs / 3)));
    this.sweeper = setInterval(() => void this.sweep(), Math.max(50, Math.floor(this.leaseMs / 2)));
    void this.sweep();
  }

  /** A host took its task: record it in the owner index (a hint for a restart under the same id). */
  held(taskId: string): void {
    if (this.stableOwner) this.store.addOwned(this.owner, [taskId]).catch((err) => this.log('owner index write failed', { taskId, error: (err as Error).message }));
  }

  /** A host let its task go. */
  gone(taskId: string): void {
    if (this.stableOwner) this.store.removeOwned(this.owner, [taskId]).catch(() => undefined);
  }

  private async renew(): Promise<void> {
    const hosts = [...this.holder.held()];
    if (hosts.length === 0 || this.holder.closing()) return;
    try {
      const held = await this.store.renew(
        hosts.map((h) => h.id),
        this.owner,
        this.leaseMs,
      );
      const due: Array<[string, number]> = [];
      hosts.forEach((h, i) => {
        if (held[i] && !h.isGone) due.push([h.id, this.dueAt()]); // a host released meanwhile keeps its timer's due time
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

  /** Claim due tasks: those held here are woken in place, the others on their machines' queues. */
  async sweep(): Promise<void> {
    if (this.holder.closing()) return;
    try {
      const ids = await this.store.claimDue(this.clock.now(), 100, this.leaseMs);
      const here = new Set([...this.holder.held()].map((h) => h.id));
      // A task held here (perhaps mid-passivation) is woken in place; the claim pushed its due time,
      // so dropping it could leave a timer a whole lease late.
      for (const id of ids) if (here.has(id)) void this.holder.activate(id).catch(() => undefined);
      await this.holder.wake(ids.filter((id) => !here.has(id)));
      if (ids.length === 100) setImmediate(() => void this.sweep());
    } catch (err) {
      this.log('sweep failed', { error: (err as Error).message });
    }
  }

  /** Sweep at `at` by this runtime's clock (a passivated task's next timer). */
  sweepAt(at: number): void {
    const handle = this.clock.setTimeout(() => {
      this.wakeTimers.delete(handle);
      void this.sweep();
    }, Math.max(0, at - this.clock.now()));
    this.wakeTimers.add(handle);
  }

  /** The first batch of this owner's index (undefined without a stable id, or when it cannot be read). */
  async firstOwned(batch: number): Promise<[cursor: string, ids: string[]] | undefined> {
    return this.stableOwner ? this.store.scanOwned(this.owner, '0', batch).catch(() => undefined) : undefined;
  }

  /**
   * Take back, at once, the tasks a previous process with this owner id held
   * when it died (their leases still name this id, so acquiring them succeeds
   * and fences any write of the old process). Entries for tasks that finished
   * or moved on are dropped. `afterFirstBatch` runs once the first batch is in hand.
   */
  async reclaim(firstBatch: [cursor: string, ids: string[]], batch: number, isHeld: (id: string) => boolean, afterFirstBatch: (ids: string[]) => void): Promise<void> {
    let next: [string, string[]] | undefined = firstBatch;
    let cursor = '0';
    let first = true;
    const once = (ids: string[]) => {
      if (first) afterFirstBatch(ids);
      first = false;
    };
    try {
      do {
        const [c, ids] = next ?? (await this.store.scanOwned(this.owner, cursor, batch));
        next = undefined;
        cursor = c;
        const stale: string[] = [];
        await Promise.all(
          ids.map(async (id) => {
            if (!isHeld(id)) await this.holder.activate(id);
            if (!isHeld(id)) stale.push(id);
          }),
        );
        await this.store.removeOwned(this.owner, stale);
        once(ids);
      } while (cursor !== '0' && !this.holder.closing());
    } catch (err) {
      // The leases lapse and sweepers take the tasks over, as for any dead process.
      this.log('reclaiming the owner index failed', { error: (err as Error).message });
    } finally {
      once([]);
    }
  }

  /** Stop renewing, sweeping and the timer wake-ups. */
  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.sweeper) clearInterval(this.sweeper);
    for (const h of this.wakeTimers) this.clock.clearTimeout(h);
  }
}
