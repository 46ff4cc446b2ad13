import type { ActorLogic, AnyActorRef, EventObject, NonReducibleUnknown, Snapshot } from 'xstate';
import type { z } from 'zod';
import { actorPath } from './actor-path.js';
import { bridgeOf } from './agent-bridge.js';
import { childTaskId, issues } from './ids.js';

/** Delivered to a parent when a child task it started is done (`output`). */
export const TASK_DONE = 'baton.task.done';
/** Delivered to a parent when a child task ended in error or was stopped (`error`); `final` means no retry helps. */
export const TASK_ERROR = 'baton.task.error';

/** Options of {@link fromTask}. */
export interface TaskSchemas<TInput extends z.ZodType | undefined, TOutput extends z.ZodType | undefined> {
  /** Schema the invocation's input must match; a mismatch fails the invocation (onError), nothing is spawned. */
  input?: TInput;
  /** Schema the child task's output must match; a mismatch fails the invocation (onError). */
  output?: TOutput;
  /**
   * Child tasks started before the invocation fails for good (then `onError`):
   * a child that ends in error is started again, as a new task, after the backoff.
   * @default 1
   */
  attempts?: number;
  /**
   * Exponential backoff base between attempts, in ms.
   * @default 1000
   */
  backoffMs?: number;
}

/** Persisted state of a `fromTask` child: XState's snapshot plus the child task it follows. */
export type ChildTaskSnapshot<TOutput> = Snapshot<TOutput> & {
  /** Machine the child task runs. */
  machine: string;
  /** Input the child task was spawned with. */
  input: unknown;
  /** Id of the child task of the current attempt ('' when the invocation failed before spawning). */
  task: string;
  /** The same id: outcomes are matched by it, as an agent's are by its job id. */
  jobId: string;
  /** 1 for the first child task, 2 for the first retry, … */
  attempt: number;
};

type TaskEvent = { type: string; jobId?: string; output?: unknown; error?: unknown; final?: boolean };

/**
 * Actor logic that runs a machine as a separate durable task: `invoke` or
 * `spawn` it like `fromAgent`. Starting it creates a child task (its own
 * state, mailbox, lease and history, held by any process that runs
 * `machine`) once the commit that started it landed, under an id derived
 * from the parent's id, the commit and the child's path, so a restored parent
 * never creates it twice. The child's output completes the invoke (`onDone`);
 * its error or stop reaches `onError` (after `attempts`). Leaving the
 * invoking state, or stopping the parent, stops the child task, and so on
 * down the tree. An unknown machine is an `onError` with `UNKNOWN_MACHINE`;
 * a chain deeper than the runtime's `maxTaskDepth` one with `TASK_DEPTH`.
 *
 * @example
 * const review = fromTask('review', { input: z.object({ doc: z.string() }), output: z.object({ ok: z.boolean() }) });
 * const machine = setup({ actors: { review } }).createMachine({
 *   initial: 'reviewing',
 *   states: { reviewing: { invoke: { src: 'review', input: { doc: 'spec.md' }, onDone: 'done', onError: 'failed' } }, done: { type: 'final' }, failed: {} },
 * });
 */
export function fromTask<TInputSchema extends z.ZodType | undefined = undefined, TOutputSchema extends z.ZodType | undefined = undefined>(
  machine: string,
  schemas: TaskSchemas<TInputSchema, TOutputSchema> = {},
): ActorLogic<
  ChildTaskSnapshot<TOutputSchema extends z.ZodType ? z.output<TOutputSchema> : unknown>,
  EventObject,
  TInputSchema extends z.ZodType ? z.input<TInputSchema> : NonReducibleUnknown
> {
  type Out = TOutputSchema extends z.ZodType ? z.output<TOutputSchema> : unknown;
  type Snap = {
    status: 'active' | 'done' | 'error' | 'stopped';
    output: Out | undefined;
    error: unknown;
    machine: string;
    input: unknown;
    task: string;
    jobId: string;
    attempt: number;
    /** The backoff before the current attempt's child starts. */
    delayMs: number;
    /** Set in memory on a new invocation (never persisted): only then does `start` spawn the child. */
    fresh?: boolean;
  };
  const attempts = schemas.attempts ?? 1;
  const backoffMs = schemas.backoffMs ?? 1000;
  const spawn = (snap: Snap, self: AnyActorRef, system: object) => {
    const bridge = bridgeOf(system);
    bridge?.spawnTask({ taskId: snap.task, machine, input: snap.input, childPath: actorPath(self), delayMs: snap.delayMs, depth: bridge.depth + 1 });
  };
  const logic = {
    config: { task: machine },
    getInitialSnapshot: (scope: { self: AnyActorRef; system: object }, input: unknown): Snap => {
      const base: Snap = { status: 'active', output: undefined, error: undefined, machine, input, task: '', jobId: '', attempt: 1, delayMs: 0 };
      if (schemas.input) {
        const r = schemas.input.safeParse(input);
        if (!r.success) return { ...base, status: 'error', error: { name: 'INVALID_INPUT', message: `child task '${machine}' input: ${issues(r.error)}` } };
        base.input = r.data;
      }
      const bridge = bridgeOf(scope.system);
      if (!bridge) return { ...base, status: 'error', error: { name: 'NoRuntime', message: `child task '${machine}' needs a Baton runtime to run` } };
      if (bridge.depth + 1 > bridge.maxDepth) {
        return {
          ...base,
          status: 'error',
          error: { name: 'TASK_DEPTH', message: `child task '${machine}' would be ${bridge.depth + 1} deep, past the limit of ${bridge.maxDepth} (maxTaskDepth)` },
        };
      }
      base.task = base.jobId = childTaskId(bridge.taskId, bridge.nextSeq(), actorPath(scope.self));
      base.fresh = true;
      return base;
    },
    start: (snap: Snap, scope: { self: AnyActorRef; system: object }) => {
      // A new invocation only. A restored one's child exists, or its spawn is in the outbox its commit kept
      // (`o`), which the restore does again: a parent restored with 1,000 children does not spawn 1,000 again.
      if (snap.fresh && snap.status === 'active' && snap.task) spawn(snap, scope.self, scope.system);
    },
    transition: (snap: Snap, event: TaskEvent, scope: { self: AnyActorRef; system: object }): Snap => {
      if (snap.status !== 'active') return snap;
      switch (event.type) {
        case TASK_DONE: {
          if (event.jobId !== snap.task) return snap;
          if (!schemas.output) return { ...snap, status: 'done', output: event.output as Out };
          const r = schemas.output.safeParse(event.output);
          if (r.success) return { ...snap, status: 'done', output: r.data as Out };
          return { ...snap, status: 'error', error: { name: 'InvalidTaskOutput', message: `child task '${machine}' output: ${issues(r.error)}` } };
        }
        case TASK_ERROR: {
          if (event.jobId !== snap.task) return snap;
          if (event.final || snap.attempt >= attempts) return { ...snap, status: 'error', error: event.error };
          // Supervision by retry: a new child task (a new id: the failed one keeps its history) after the backoff.
          const base = snap.attempt === 1 ? snap.task : snap.task.slice(0, snap.task.lastIndexOf('.r'));
          const attempt = snap.attempt + 1;
          const next: Snap = { ...snap, attempt, task: `${base}.r${attempt}`, jobId: `${base}.r${attempt}`, delayMs: backoffMs * 2 ** (snap.attempt - 1) };
          spawn(next, scope.self, scope.system);
          return next;
        }
        case 'xstate.stop': {
          const bridge = bridgeOf(scope.system);
          // Passivation and shutdown stop the actor too: the child task then runs on.
          if (bridge && !bridge.stopping && snap.task) bridge.sendToTask({ target: snap.task, event: { type: 'baton.stop' }, key: `stop-${snap.task}`, system: true });
          return { ...snap, status: 'stopped' };
        }
        default:
          return snap;
      }
    },
    getPersistedSnapshot: (snap: Snap) => {
      if (!snap.fresh) return snap;
      const { fresh: _, ...persisted } = snap;
      return persisted;
    },
    restoreSnapshot: (snap: unknown) => snap as Snap,
  };
  return logic as never;
}
