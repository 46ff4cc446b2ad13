import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { AGENT_ERROR, AGENT_RESULT } from '../actors/fromAgent.js';
import { encodeJson } from '../persistence/codec.js';
import type { RedisLike } from '../persistence/scripts.js';
import { agentQueueName, type AgentJobData, type CancelNotice } from './agent-queues.js';

/** What an agent function receives. */
export interface AgentContext<TInput = unknown> {
  /** The invocation's input (validated by the `fromAgent` input schema). */
  input: TInput;
  /** Aborted when the invoking state is left, the attempt times out, or the worker shuts down. */
  signal: AbortSignal;
  /** Report progress; it reaches the task's progress subscribers in any process. */
  progress: (data: unknown) => Promise<void>;
  /** 1 for the first attempt, 2 for the first retry, … */
  attempt: number;
  /** The task that invoked the agent. */
  taskId: string;
  /** Deterministic id of this invocation (the same across retries). */
  jobId: string;
}

/** An agent implementation: returns the output (JSON data) or throws. */
export type AgentFunction<TInput = any, TOutput = unknown> = (ctx: AgentContext<TInput>) => Promise<TOutput> | TOutput;

/** An agent implementation with worker-side limits. */
export interface AgentRegistration<TInput = any, TOutput = unknown> {
  run: AgentFunction<TInput, TOutput>;
  /**
   * Jobs of this agent run at once in this process.
   * @default 8
   */
  concurrency?: number;
  /** At most `max` jobs per `duration` ms across all workers (BullMQ's limiter). */
  limiter?: { max: number; duration: number };
}

/** What `agents` accepts: a function or a registration with limits. */
export type AgentEntry = AgentFunction | AgentRegistration;

/** Throw this from an agent to fail the invocation at once, without retries. */
export { UnrecoverableError };

class Cancelled extends Error {
  constructor() {
    super('agent invocation cancelled: its invoking state was left');
    this.name = 'Cancelled';
  }
}

/** How a worker delivers results back to tasks (the runtime's mailbox append). */
export interface AgentDelivery {
  deliver(taskId: string, event: Record<string, unknown>, idempotencyKey: string): Promise<void>;
  progress(taskId: string, message: string): Promise<void>;
  log(msg: string, extra?: Record<string, unknown>): void;
}

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
    private readonly delivery: AgentDelivery,
    private readonly maxOutputBytes: number,
    private readonly lockMs: number,
  ) {}

  start(open: () => RedisLike, prefix: string): void {
    for (const [name, reg] of this.agents) {
      const worker = new Worker<AgentJobData>(agentQueueName(name), (job) => this.process(reg, job), {
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
    let timer: NodeJS.Timeout | undefined;
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    if (d.timeoutMs) {
      timer = setTimeout(() => controller.abort(new Error(`agent '${d.agent}' attempt timed out after ${d.timeoutMs} ms`)), d.timeoutMs);
    }
    try {
      const output = await Promise.race([
        Promise.resolve(
          reg.run({
            input: d.input,
            signal: controller.signal,
            attempt: job.attemptsMade + 1,
            taskId: d.taskId,
            jobId: d.jobId,
            progress: (data) =>
              this.delivery.progress(
                d.taskId,
                encodeJson({ jobId: d.jobId, agent: d.agent, childPath: d.childPath, data, at: Date.now() }),
              ),
          }),
        ),
        aborted,
      ]);
      const json = encodeJson(output ?? null);
      if (Buffer.byteLength(json) > this.maxOutputBytes) {
        await this.fail(d, { name: 'OutputTooLarge', message: `agent '${d.agent}' output is ${Buffer.byteLength(json)} bytes, over ${this.maxOutputBytes}` });
        return;
      }
      await this.delivery.deliver(d.taskId, { type: AGENT_RESULT, jobId: d.jobId, childPath: d.childPath, output: JSON.parse(json) }, `agent-${d.jobId}`);
    } catch (thrown) {
      if (controller.signal.reason instanceof Cancelled) return; // nobody waits for it any more
      // BullMQ needs an Error: an agent that throws null, a string or an object still fails its attempt.
      const err = thrown instanceof Error ? thrown : new Error(typeof thrown === 'string' ? thrown : `agent threw ${JSON.stringify(thrown) ?? String(thrown)}`);
      const attempts = job.opts.attempts ?? 1;
      const final = err instanceof UnrecoverableError || job.attemptsMade + 1 >= attempts;
      if (final) await this.fail(d, { name: err.name, message: err.message, attempts: job.attemptsMade + 1 });
      throw err;
    } finally {
      if (timer) clearTimeout(timer);
      this.running.delete(d.jobId);
    }
  }

  private async fail(d: AgentJobData, error: Record<string, unknown>): Promise<void> {
    await this.delivery.deliver(d.taskId, { type: AGENT_ERROR, jobId: d.jobId, childPath: d.childPath, error }, `agent-${d.jobId}`);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
