/**
 * A hand-rolled job chain on BullMQ (the same BullMQ and ioredis Baton uses):
 * each step is a job whose processor runs the step and enqueues the next step
 * with the state so far in its data, under a deterministic job id (so a re-run
 * enqueues nothing twice). The last step writes the result and publishes it.
 * Workload C is a BullMQ flow: two child jobs and a parent that compares and
 * reconciles their return values.
 */
import { FlowProducer, Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { CrashWorker, Peer, PeerCtx } from '../lib/peer.js';
import { agentFns, AGENTS, COMPARED, STEPS, step, stepName, stricter, type AgentName, type Results, type Review } from '../lib/work.js';

interface StepJob {
  taskId: string;
  step: number;
  results: Results;
}

/** Queues, workers and the completion channel of one prefix. */
class Chain {
  private readonly conn: Redis;
  private readonly sub: Redis;
  private readonly chain: Queue<StepJob>;
  private readonly flow: FlowProducer;
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<string, (json: string) => void>();
  private readonly doneChannel: string;

  constructor(
    private readonly url: string,
    private readonly prefix: string,
    private readonly opts: { concurrency: number; lockMs: number },
  ) {
    this.conn = new Redis(url, { maxRetriesPerRequest: null });
    this.sub = new Redis(url, { maxRetriesPerRequest: null });
    this.chain = new Queue<StepJob>('chain', { connection: this.conn, prefix });
    this.flow = new FlowProducer({ connection: this.conn, prefix });
    this.doneChannel = `${prefix}:done`;
    this.sub.on('message', (_ch: string, msg: string) => {
      const i = msg.indexOf(' ');
      const id = msg.slice(0, i);
      this.waiting.get(id)?.(msg.slice(i + 1));
      this.waiting.delete(id);
    });
  }

  async start(): Promise<void> {
    await this.sub.subscribe(this.doneChannel);
    const common = {
      prefix: this.prefix,
      concurrency: this.opts.concurrency,
      lockDuration: this.opts.lockMs,
      stalledInterval: this.opts.lockMs,
    };
    this.workers.push(new Worker<StepJob>('chain', (job) => this.runStep(job), { ...common, connection: new Redis(this.url, { maxRetriesPerRequest: null }) }));
    this.workers.push(new Worker('review', (job) => this.review(job), { ...common, connection: new Redis(this.url, { maxRetriesPerRequest: null }) }));
    for (const w of this.workers) w.on('error', (err) => process.stderr.write(`bullmq worker error: ${err.message}\n`));
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
  }

  private async runStep(job: Job<StepJob>): Promise<void> {
    const { taskId, step: i, results } = job.data;
    const next = { ...results, [stepName(i)]: await step(taskId, i, results) };
    if (i < STEPS) {
      await this.chain.add('step', { taskId, step: i + 1, results: next }, { jobId: `${taskId}.${i + 1}`, removeOnComplete: true, removeOnFail: 1000 });
    } else {
      await this.finish(taskId, next);
    }
  }

  private async finish(taskId: string, value: unknown): Promise<void> {
    const json = JSON.stringify(value);
    await this.conn.multi().set(`${this.prefix}:result:${taskId}`, json).publish(this.doneChannel, `${taskId} ${json}`).exec();
  }

  /** Wait for the task's result (published by its last job, or already stored). */
  async result(taskId: string): Promise<unknown> {
    const p = new Promise<string>((resolve) => this.waiting.set(taskId, resolve));
    const stored = await this.conn.get(`${this.prefix}:result:${taskId}`);
    if (stored !== null) {
      this.waiting.delete(taskId);
      return JSON.parse(stored);
    }
    return JSON.parse(await p);
  }

  async startTask(taskId: string): Promise<unknown> {
    const done = this.result(taskId);
    await this.chain.add('step', { taskId, step: 1, results: {} }, { jobId: `${taskId}.1`, removeOnComplete: true, removeOnFail: 1000 });
    return done;
  }

  async runParallel(taskId: string): Promise<unknown> {
    const done = this.result(taskId);
    // glue:begin C
    await this.flow.add({
      name: 'reconcile',
      queueName: 'review',
      data: { taskId },
      opts: { jobId: `${taskId}.reconcile`, removeOnComplete: true },
      children: AGENTS.map((agent) => ({ name: agent, queueName: 'review', data: { taskId }, opts: { jobId: `${taskId}.${agent}`, removeOnComplete: true } })),
    });
    // glue:end C
    return done;
  }

  private async review(job: Job<{ taskId: string }>): Promise<unknown> {
    const { taskId } = job.data;
    if (job.name !== 'reconcile') return agentFns[job.name as AgentName](taskId);
    // glue:begin C
    const values = await job.getChildrenValues<Review>();
    const byAgent = Object.fromEntries(Object.entries(values).map(([key, v]) => [key.slice(key.lastIndexOf('.') + 1), v]));
    const t = byAgent.technical!;
    const r = byAgent.regulatory!;
    const originals: Record<string, Review> = { technical: t, regulatory: r };
    const fields = COMPARED.filter((f) => t[f] !== r[f]);
    const conflict = fields.length ? { fields, summary: fields.map((f) => `${f}: ${t[f]} vs ${r[f]}`).join('; ') } : null;
    const record = { originals, conflict, reconciled: conflict ? stricter(originals) : originals, decidedBy: conflict ? 'rule:stricter' : 'no-conflict' };
    // glue:end C
    await this.finish(taskId, record);
    return null;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
    await this.chain.close();
    await this.flow.close();
    for (const c of [this.sub, this.conn]) await c.quit().catch(() => c.disconnect());
  }
}

export function createPeer(ctx: PeerCtx): Peer {
  const chain = new Chain(ctx.redisUrl, ctx.prefix, { concurrency: ctx.concurrency, lockMs: ctx.failoverMs });
  return {
    config: `BullMQ workers, concurrency ${ctx.concurrency}, lockDuration = stalledInterval = ${ctx.failoverMs} ms; next step enqueued (state in the job data, deterministic job id) before the current job completes; result published on a channel`,
    setup: () => chain.start(),
    runTask: (id) => chain.startTask(id),
    runParallel: (id) => chain.runParallel(id),
    teardown: () => chain.close(),
  };
}

export function createCrashWorker(ctx: PeerCtx): CrashWorker {
  const chain = new Chain(ctx.redisUrl, `${ctx.prefix}-crash`, { concurrency: ctx.concurrency, lockMs: ctx.failoverMs });
  return {
    async start(id) {
      await chain.start();
      void chain.startTask(id);
    },
    async resume(id, ready) {
      await chain.start(); // its stalled-job check re-queues the step the dead worker held, once its lock expires
      ready();
      return chain.result(id);
    },
    close: () => chain.close(),
  };
}
