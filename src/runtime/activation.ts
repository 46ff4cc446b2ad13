import type { Job, Queue, Worker } from 'bullmq';
import { bullmq } from './cjs.js';
import { quietErrors } from './connection.js';
import { activationQueueName } from '../persistence/keys.js';
import type { RedisLike } from '../persistence/scripts.js';

/** Payload of an activation job. */
export interface ActivationJob {
  taskId: string;
}

const JOB_OPTS = { removeOnComplete: true, removeOnFail: 1000, attempts: 5, backoff: { type: 'exponential' as const, delay: 100 } };

/**
 * The activation queues: a wake for a task nobody holds, on the queue of its
 * machine, so only processes that run that machine take it (one that does
 * not would take the job only to let it go, delaying the task). The worker
 * that takes it acquires the task's lease (or drops the wake when a live
 * holder has it, since the holder reads new mailbox entries itself).
 */
export class Activations {
  private readonly queues = new Map<string, Queue<ActivationJob>>();
  private conn: RedisLike | undefined;

  constructor(
    private readonly open: () => RedisLike,
    private readonly prefix: string,
  ) {}

  /** The queue of `machine`, created (loading bullmq; one connection for all queues) on first use. */
  queue(machine: string): Queue<ActivationJob> {
    let q = this.queues.get(machine);
    if (!q) {
      this.conn ??= this.open();
      q = quietErrors(new (bullmq().Queue)<ActivationJob>(activationQueueName(machine), { connection: this.conn, prefix: this.prefix }), 'activation queue');
      this.queues.set(machine, q);
    }
    return q;
  }

  /** Enqueue a wake for `taskId`, a task of `machine`. */
  async wake(taskId: string, machine: string): Promise<void> {
    await this.queue(machine).add('activate', { taskId }, JOB_OPTS);
  }

  /** Enqueue wakes for several tasks, one round trip per machine. */
  async wakeMany(tasks: Array<{ taskId: string; machine: string }>): Promise<void> {
    const byMachine = new Map<string, string[]>();
    for (const t of tasks) byMachine.set(t.machine, [...(byMachine.get(t.machine) ?? []), t.taskId]);
    await Promise.all(
      [...byMachine].map(([machine, ids]) => this.queue(machine).addBulk(ids.map((taskId) => ({ name: 'activate', data: { taskId }, opts: JOB_OPTS })))),
    );
  }

  /** Start a worker taking the activations of `machine`. */
  static worker(conn: RedisLike, prefix: string, machine: string, concurrency: number, activate: (taskId: string) => Promise<void>): Worker<ActivationJob> {
    return new (bullmq().Worker)<ActivationJob>(activationQueueName(machine), async (job: Job<ActivationJob>) => activate(job.data.taskId), {
      connection: conn,
      prefix,
      concurrency,
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
