import type { AppendResult, TaskStore } from '../persistence/task-store.js';
import type { Activations } from './activation.js';
import type { SendReceipt } from './client-api.js';
import type { Clock } from './clock.js';

/**
 * Where a checked event goes: the one route from `send` (and `stop`, and an
 * agent's outcome) towards the commit that applies it. A plain client
 * appends to the mailbox ({@link MailboxDelivery}); a runtime first offers
 * the event to the task's host when it holds the task (runtime-delivery.ts).
 */
export interface Delivery {
  /** Resolves once the event is durable (or committed). `token` identifies a retried send (appended once). */
  deliver(taskId: string, json: string, options?: { idempotencyKey?: string; token?: string }): Promise<SendReceipt>;
}

/** Machine and version of tasks, read once per task (they never change). */
export class TaskMachines {
  private readonly known = new Map<string, { machine: string; version: number }>();

  constructor(private readonly store: TaskStore) {}

  /** The task's machine and version; undefined when it does not exist. */
  async of(taskId: string): Promise<{ machine: string; version: number } | undefined> {
    let m = this.known.get(taskId);
    if (m === undefined) {
      m = await this.store.machineOf(taskId);
      if (m) this.remember(taskId, m.machine, m.version);
    }
    return m;
  }

  /** Record a task's machine (a spawn knows it). */
  remember(taskId: string, machine: string, version: number): void {
    if (this.known.size >= 10_000) this.known.clear();
    this.known.set(taskId, { machine, version });
  }
}

/**
 * Appends to the task's mailbox (one script: the append, the idempotency
 * check and the holder lookup, atomically) and, when no process holds the
 * task, wakes it on its machine's activation queue.
 */
export class MailboxDelivery implements Delivery {
  constructor(
    private readonly store: TaskStore,
    private readonly activations: Activations,
    private readonly machines: TaskMachines,
    private readonly clock: Clock,
    /** This process's owner id ('' for a plain client): the send script tells the holder by its notice channel. */
    private readonly owner: string,
    private readonly idempotencyWindowSec: number,
  ) {}

  async deliver(taskId: string, json: string, options: { idempotencyKey?: string; token?: string } = {}): Promise<SendReceipt> {
    const r = await this.append(taskId, json, options);
    return { entryId: r.id, duplicate: r.duplicate };
  }

  /** Append, and wake the task when nobody holds it (a duplicate wakes too: its first send may have failed to). */
  async append(taskId: string, json: string, options: { idempotencyKey?: string; token?: string } = {}): Promise<AppendResult> {
    const result = await this.store.append(taskId, {
      event: json,
      idempotencyKey: options.idempotencyKey,
      token: options.token,
      idemTtlSec: this.idempotencyWindowSec,
      now: this.clock.now(),
      owner: this.owner,
    });
    if (result.holder === '') await this.wake(taskId);
    return result;
  }

  /**
   * Enqueue an activation. If that fails (the queue unreachable or not
   * permitted), mark the task due now instead: a sweeper wakes it within half
   * a lease. Only when both fail does the caller see the error (the event is
   * durable; a retry with its idempotency key wakes the task again).
   */
  async wake(taskId: string): Promise<void> {
    try {
      const m = await this.machines.of(taskId);
      if (m === undefined) return; // gone: nothing to wake
      await this.activations.wake(taskId, m.machine);
    } catch (err) {
      try {
        await this.store.setDue([[taskId, this.clock.now()]]);
      } catch {
        throw err;
      }
    }
  }
}
