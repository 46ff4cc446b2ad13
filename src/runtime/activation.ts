import type { Job, Queue, Worker } from 'bullmq';
import { bullmq } from './cjs.js';
import type { RedisLike } from '../persistence/scripts.js';

/** Name of the BullMQ queue that carries task activations. */
export const ACTIVATION_QUEUE = 'activate';

/** Payload of an activation job. */
export interface ActivationJob {
  taskId: string;
}

/**
 * The activation queue: a wake for a task nobody holds. Any worker may take
 * the job; it then acquires the task's lease (or drops the wake when a live
 * holder has it, since the holder reads new mailbox entries itself).
 */
export class Activations {
  private q: Queue<ActivationJob> | undefined;

  constructor(
    private readonly open: () => RedisLike,
    private readonly prefix: string,
  ) {}

  /** The queue, created (with its connection, loading bullmq) on first use. */
  get queue(): Queue<ActivationJob> {
    this.q ??= new (bullmq().Queue)<ActivationJob>(ACTIVATION_QUEUE, { connection: this.open(), prefix: this.prefix });
    return this.q;
  }

  /** Enqueue a wake for `taskId`. */
  async wake(taskId: string): Promise<void> {
    await this.queue.add('activate', { taskId }, { removeOnComplete: true, removeOnFail: 1000, attempts: 5, backoff: { type: 'exponential', delay: 100 } });
  }

  /** Enqueue wakes for several tasks in one round trip. */
  async wakeMany(taskIds: string[]): Promise<void> {
    if (taskIds.length === 0) return;
    await this.queue.addBulk(
      taskIds.map((taskId) => ({
        name: 'activate',
        data: { taskId },
        opts: { removeOnComplete: true, removeOnFail: 1000, attempts: 5, backoff: { type: 'exponential' as const, delay: 100 } },
      })),
    );
  }

  /** Start a worker taking activations. */
  static worker(conn: RedisLike, prefix: string, concurrency: number, activate: (taskId: string) => Promise<void>): Worker<ActivationJob> {
    return new (bullmq().Worker)<ActivationJob>(ACTIVATION_QUEUE, async (job: Job<ActivationJob>) => activate(job.data.taskId), {
      connection: conn,
      prefix,
      concurrency,
    });
  }

  async close(): Promise<void> {
    await this.q?.close();
  }
}
