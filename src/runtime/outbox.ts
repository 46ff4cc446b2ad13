import type { AgentDispatch } from '../actors/agent-bridge.js';
import type { AgentQueues, CancelNotice } from './agent-queues.js';

/**
 * Effects a task decided in a step, held until the commit that decided them
 * has landed: agent jobs to enqueue and to cancel. Dispatch is idempotent by
 * job id, so a flush that a crash interrupted is simply repeated by the
 * restored task's agent children.
 */
export class Outbox {
  private dispatches: AgentDispatch[] = [];
  private cancels: CancelNotice[] = [];

  constructor(
    private readonly taskId: string,
    private readonly agents: AgentQueues,
    private readonly log: (msg: string, extra?: Record<string, unknown>) => void,
  ) {}

  /** Record an agent invocation to enqueue. */
  dispatch(spec: AgentDispatch): void {
    this.dispatches.push(spec);
  }

  /** Record an invocation to cancel. */
  cancel(notice: CancelNotice): void {
    this.cancels.push(notice);
  }

  /** True when effects wait for a flush. */
  get pending(): boolean {
    return this.dispatches.length > 0 || this.cancels.length > 0;
  }

  /** Send the effects, retrying while Redis is unreachable, until sent or `abandoned()` says the task moved on. */
  async flush(abandoned: () => boolean): Promise<void> {
    let delay = 50;
    while (this.pending) {
      const dispatches = this.dispatches;
      const cancels = this.cancels;
      this.dispatches = [];
      this.cancels = [];
      try {
        if (dispatches.length) await this.agents.dispatch(this.taskId, dispatches);
        if (cancels.length) await this.agents.cancel(cancels);
      } catch (err) {
        this.dispatches.unshift(...dispatches);
        this.cancels.unshift(...cancels);
        if (abandoned()) return; // a restore re-dispatches active agent children
        this.log('outbox dispatch failed, retrying', { taskId: this.taskId, error: (err as Error).message });
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 1000);
      }
    }
  }
}
