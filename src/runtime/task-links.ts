import type { ChildTaskSpawn, TaskSend } from '../actors/agent-bridge.js';
import { TASK_DONE, TASK_ERROR } from '../actors/fromTask.js';
import { BatonError, ErrorCode, TaskExistsError } from '../errors.js';
import { encodeEvent } from '../persistence/validate.js';
import { viewFromHash } from '../persistence/view.js';
import type { BatonClient } from './client.js';
import type { ChildOutcome } from './host-context.js';
import { retry } from './retry.js';
import { OUTBOX_FIELD } from '../persistence/task-store.js';
import { encodeLink, outcomeOf, readLink, storedOutbox } from './task-link-fields.js';
import type { ChildView } from '../persistence/view.js';

/** Failures that are the target's answer, not an outage: a send is then reported, never retried. */
const ANSWERS = new Set<string>([
  ErrorCode.TaskNotFound,
  ErrorCode.TaskNotRunning,
  ErrorCode.InvalidEvent,
  ErrorCode.InvalidId,
  ErrorCode.PayloadTooLarge,
  ErrorCode.UnknownMachine,
  ErrorCode.InvalidInput,
]);

function answer(err: unknown): BatonError | undefined {
  return err instanceof BatonError && ANSWERS.has(err.code) ? err : undefined;
}

/** The child tasks a view's tree still lists as active. */
function activeChildTasks(children: Record<string, ChildView>): string[] {
  const out: string[] = [];
  for (const c of Object.values(children)) {
    if (c.task && c.status === 'active') out.push(c.task);
    if (c.children) out.push(...activeChildTasks(c.children));
  }
  return out;
}

/** The send that stops child task `id` (the key `fromTask` uses: one stop, however often). */
export function stopOf(id: string): TaskSend {
  return { target: id, event: { type: 'baton.stop' }, key: `stop-${id}`, system: true };
}

/** The idempotency key of a child task's outcome in its parent's mailbox: told once however often. */
export function outcomeKeyOf(childId: string): string {
  return `task-${childId}`;
}

/**
 * Tasks that start and message tasks, the runtime's side: creating child
 * tasks (`fromTask`), delivering events between tasks (`sendToTask`) and
 * telling a parent that its child ended. Each runs after the commit that
 * decided it and is idempotent (a child by its id, an event and an outcome by
 * their keys), so the outbox may repeat it after a crash or an outage.
 */
export class TaskLinks {
  constructor(
    private readonly client: BatonClient,
    private readonly maxEventBytes: number,
    private readonly closing: () => boolean,
    private readonly log: (msg: string, extra?: Record<string, unknown>) => void,
    /** When a sweeper should look at a task nobody took (the lease keeper's dueAt). */
    private readonly dueAt: () => number,
    /** Deliver one of the runtime's own events under its key; a task that ended just does not get it (RuntimeDelivery.outcome). */
    private readonly deliverOwn: (taskId: string, event: Record<string, unknown>, key: string) => Promise<void>,
  ) {}

  async spawn(parent: string, specs: ChildTaskSpawn[]): Promise<void> {
    const spawned = await Promise.all(specs.map((s) => this.spawnOne(parent, s)));
    // One activation round trip per machine for the whole batch (a fan-out of 1,000 spawns 1,000 children in a step).
    const wake = specs.flatMap((s, i) => (spawned[i] ? [{ taskId: s.taskId, machine: s.machine }] : []));
    if (wake.length) await this.client.activations.wakeMany(wake);
  }

  /** Create one child; true when it wants an activation now (false: an answer told, delayed, or running already). */
  private async spawnOne(parent: string, s: ChildTaskSpawn): Promise<boolean> {
    const { client } = this;
    let prepared: { id: string; version: number; input: string };
    try {
      // The child's machine and input are checked as a client's spawn checks them: here, or from the registry.
      prepared = await client.prepareSpawn(s.machine, { id: s.taskId, input: s.input });
    } catch (err) {
      const a = answer(err);
      if (!a) throw err;
      await this.tell(parent, s.taskId, s.childPath, { name: a.code, message: a.message }, TASK_ERROR, true);
      return false;
    }
    const { id, version, input } = prepared;
    const now = client.clock.now();
    const delayed = s.delayMs > 0;
    // Due from the start: should the worker that took its activation die before taking the lease, a sweep
    // starts it (BullMQ would only after the job's lock expired). A delayed start is the due set's alone.
    const due = delayed ? now + s.delayMs : this.dueAt();
    const { store } = client;
    let created = true;
    try {
      await store.spawn(id, { machine: s.machine, version, input, now, owner: '', leaseMs: 0, index: true, parent, link: encodeLink(s.childPath, s.depth), dueAt: due });
    } catch (err) {
      if (!(err instanceof TaskExistsError)) throw err;
      const [owner, seq] = await store.redis.hmget(client.keys.task(id).state, 'parent', 'seq');
      // Another task took the id: this invocation cannot have it.
      if (owner !== parent) {
        await this.tell(parent, id, s.childPath, { name: err.code, message: `${err.message}, and is not a child of '${parent}'` }, TASK_ERROR, true);
        return false;
      }
      created = false;
      if (seq !== '0') return false; // the restored parent's child runs already
    }
    client.machineOf.remember(id, s.machine, version);
    if (!store.spawnFolds) {
      if (created) await store.index(id, now);
      await store.setDue([[id, due]]);
    }
    // A delayed start (a retry's backoff) is the due set's: a sweeper activates the child when it is due.
    return !delayed;
  }

  async send(from: string, sends: TaskSend[]): Promise<void> {
    await Promise.all(sends.map((s) => this.sendOne(from, s)));
  }

  private async sendOne(from: string, s: TaskSend): Promise<void> {
    const { client } = this;
    try {
      const event = { ...s.event, origin: from };
      const rules = s.system ? undefined : await client.rulesFor(s.target);
      const json = encodeEvent(event, this.maxEventBytes, rules, s.system === true);
      await client.deliverEncoded(s.target, json, { idempotencyKey: s.key });
    } catch (err) {
      const a = answer(err);
      if (!a) throw err;
      if (s.system) return; // a stop for a child that ended already
      this.log('a send to another task was not taken', { taskId: from, target: s.target, code: a.code });
      const failed = { type: 'baton.send.failed', target: s.target, eventType: s.event.type, code: a.code, reason: a.message, key: s.key, notify: s.replyOnFailure === true };
      await this.deliverOwn(from, failed, `${s.key}-failed`);
    }
  }

  /**
   * Tell `child.parent` how its child task ended, retrying while Redis is
   * away, until told or this process closes (the child then stays due, and
   * {@link finishEnded} tells the parent when a sweeper activates it).
   */
  async ended(child: { id: string; parent: string; path: string[] }, outcome: ChildOutcome): Promise<void> {
    const done = outcome.status === 'done';
    let told = false;
    await retry(
      async () => {
        await this.tell(child.parent, child.id, child.path, done ? outcome.output : outcome.error, done ? TASK_DONE : TASK_ERROR, outcome.status === 'stopped');
        told = true;
      },
      { stop: this.closing, onRetry: (err) => this.log('telling a parent task failed, retrying', { taskId: child.id, parent: child.parent, error: (err as Error).message }) },
    );
    if (!told) throw new Error(`task '${child.id}': its parent was not told it ended (closing); it stays due`);
  }

  /**
   * A task found ended when activated: it stayed due because its holder died
   * before finishing what the end owes (TaskHost.afterEnd). Do it again, each
   * part idempotent: the sends its last commit kept, a stop for each child
   * task a stopped task still lists as active (a user's stop stops them only
   * after its commit), and, for a child task, telling its parent.
   */
  async finishEnded(taskId: string): Promise<void> {
    const { store, keys } = this.client;
    const [parent, o, status] = await store.redis.hmget(keys.task(taskId).state, 'parent', OUTBOX_FIELD, 'status');
    if (!parent && !o && status !== 'stopped') return;
    const h = await store.read(taskId);
    const view = viewFromHash(taskId, h);
    if (!view || (view.status !== 'done' && view.status !== 'error' && view.status !== 'stopped')) return;
    const sends = storedOutbox(h).sends;
    if (view.status === 'stopped') for (const child of activeChildTasks(view.children)) sends.push(stopOf(child));
    if (sends.length) await this.send(taskId, sends);
    const link = readLink(h);
    if (!link) return;
    const outcome = view.status === 'error' && view.reason ? { status: 'error' as const, error: { name: 'INVALID_INPUT', message: view.reason } } : outcomeOf(view.status, view);
    await this.ended({ id: taskId, parent: link.parent, path: link.path }, outcome);
  }

  private tell(parent: string, childId: string, childPath: string[], payload: unknown, type: string, final: boolean): Promise<void> {
    const event = type === TASK_DONE ? { type, jobId: childId, childPath, output: payload } : { type, jobId: childId, childPath, error: payload, final };
    return this.deliverOwn(parent, event, outcomeKeyOf(childId));
  }

}
