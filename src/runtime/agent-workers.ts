import type { Job, Worker } from 'bullmq';
import { bullmq } from './cjs.js';
import type { RedisLike } from '../persistence/scripts.js';
import { agentQueueName } from '../persistence/keys.js';
import type { AgentJobData, CancelNotice } from './agent-queues.js';
import { Cancelled, errorEvent, finalError, isUnrecoverable, outcomeKey, outputData, resultEvent, runAttempt, toError, type AgentRegistration, type OutcomeDelivery } from './agent-run.js';

/** How a worker delivers results back to tasks (the runtime's mailbox append). */

/**
 * The consumer side of agent work: one BullMQ worker per registered agent.
 * The agent's result, or its final error, goes to the task's mailbox with the
 * idempotency key `agent-<jobId>`, so a job that runs again after a worker
 * crash delivers once.
 */
export class AgentWorkers {
  private readonly workers: Worker<AgentJobData>[] = [];
  private readonly running = new Map<string, AbortController>();

  constructor(
    private readonly agents: Map<string, AgentRegistration>,
    private readonly delivery: OutcomeDelivery,
    private readonly maxOutputBytes: number,
    private readonly lockMs: number,
  ) {}

  start(open: () => RedisLike, prefix: string): void {
    for (const [name, reg] of this.agents) {
      const worker = new (bullmq().Worker)<AgentJobData>(agentQueueName(name), (job) => this.process(reg, job), {
        connection: open(),
        prefix,
        concurrency: reg.concurrency ?? 8,
        // A job whose worker died is re-run after about this long (BullMQ's stalled-job check).
        lockDuration: this.lockMs,
        stalledInterval: Math.max(100, Math.floor(this.lockMs / 2)),
        maxStalledCount: 10,
        ...(reg.limiter ? { limiter: reg.limiter } : {}),
      });
      worker.on('error', (err) => this.delivery.log('agent worker error', { agent: name, error: err.message }));
      this.workers.push(worker);
    }
  }

  /** A cancel notice from any process. */
  onCancel(message: string): void {
    try {
      const c = JSON.parse(message) as CancelNotice;
      this.running.get(c.jobId)?.abort(new Cancelled());
    } catch {
      // not ours
    }
  }

  private async process(reg: AgentRegistration, job: Job<AgentJobData>): Promise<void> {
    const d = job.data;
    const controller = new AbortController();
    this.running.set(d.jobId, controller);
    try {
      const output = await runAttempt(reg, d, job.attemptsMade + 1, controller, (id, m) => this.delivery.progress(id, m));
      const out = outputData(d.agent, output, this.maxOutputBytes);
      if (!out.ok) {
        await this.fail(d, out.error);
        return;
      }
      await this.delivery.deliver(d.taskId, resultEvent(d, out.data), outcomeKey(d));
    } catch (thrown) {
      if (controller.signal.reason instanceof Cancelled) return; // nobody waits for it any more
      const err = toError(thrown);
      const final = finalError(err, job.attemptsMade + 1, job.opts.attempts ?? 1);
      if (final) await this.fail(d, final);
      // BullMQ skips its retries only for its own class.
      const { UnrecoverableError } = bullmq();
      throw isUnrecoverable(err) && !(err instanceof UnrecoverableError) ? Object.assign(new UnrecoverableError(err.message), { cause: err }) : err;
    } finally {
      this.running.delete(d.jobId);
    }
  }

  private async fail(d: AgentJobData, error: Record<string, unknown>): Promise<void> {
    await this.delivery.deliver(d.taskId, errorEvent(d, error), outcomeKey(d));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
