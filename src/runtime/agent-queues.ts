import type { Queue } from 'bullmq';
import { bullmq } from './cjs.js';
import { quietErrors } from './connection.js';
import { agentJobKey, agentQueueName } from '../persistence/keys.js';
import type { AgentDispatch } from '../actors/agent-bridge.js';
import type { RedisLike } from '../persistence/scripts.js';


/** One invocation as the agent function sees it: the payload of an agent job, and of an in-process run. */
export interface AgentJobData {
  taskId: string;
  jobId: string;
  agent: string;
  childPath: string[];
  input: unknown;
  timeoutMs?: number;
  /** Dispatched again by a restore: it may have run already (in process, in a holder that died). */
  restored?: boolean;
}

/** The invocation a task's dispatch describes. */
export function invocationOf(taskId: string, s: AgentDispatch): AgentJobData {
  return { taskId, jobId: s.jobId, agent: s.agent, childPath: s.childPath, input: s.input, timeoutMs: s.timeoutMs, ...(s.restored ? { restored: true } : {}) };
}

/** Pub/sub message that cancels a running agent job. */
export interface CancelNotice {
  jobId: string;
  agent: string;
}

/**
 * The producer side of agent work: one BullMQ queue per agent name (so each
 * agent gets its own concurrency and rate limit on the worker side).
 */
export class AgentQueues {
  private readonly queues = new Map<string, Queue<AgentJobData>>();

  private connection: RedisLike | undefined;

  constructor(
    private readonly open: () => RedisLike,
    private readonly prefix: string,
    private readonly cancelChannel: string,
  ) {}

  private queue(agent: string): Queue<AgentJobData> {
    let q = this.queues.get(agent);
    if (!q) {
      q = quietErrors(new (bullmq().Queue)<AgentJobData>(agentQueueName(agent), { connection: this.conn(), prefix: this.prefix }), 'agent queue');
      this.queues.set(agent, q);
    }
    return q;
  }

  /**
   * Enqueue agent invocations. Idempotent: a job id that exists (waiting,
   * active, or finished within a day) is not added again.
   */
  async dispatch(taskId: string, specs: AgentDispatch[]): Promise<void> {
    await Promise.all(
      specs.map((s) =>
        this.queue(s.agent).add(
          s.agent,
          invocationOf(taskId, s),
          {
            jobId: s.jobId,
            attempts: s.attempts,
            backoff: { type: 'exponential', delay: s.backoffMs },
            removeOnComplete: { age: 86_400 },
            removeOnFail: { age: 7 * 86_400 },
          },
        ),
      ),
    );
  }

  /** The producer connection, opened on first use. */
  private conn(): RedisLike {
    this.connection ??= this.open();
    return this.connection;
  }

  /** True when the queue holds a job with this id (waiting, active, or finished within its retention). */
  async exists(agent: string, jobId: string): Promise<boolean> {
    return (await this.conn().exists(agentJobKey(this.prefix, agent, jobId))) === 1;
  }

  /** Cancel invocations: remove waiting jobs; tell workers to abort running ones. */
  async cancel(specs: CancelNotice[]): Promise<void> {
    await Promise.all(
      specs.map(async (c) => {
        const q = this.queue(c.agent);
        try {
          await q.remove(c.jobId);
        } catch {
          // active (locked) jobs cannot be removed: the notice below aborts them
        }
        await this.conn().publish(this.cancelChannel, JSON.stringify(c));
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
