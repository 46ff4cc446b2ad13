/**
 * Raw BullMQ baselines of the agent figures: the same job functions on a
 * Queue and a Worker configured as Baton configures its agent queues and
 * workers (job options of `AgentQueues.dispatch`, worker options of
 * `AgentWorkers.start`), without tasks, mailboxes or commits.
 */
import { Queue, Worker, type Job, type JobsOptions, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { echo, step, STEPS } from './agent-machines.js';

/** Job options Baton's fromAgent dispatch uses by default (attempts 3, backoff 1000 ms, keep a day). */
export const JOB_OPTS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 86_400 },
  removeOnFail: { age: 7 * 86_400 },
};

/** Worker options Baton's agent workers use (lock = agentLockMs, default 30 s). */
function workerOptions(connection: Redis, prefix: string, concurrency: number): WorkerOptions {
  return { connection, prefix, concurrency, lockDuration: 30_000, stalledInterval: 30_000, maxStalledCount: 10 };
}

/** A Queue and a Worker on their own connections (as a Baton runtime opens them). */
abstract class RawQueue<D> {
  protected readonly queue: Queue<D>;
  protected readonly worker: Worker<D>;
  private readonly conns: Redis[];

  constructor(url: string, prefix: string, name: string, concurrency: number, processor: (job: Job<D>) => Promise<unknown>) {
    const qc = new Redis(url, { maxRetriesPerRequest: null });
    const wc = new Redis(url, { maxRetriesPerRequest: null });
    this.conns = [qc, wc];
    this.queue = new Queue<D>(name, { connection: qc, prefix });
    this.worker = new Worker<D>(name, processor, workerOptions(wc, prefix, concurrency));
    this.worker.on('error', () => undefined);
  }

  async ready(): Promise<void> {
    await this.worker.waitUntilReady();
    await this.queue.waitUntilReady();
  }

  async close(): Promise<void> {
    await this.worker.close();
    await this.queue.close();
    for (const c of this.conns) await c.quit().catch(() => c.disconnect());
  }
}

interface ChainJob {
  chain: string;
  left: number;
  n: number;
  input: { i: number };
}

/**
 * `chains` chains of `jobs` echo jobs each: a chain's next job is added when
 * its previous one completed (the Worker's `completed` event), so at most
 * `chains` jobs are waiting or running, as with Baton's tasks.
 */
export class RawChains extends RawQueue<ChainJob> {
  private onDone?: (job: Job<ChainJob>) => void;
  private failed: unknown;

  constructor(url: string, prefix: string, concurrency: number) {
    super(url, prefix, 'raw-echo', concurrency, async (job) => echo({ input: job.data.input }));
    this.worker.on('completed', (job) => this.onDone?.(job));
    this.worker.on('failed', (_job, err) => (this.failed ??= err));
  }

  private add(d: ChainJob): Promise<unknown> {
    return this.queue.add('echo', d, { ...JOB_OPTS, jobId: `${d.chain}.${d.n}` });
  }

  /** Run the chains; count and elapsed ms (first add to last completion, by Date.now like Baton's commit times). */
  async run(tag: string, chains: number, jobs: number): Promise<{ count: number; elapsedMs: number }> {
    let finished = 0;
    const t0 = Date.now();
    const done = new Promise<number>((resolve, reject) => {
      this.onDone = (job) => {
        const d = job.data;
        if (d.left > 1) this.add({ chain: d.chain, left: d.left - 1, n: d.n + 1, input: { i: d.n + 1 } }).catch(reject);
        else if (++finished === chains) resolve(Date.now());
      };
    });
    await Promise.all(Array.from({ length: chains }, (_, c) => this.add({ chain: `${tag}-${c}`, left: jobs, n: 0, input: { i: 0 } })));
    const end = await done;
    this.onDone = undefined;
    if (this.failed) throw this.failed;
    return { count: chains * jobs, elapsedMs: end - t0 };
  }
}

interface SevenJob {
  task: string;
  i: number;
  results: Record<string, unknown>;
}

/**
 * The hand-rolled seven-step chain: each job runs step i and enqueues step
 * i + 1 with the results so far in its data (what a task's context holds).
 */
export class RawSeven extends RawQueue<SevenJob> {
  private waiters = new Map<string, (t: bigint) => void>();

  constructor(url: string, prefix: string, concurrency: number) {
    super(url, prefix, 'raw-seven', concurrency, async (job) => {
      const d = job.data;
      const out = step({ input: { task: d.task, i: d.i } });
      if (d.i < STEPS) {
        await this.queue.add('step', { task: d.task, i: d.i + 1, results: { ...d.results, [`s${d.i}`]: out } }, { ...JOB_OPTS, jobId: `${d.task}.${d.i + 1}` });
      }
      return out;
    });
    this.worker.on('completed', (job) => {
      if (job.data.i === STEPS) this.waiters.get(job.data.task)?.(process.hrtime.bigint());
    });
  }

  /** One chain end to end: add of step 1 → completion of step 7 seen by this process. Resolves with ms. */
  async once(task: string): Promise<number> {
    const seen = new Promise<bigint>((resolve) => this.waiters.set(task, resolve));
    const t0 = process.hrtime.bigint();
    await this.queue.add('step', { task, i: 1, results: {} }, { ...JOB_OPTS, jobId: `${task}.1` });
    const t1 = await seen;
    this.waiters.delete(task);
    return Number(t1 - t0) / 1e6;
  }
}
