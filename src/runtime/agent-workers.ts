import type { Job, Worker } from 'bullmq';
import { bullmq } from './cjs.js';
import type { RedisLike } from '../persistence/scripts.js';
import { agentQueueName } from '../persistence/keys.js';
import type { AgentJobData, CancelNotice } from './agent-queues.js';
import { Cancelled, errorEvent, finalError, isOutage, isUnrecoverable, outcomeKey, outputData, resultEvent, runAttempt, toError, type AgentRegistration, type OutcomeDelivery } from './agent-run.js';
import { retry } from './retry.js';

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
  /** Aborted on close: ends the deliveries still retrying. */
  private readonly closing = new AbortController();

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
    let outcome: Record<string, unknown>;
    let failed: Error | undefined;
    try {
      // A job's first run of a fresh invocation supersedes no stream writer (see AgentStream): it begins with its first write.
      const first = job.attemptsMade === 0 && (job.stalledCounter ?? 0) === 0 && !d.restored;
      const output = await runAttempt(reg, d, job.attemptsMade + 1, controller, this.delivery.attempt(d, first));
      const out = outputData(d.agent, output, this.maxOutputBytes);
      outcome = out.ok ? resultEvent(d, out.data) : errorEvent(d, out.error);
    } catch (thrown) {
      if (controller.signal.reason instanceof Cancelled) return; // nobody waits for it any more
      const err = toError(thrown);
      // BullMQ skips its retries only for its own class.
      const { UnrecoverableError } = bullmq();
      failed = isUnrecoverable(err) && !(err instanceof UnrecoverableError) ? Object.assign(new UnrecoverableError(err.message), { cause: err }) : err;
      const final = finalError(err, job.attemptsMade + 1, job.opts.attempts ?? 1);
      if (!final) throw failed;
      outcome = errorEvent(d, final);
    } finally {
      this.running.delete(d.jobId);
    }
    // Delivering is not the agent's attempt: a failed delivery (Redis away, too few replicas) is retried
    // here, under the outcome's key, instead of failing the job and running the agent again (or, on its
    // last attempt, dropping the outcome for good).
    await this.hand(d, outcome);
    if (failed) throw failed;
  }

  /** Deliver an outcome until it lands; the worker closing leaves the job to be run again once its lock lapses. */
  private async hand(d: AgentJobData, event: Record<string, unknown>): Promise<void> {
    const delivered = await retry(() => this.delivery.deliver(d.taskId, event, outcomeKey(d)).then(() => true), {
      fatal: (err) => !isOutage(err),
      signal: this.closing.signal,
      onRetry: (err, delay) => this.delivery.log('agent outcome delivery failed, retrying', { taskId: d.taskId, jobId: d.jobId, error: (err as Error).message, delay }),
    });
    // Not completed, not failed: BullMQ leaves a job alone after a DelayedError, and its stalled check hands it on.
    if (!delivered) throw new (bullmq().DelayedError)(`the outcome of ${d.jobId} was not delivered before the worker closed; the job runs again`);
  }

  async close(): Promise<void> {
    this.closing.abort();
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
