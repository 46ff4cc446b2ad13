import type { AgentDispatch, ChildTaskSpawn, TaskSend } from '../actors/agent-bridge.js';
import type { CancelNotice } from './agent-queues.js';
import type { AgentSink } from './local-agents.js';
import { retry } from './retry.js';

/** The effects one step decided. */
export interface Effects {
  dispatch: AgentDispatch[];
  cancel: CancelNotice[];
  /** In-process children (promise logic) to start once the commit landed. */
  starts: Array<() => void>;
  /** Child tasks to create. */
  spawn: ChildTaskSpawn[];
  /** Events to other tasks (committed with the step: see Commits). */
  send: TaskSend[];
}

/** True when a step decided effects (its commit must land before the loop goes on). */
export function hasEffects(e: Effects): boolean {
  return e.dispatch.length > 0 || e.cancel.length > 0 || e.starts.length > 0 || e.spawn.length > 0 || e.send.length > 0;
}

/** Add `more`'s effects to `into` (one capture superseding another in a cascade). */
export function mergeEffects(into: Effects, more: Effects): void {
  into.dispatch.push(...more.dispatch);
  into.cancel.push(...more.cancel);
  into.starts.push(...more.starts);
  into.spawn.push(...more.spawn);
  into.send.push(...more.send);
}

/** Where child-task effects go once the commit that decided them landed (task-links.ts). */
export interface TaskSink {
  /** Create child tasks of `parent` (idempotent by their ids). */
  spawn(parent: string, specs: ChildTaskSpawn[]): Promise<void>;
  /** Deliver events from task `from`, each under its key; a target that does not take one is reported to `from`. */
  send(from: string, sends: TaskSend[]): Promise<void>;
}

/**
 * Effects a task decided in a step, held until the commit that decided them
 * has landed: agent invocations to start (in process or on their queue) and
 * to cancel, child tasks to create and events to send to other tasks. Dispatch is idempotent by
 * job id, so a send that a crash interrupted is simply repeated by the
 * restored task's agent children.
 */
export class Outbox {
  private dispatches: AgentDispatch[] = [];
  private cancels: CancelNotice[] = [];
  private starts: Array<() => void> = [];
  private spawns: ChildTaskSpawn[] = [];
  private sends: TaskSend[] = [];

  constructor(
    private readonly taskId: string,
    private readonly agents: AgentSink,
    private readonly tasks: TaskSink,
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

  /** Record an in-process child to start after the commit. */
  start(fn: () => void): void {
    this.starts.push(fn);
  }

  /** Record a child task to create. */
  spawnTask(spec: ChildTaskSpawn): void {
    this.spawns.push(spec);
  }

  /** Record an event to send to another task. */
  sendToTask(spec: TaskSend): void {
    this.sends.push(spec);
  }

  /** Mark the invocations recorded so far as re-dispatched by a restore (see AgentDispatch.restored). */
  markRestored(): void {
    for (const d of this.dispatches) d.restored = true;
  }

  /** True when effects wait to be sent. */
  get pending(): boolean {
    return this.dispatches.length > 0 || this.cancels.length > 0 || this.starts.length > 0 || this.spawns.length > 0 || this.sends.length > 0;
  }

  /** Hand over the effects recorded so far (they belong to the step being captured). */
  take(): Effects {
    const e = { dispatch: this.dispatches, cancel: this.cancels, starts: this.starts, spawn: this.spawns, send: this.sends };
    this.dispatches = [];
    this.cancels = [];
    this.starts = [];
    this.spawns = [];
    this.sends = [];
    return e;
  }

  /**
   * Send one step's effects once its commit landed, retrying while Redis is
   * unreachable, until sent or `abandoned()` says the task moved on (checked
   * before each try: a host that lost the task sends nothing); effects
   * recorded since (later steps') stay queued. `once`: one try, whatever
   * `abandoned` says (a task that ended). True when everything was sent.
   */
  async perform(effects: Effects, abandoned: () => boolean, once = false): Promise<boolean> {
    const sent = await retry(
      async () => {
        // A host that let the task go (its lease lost while the commit drained) sends nothing: the next holder's
        // restore re-dispatches active agent children, and a stale dispatch would run the work twice.
        if (!once && abandoned()) return false;
        if (effects.dispatch.length) await this.agents.dispatch(this.taskId, effects.dispatch);
        if (effects.cancel.length) await this.agents.cancel(effects.cancel);
        // Done parts of a retried try are done again: spawns are idempotent by id, sends by key.
        if (effects.spawn.length) await this.tasks.spawn(this.taskId, effects.spawn);
        if (effects.send.length) await this.tasks.send(this.taskId, effects.send);
        for (const start of effects.starts.splice(0)) {
          try {
            start();
          } catch (err) {
            this.log('starting a child after its commit failed', { taskId: this.taskId, error: (err as Error).message });
          }
        }
        return true;
      },
      {
        stop: once ? () => true : abandoned, // a restore re-dispatches active agent children
        onRetry: (err) => this.log('outbox dispatch failed, retrying', { taskId: this.taskId, error: (err as Error).message }),
      },
    );
    return sent === true;
  }

  /** Send everything recorded so far (after a restore, or a stop's cancellations). */
  async flush(abandoned: () => boolean): Promise<void> {
    while (this.pending && !abandoned()) await this.perform(this.take(), abandoned);
  }
}
