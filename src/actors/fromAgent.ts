import type { ActorLogic, AnyActorRef, EventObject, NonReducibleUnknown, Snapshot } from 'xstate';
import type { z } from 'zod';
import { actorPath } from './actor-path.js';
import { bridgeOf } from './agent-bridge.js';
import { issues, safe } from './ids.js';

/** Event types the runtime delivers to agent children (reserved: `baton.*`). */
export const AGENT_RESULT = 'baton.agent.result';
/** Delivered when an agent failed for good (retries exhausted, or unrecoverable). */
export const AGENT_ERROR = 'baton.agent.error';
/** Delivered with `progress(data)` reports: agent children keep the latest. */
export const AGENT_PROGRESS = 'baton.agent.progress';

/** Options of {@link fromAgent}. */
export interface AgentSchemas<TInput extends z.ZodType | undefined, TOutput extends z.ZodType | undefined> {
  /** Schema the invocation's input must match; a mismatch fails the child (onError), nothing is enqueued. */
  input?: TInput;
  /** Schema the agent's output must match; a mismatch fails the child (onError). */
  output?: TOutput;
  /**
   * Attempts before the invocation fails for good (then `onError`).
   * @default 3
   */
  attempts?: number;
  /**
   * Exponential backoff base between attempts, in ms.
   * @default 1000
   */
  backoffMs?: number;
  /** Time limit of one attempt, in ms; past it the attempt fails (and is retried) and its `signal` aborts. */
  timeoutMs?: number;
}

/** Persisted state of an agent child: XState's snapshot plus the invocation. */
export type AgentSnapshot<TOutput> = Snapshot<TOutput> & {
  /** Agent name. */
  agent: string;
  /** Input sent to the agent. */
  input: unknown;
  /** Deterministic job id ('' when the input was rejected). */
  jobId: string;
};

type AgentEvent = { type: string; jobId?: string; output?: unknown; error?: unknown };


/**
 * Actor logic for agent work: `invoke` or `spawn` it like `fromPromise`, and
 * the runtime runs it as a BullMQ job on any worker that registered the agent
 * `name`. The job is enqueued after the commit that started the child, with
 * a deterministic id (task, commit seq, child path), so it runs once per
 * invocation even across crashes and restores. Its result (or final error)
 * comes back through the task's mailbox and completes the child: `onDone` and
 * `onError` work as in plain XState. Leaving the invoking state cancels the job
 * and aborts the agent's `signal`.
 *
 * @example
 * const research = fromAgent('research', {
 *   input: z.object({ topic: z.string() }),
 *   output: z.object({ findings: z.array(z.string()) }),
 * });
 * const machine = setup({ actors: { research } }).createMachine({
 *   invoke: { src: 'research', input: { topic: 'batteries' }, onDone: 'report', onError: 'recover' },
 * });
 */
export function fromAgent<TInputSchema extends z.ZodType | undefined = undefined, TOutputSchema extends z.ZodType | undefined = undefined>(
  name: string,
  schemas: AgentSchemas<TInputSchema, TOutputSchema> = {},
): ActorLogic<
  AgentSnapshot<TOutputSchema extends z.ZodType ? z.output<TOutputSchema> : unknown>,
  EventObject,
  TInputSchema extends z.ZodType ? z.input<TInputSchema> : NonReducibleUnknown
> {
  type Out = TOutputSchema extends z.ZodType ? z.output<TOutputSchema> : unknown;
  // Internally one flat record; the public type is XState's status-discriminated union.
  type Snap = { status: 'active' | 'done' | 'error' | 'stopped'; output: Out | undefined; error: unknown; agent: string; input: unknown; jobId: string };
  const logic = {
    config: { agent: name },
    getInitialSnapshot: (scope: { self: AnyActorRef; system: object }, input: unknown): Snap => {
      const base: Snap = { status: 'active', output: undefined, error: undefined, agent: name, input, jobId: '' };
      if (schemas.input) {
        const r = schemas.input.safeParse(input);
        if (!r.success) return { ...base, status: 'error', error: { name: 'InvalidAgentInput', message: `agent '${name}' input: ${issues(r.error)}` } };
        base.input = r.data;
      }
      const bridge = bridgeOf(scope.system);
      if (!bridge) {
        return { ...base, status: 'error', error: { name: 'NoRuntime', message: `agent '${name}' needs a Baton runtime to run` } };
      }
      base.jobId = safe(`${bridge.taskId}.${bridge.nextSeq()}.${actorPath(scope.self).join('.')}`);
      return base;
    },
    start: (snap: Snap, scope: { self: AnyActorRef; system: object }) => {
      if (snap.status !== 'active' || !snap.jobId) return;
      // New invocation or restore: dispatch is idempotent by job id, so a restored child re-dispatches safely.
      bridgeOf(scope.system)?.dispatch({
        jobId: snap.jobId,
        agent: name,
        input: snap.input,
        childPath: actorPath(scope.self),
        attempts: schemas.attempts ?? 3,
        backoffMs: schemas.backoffMs ?? 1000,
        timeoutMs: schemas.timeoutMs,
      });
    },
    transition: (snap: Snap, event: AgentEvent, scope: { self: AnyActorRef; system: object }): Snap => {
      if (snap.status !== 'active') return snap;
      switch (event.type) {
        case AGENT_RESULT: {
          if (event.jobId !== snap.jobId) return snap;
          if (schemas.output) {
            const r = schemas.output.safeParse(event.output);
            if (!r.success) {
              return { ...snap, status: 'error', error: { name: 'InvalidAgentOutput', message: `agent '${name}' output: ${issues(r.error)}` } };
            }
            return { ...snap, status: 'done', output: r.data as Out };
          }
          return { ...snap, status: 'done', output: event.output as Out };
        }
        case AGENT_ERROR:
          if (event.jobId !== snap.jobId) return snap;
          return { ...snap, status: 'error', error: event.error };
        case 'xstate.stop': {
          const bridge = bridgeOf(scope.system);
          if (bridge && !bridge.stopping && snap.jobId) bridge.cancel(snap.jobId, name);
          return { ...snap, status: 'stopped' };
        }
        default:
          return snap;
      }
    },
    getPersistedSnapshot: (snap: Snap) => snap,
    restoreSnapshot: (snap: unknown) => snap as Snap,
  };
  return logic as never;
}
