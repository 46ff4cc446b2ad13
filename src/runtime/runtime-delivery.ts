import { BatonError, ErrorCode } from '../errors.js';
import { newSendToken } from '../persistence/task-store.js';
import type { OutcomeDelivery } from './agent-run.js';
import type { SendReceipt } from './client-api.js';
import type { Delivery, MailboxDelivery } from './delivery.js';
import type { Residency } from './residency.js';

/**
 * A runtime's route for events: a send without an idempotency key to a task
 * held here is offered to its host, whose commit that applies it also
 * appends it (one script); otherwise, or when the host cannot, it is
 * appended to the mailbox, and an entry for a task held here is handed to
 * its host in memory (the stream is read only when entries from elsewhere
 * came between).
 */
export class RuntimeDelivery implements Delivery {
  constructor(
    private readonly mailbox: MailboxDelivery,
    private readonly residencyOf: () => Residency,
    private readonly owner: string,
  ) {}

  deliver(taskId: string, json: string, options: { idempotencyKey?: string; token?: string } = {}): Promise<SendReceipt> {
    const host = options.idempotencyKey === undefined && options.token === undefined ? this.residencyOf().host(taskId) : undefined;
    if (!host) return this.append(taskId, json, options.idempotencyKey, options.token);
    const token = newSendToken();
    // Not committed by the host: through the mailbox, with the same token (appended once even if it was).
    return host.sendLocal(json, token).then((entryId) => (entryId !== undefined ? { entryId, duplicate: false } : this.append(taskId, json, undefined, token)));
  }

  private async append(taskId: string, json: string, idempotencyKey: string | undefined, token: string | undefined): Promise<SendReceipt> {
    const r = await this.mailbox.append(taskId, json, { idempotencyKey, token });
    const here = r.holder === this.owner ? this.residencyOf().host(taskId) : undefined;
    if (here && r.duplicate) here.poke(); // the entry is in the stream already; make sure it is read
    else if (here) here.offer(r.id, r.prev, json);
    return { entryId: r.id, duplicate: r.duplicate };
  }

  /** Outcomes of agent jobs run from their queue: into the task's mailbox under their idempotency key. */
  queued(attempt: OutcomeDelivery['attempt'], log: OutcomeDelivery['log']): OutcomeDelivery {
    return { deliver: (taskId, event, key) => this.outcome(taskId, event, key, log), attempt, log };
  }

  /** Outcomes of agents run in this process: in memory to the task's host here, else (it moved or passivated) as a queued one. */
  inProcess(attempt: OutcomeDelivery['attempt'], log: OutcomeDelivery['log']): OutcomeDelivery {
    return {
      deliver: async (taskId, event, key) => {
        const host = this.residencyOf().host(taskId);
        if (host) host.offerAgentOutcome(event as { type: string });
        else await this.outcome(taskId, event, key, log);
      },
      attempt,
      log,
    };
  }

  /**
   * Append one of the runtime's own events (an agent's outcome, a child
   * task's end, a failed send's report) to a task's mailbox under its
   * idempotency key; a finished or missing task just drops it.
   */
  async outcome(taskId: string, event: Record<string, unknown>, key: string, log: OutcomeDelivery['log']): Promise<void> {
    try {
      await this.deliver(taskId, JSON.stringify(event), { idempotencyKey: key });
    } catch (err) {
      if (err instanceof BatonError && (err.code === ErrorCode.TaskNotRunning || err.code === ErrorCode.TaskNotFound)) {
        log('an event for a task that no longer runs: dropped', { taskId, type: event.type, jobId: event.jobId });
        return;
      }
      throw err;
    }
  }
}
