import type { AgentDispatch } from '../actors/agent-bridge.js';
import { invocationOf, type AgentQueues, type CancelNotice } from './agent-queues.js';
import { Cancelled, errorEvent, finalError, outcomeKey, outputData, resultEvent, runAttempt, ShuttingDown, toError, type AgentRegistration, type OutcomeDelivery } from './agent-run.js';
import { retry } from './retry.js';

/** Where agent effects go once the commit that decided them landed. */
export interface AgentSink {
  dispatch(taskId: string, specs: AgentDispatch[]): Promise<void>;
  cancel(notices: CancelNotice[]): Promise<void>;
}


interface Run {
  taskId: string;
  agent: string;
  controller: AbortController;
  done: Promise<void>;
}

/**
 * Agents run in the process that holds the invoking task, right after the
 * commit that started them: no queue round trips. Retries, exponential
 * backoff, per-attempt timeout, cancel and progress behave as on the queue.
 * A task restored after its holder died re-dispatches its invocation: through
 * the agent's queue when the queue has its job (the queue runs a job id once),
 * else (it ran in process in the dead holder, or never started) here again:
 * an invocation cut short by the crash runs again, from attempt 1.
 */
export class LocalAgents {
  private readonly runs = new Map<string, Run>();
  /** Runs in flight, by agent (its concurrency) and by task (busy). */
  private readonly perAgent = new Map<string, number>();
  private readonly perTask = new Map<string, number>();
  private closing = false;

  constructor(
    private readonly agents: Map<string, AgentRegistration>,
    private readonly delivery: OutcomeDelivery,
    private readonly maxOutputBytes: number,
  ) {}

  /** True when `agent` is registered here to run in process. */
  runsHere(agent: string): boolean {
    const reg = this.agents.get(agent);
    return !!reg && reg.inProcess !== false && !reg.limiter;
  }

  /**
   * Start the invocation here; false when it must go through the queue (not
   * registered for in-process runs here, at its concurrency, or closing).
   * An invocation already running here is not started twice.
   */
  tryRun(taskId: string, spec: AgentDispatch): boolean {
    if (this.closing || !this.runsHere(spec.agent)) return false;
    if (this.runs.has(spec.jobId)) return true;
    const reg = this.agents.get(spec.agent)!;
    if ((this.perAgent.get(spec.agent) ?? 0) >= (reg.concurrency ?? 8)) return false;
    count(this.perAgent, spec.agent, 1);
    count(this.perTask, taskId, 1);
    const controller = new AbortController();
    const run: Run = { taskId, agent: spec.agent, controller, done: Promise.resolve() };
    this.runs.set(spec.jobId, run);
    run.done = this.execute(reg, spec, taskId, controller).finally(() => {
      this.runs.delete(spec.jobId);
      count(this.perAgent, spec.agent, -1);
      count(this.perTask, taskId, -1);
    });
    return true;
  }

  /** True while the invocation runs here. */
  running(jobId: string): boolean {
    return this.runs.has(jobId);
  }

  /** Abort an invocation running here; false when it is not. */
  cancel(jobId: string): boolean {
    const run = this.runs.get(jobId);
    if (!run) return false;
    run.controller.abort(new Cancelled());
    return true;
  }

  /** True while an invocation of this task runs here (the task is not passivated meanwhile). */
  busy(taskId: string): boolean {
    return this.perTask.has(taskId);
  }

  private async execute(reg: AgentRegistration, spec: AgentDispatch, taskId: string, controller: AbortController): Promise<void> {
    await Promise.resolve(); // never run agent code inside the caller's step
    const d = invocationOf(taskId, spec);
    const key = outcomeKey(d);
    for (let attempt = 1; ; attempt++) {
      if (controller.signal.aborted) return;
      // A timed-out attempt aborts its own signal: with a timeout each attempt gets a fresh one, linked to cancel
      // and shutdown; without one, the invocation's own signal serves (AbortControllers are not cheap).
      const attemptCtl = d.timeoutMs ? new AbortController() : controller;
      const forward = () => attemptCtl.abort(controller.signal.reason);
      if (attemptCtl !== controller) controller.signal.addEventListener('abort', forward, { once: true });
      try {
        const output = await runAttempt(reg, d, attempt, attemptCtl, this.delivery.attempt(d, attempt === 1 && !spec.restored));
        const out = outputData(d.agent, output, this.maxOutputBytes);
        await this.hand(taskId, out.ok ? resultEvent(d, out.data) : errorEvent(d, out.error), key, controller);
        return;
      } catch (thrown) {
        const reason = controller.signal.reason;
        if (reason instanceof Cancelled || reason instanceof ShuttingDown) return;
        const err = toError(thrown);
        const final = finalError(err, attempt, spec.attempts);
        if (final) {
          await this.hand(taskId, errorEvent(d, final), key, controller);
          return;
        }
        this.delivery.log('agent attempt failed, retrying in process', { taskId, jobId: d.jobId, attempt, error: err.message });
        // BullMQ's exponential backoff: delay · 2^(attempt-1).
        await abortableDelay(spec.backoffMs * 2 ** (attempt - 1), controller.signal);
      } finally {
        if (attemptCtl !== controller) controller.signal.removeEventListener('abort', forward);
      }
    }
  }

  /** Deliver the outcome; while Redis is unreachable, retry until closing (then the next holder re-runs it). */
  private async hand(taskId: string, event: Record<string, unknown>, key: string, controller: AbortController): Promise<void> {
    await retry(() => this.delivery.deliver(taskId, event, key), {
      signal: controller.signal,
      onRetry: (err) => this.delivery.log('agent result delivery failed, retrying', { taskId, error: (err as Error).message }),
    });
  }

  /** Abort every run (their tasks' next holders run them again) and wait for them to end. */
  async close(): Promise<void> {
    this.closing = true;
    const runs = [...this.runs.values()];
    for (const r of runs) r.controller.abort(new ShuttingDown());
    await Promise.all(runs.map((r) => r.done.catch(() => undefined)));
  }
}

function count(m: Map<string, number>, key: string, by: number): void {
  const n = (m.get(key) ?? 0) + by;
  if (n > 0) m.set(key, n);
  else m.delete(key);
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Route effects: invocations this process can run go to `local`, the rest to
 * the agents' BullMQ queues; a cancel aborts a local run, else goes to the
 * queue (removing a waiting job, or telling the worker that runs it).
 */
export function routeAgents(local: LocalAgents | undefined, queues: AgentQueues): AgentSink {
  return {
    async dispatch(taskId, specs) {
      if (!local) return queues.dispatch(taskId, specs);
      // A restored invocation may have run already. If the queue has its job, the queue runs it (once);
      // if not, it ran in a process that died, or never started: run it again, here when possible.
      const queued = await Promise.all(
        specs.map((s) => (s.restored && local.runsHere(s.agent) && !local.running(s.jobId) ? queues.exists(s.agent, s.jobId) : false)),
      );
      const rest = specs.filter((s, i) => !local.running(s.jobId) && (queued[i] || !local.tryRun(taskId, s)));
      if (rest.length) await queues.dispatch(taskId, rest);
    },
    async cancel(notices) {
      const rest = local ? notices.filter((c) => !local.cancel(c.jobId)) : notices;
      if (rest.length) await queues.cancel(rest);
    },
  };
}
