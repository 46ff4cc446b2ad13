import { assign, type AnyActorRef, type EventObject, type MetaObject, type StateNodeConfig, type TransitionConfig, type TransitionsConfig } from 'xstate';
import { actorNow } from './clock.js';
import { answers, awaitingOf, type Awaiting, type ContextUpdateEvent, type DecisionEvent, type DecisionRecord } from './types.js';

/**
 * Checkpoints: where a running task takes the `context.update` events that
 * landed since the last one. The rule every pattern here follows: an update
 * is accepted whenever it lands (queued in `pending`, even while work is in
 * flight or the task is passivated) and the next checkpoint assesses it; each
 * assessment ends in an outcome recorded in `updates` — absorbed, ignored
 * (always with a reason) or, when it needs a person, surfaced as a decision
 * whose answer then absorbs or ignores it. Nothing stays in `pending` past a
 * checkpoint, and a task that ends before its next checkpoint records what was
 * still pending as ignored, saying so.
 *
 * `durableSteps` puts a checkpoint before every step and one after the last;
 * a machine that composes patterns puts one wherever its own phases meet
 * ({@link checkpointStates}), as `examples/research/machine.ts` does.
 */

/** A context update received and not yet assessed. */
export interface PendingUpdate {
  update: Record<string, unknown>;
  by: string;
  /** When it landed (ms since the epoch). */
  at: number;
}

/** How a context update is taken at a checkpoint. */
export type UpdateAssessment =
  | { action: 'ignore'; reason?: string }
  | {
      action: 'absorb';
      /** Merged into the input. @default the update itself */
      patch?: Record<string, unknown>;
      /** Work still to do that leaves the plan (recorded as skipped). */
      drop?: string[];
      /** Work already done to do again under the new input (step names in `durableSteps`). */
      redo?: string[];
      reason?: string;
    }
  | { action: 'decide'; question: string; options: string[]; deadlineMs?: number; defaultOption?: string };

/** An assessed update: what came of it and where. */
export interface UpdateRecord extends PendingUpdate {
  outcome: 'absorb' | 'ignore';
  /** Why (always set when ignored). */
  reason?: string;
  /** The checkpoint that assessed it (e.g. 'before sub3', 'after the last step'). */
  checkpoint: string;
  /** When it was surfaced as a decision: the answer that settled it. */
  decision?: { choice: string; by: string; source: 'answer' | 'default' };
  /** What an absorb did beyond the patch. */
  drop?: string[];
  redo?: string[];
}

/** The context fields a checkpoint reads and writes. */
export interface CheckpointContext {
  pending: PendingUpdate[];
  updates: UpdateRecord[];
  decisions: DecisionRecord[];
  /** The open decision, surfaced in the task view. */
  awaiting?: Awaiting;
  /** The update being assessed (while a decision on it is open). */
  assessment?: UpdateAssessment & { update: PendingUpdate; checkpoint: string };
}

type Absorb = Extract<UpdateAssessment, { action: 'absorb' }>;
type Decide = Extract<UpdateAssessment, { action: 'decide' }>;

/** The events a checkpoint takes: the update and the answer to a surfaced one. */
export type CheckpointEvent = ContextUpdateEvent | DecisionEvent;

/** Delay of the decision deadline: register it in `setup({ delays })` of a machine that uses {@link checkpointStates}. */
export const checkpointDelays = {
  updateDeadline: ({ context }: { context: CheckpointContext }) => (context.assessment as Decide | undefined)?.deadlineMs ?? 0,
};
/** The delays a checkpoint arms. */
export type CheckpointDelay = keyof typeof checkpointDelays;

/**
 * A state node built by a pattern for the machine that hosts it: inline
 * guards and actions only (no named ones, no invoked actors), so it fits any
 * machine with context `C`, events `E` (the checkpoint's and any others) and
 * the {@link checkpointDelays}.
 */
export type PatternStateConfig<C extends CheckpointContext, E extends EventObject = CheckpointEvent> = StateNodeConfig<
  C, E, never, never, never, CheckpointDelay, string, unknown, EventObject, MetaObject
>;

/** An eventless transition a checkpoint takes once nothing is pending. */
export type ProceedTransition<C extends CheckpointContext, E extends EventObject = CheckpointEvent> = TransitionConfig<
  C, E, E, never, never, never, CheckpointDelay, EventObject, MetaObject
> & { target: string };

/** Options of {@link checkpointStates}. */
export interface CheckpointOptions<C extends CheckpointContext, E extends EventObject = CheckpointEvent> {
  /** Recorded with each outcome. */
  name: string;
  /** Assesses one update against the context so far. */
  assess: (update: Record<string, unknown>, context: C) => UpdateAssessment;
  /** Turns a person's answer (or the deadline's default) into ignore or absorb. @default 'absorb' absorbs the update as is, anything else ignores it */
  resolve?: (choice: string, update: Record<string, unknown>, context: C) => UpdateAssessment;
  /** What an absorb changes in the context (the record is written for you). */
  absorb: (context: C, assessment: Absorb, update: PendingUpdate) => Partial<C>;
  /**
   * Where to go once nothing is pending, first match wins (guards see the
   * context after the absorbs). Targets are absolute (`#machine.state`) or
   * siblings of the checkpoint's own states.
   */
  proceed: ProceedTransition<C, E>[];
}

/** An action that fits the `actions` of any machine whose context extends `C`, whatever its events and actors. */
export type PatternAction<C extends CheckpointContext> = (args: { context: C; event: EventObject; self: AnyActorRef; system: AnyActorRef['system'] }, params: undefined) => void;

/** The action that queues a `context.update` event in `pending`: put it in the machine's (or a state's) `on`. */
export const queueUpdate: PatternAction<CheckpointContext> = assign<CheckpointContext, EventObject, undefined, EventObject, never>(({ context, event, self }) => {
  const e = event as Partial<ContextUpdateEvent>;
  return { pending: [...context.pending, { update: e.update ?? {}, by: e.by ?? 'unknown', at: actorNow(self) }] };
});

/** The record of one outcome. */
function record(a: Absorb | Extract<UpdateAssessment, { action: 'ignore' }>, u: PendingUpdate, checkpoint: string, decision?: UpdateRecord['decision']): UpdateRecord {
  return {
    ...u,
    outcome: a.action,
    checkpoint,
    ...(a.action === 'ignore' ? { reason: a.reason || 'ignored (the assessor gave no reason)' } : a.reason ? { reason: a.reason } : {}),
    ...(a.action === 'absorb' && a.drop?.length ? { drop: a.drop } : {}),
    ...(a.action === 'absorb' && a.redo?.length ? { redo: a.redo } : {}),
    ...(decision ? { decision } : {}),
  };
}

/** Applies an ignore or absorb: the context change and its record. */
function settle<C extends CheckpointContext, E extends EventObject>(o: CheckpointOptions<C, E>, context: C, a: UpdateAssessment, u: PendingUpdate, checkpoint: string, decision?: UpdateRecord['decision']): Partial<C> {
  const final = a.action === 'decide' ? ({ action: 'ignore', reason: 'the answer asked for another decision (not supported)' } as const) : a;
  const changes: Partial<CheckpointContext> = final.action === 'absorb' ? o.absorb(context, final, u) : {};
  return { ...changes, updates: [...(changes.updates ?? context.updates), record(final, u, checkpoint, decision)] } as Partial<C>;
}

/** Records what is still pending as ignored, with `reason` (for a machine that ends before its next checkpoint). */
export function flushPending<C extends CheckpointContext>(context: C, reason: string, checkpoint: string): Partial<CheckpointContext> {
  if (!context.pending.length) return {};
  return { pending: [], updates: [...context.updates, ...context.pending.map((u) => record({ action: 'ignore', reason }, u, checkpoint))] };
}

/**
 * The states of one checkpoint, to spread into a compound state's `states`
 * (with `initial: 'checkpoint'`): `checkpoint` takes the pending updates one
 * by one to `assessing`; an ignore or absorb is recorded and the next one is
 * taken; a decision goes to `awaiting` (surfacing `context.awaiting` with
 * `decision: 'context.update'`) until a `decision` event answers it, or to
 * `awaitingUntil` when it has a deadline, past which the default applies.
 * With nothing pending, `proceed` decides where the machine goes. The
 * machine registers {@link checkpointDelays}. Times (`at`, `since`,
 * `deadline`) are read from the actor's clock.
 *
 * `C` is the host machine's context, `E` its events: the
 * {@link CheckpointEvent}s and any others it has (the states then fit its
 * `states` with no cast; see `test/machines/compose.test.ts`).
 */
export function checkpointStates<C extends CheckpointContext, E extends EventObject = CheckpointEvent>(
  o: CheckpointOptions<C, E>,
): Record<'checkpoint' | 'assessing' | 'awaiting' | 'awaitingUntil', PatternStateConfig<C, E>> {
  type Assessment = NonNullable<CheckpointContext['assessment']>;
  /** An assign on the host's context (a pattern only knows it extends CheckpointContext). */
  const update = <X extends EventObject = E>(f: (args: { context: C; event: X; self: AnyActorRef }) => Partial<CheckpointContext>) =>
    assign<C, X, undefined, E, never>((args) => f(args) as Partial<C>);
  const resolveAnswer = (context: C, event: Pick<DecisionEvent, 'choice' | 'by' | 'note'>, source: 'answer' | 'default', at: number): Partial<CheckpointContext> => {
    const a = context.assessment!;
    const resolved = o.resolve
      ? o.resolve(event.choice, a.update.update, context)
      : event.choice === 'absorb'
        ? ({ action: 'absorb' } as const)
        : ({ action: 'ignore', reason: `answered '${event.choice}'` } as const);
    const by = event.by ?? 'unknown';
    const rec: DecisionRecord = { decision: 'context.update', choice: event.choice, by, at, source, ...(event.note ? { note: event.note } : {}) };
    const settled: Partial<CheckpointContext> = settle(o, context, resolved, a.update, a.checkpoint, { choice: event.choice, by, source });
    return { ...settled, decisions: [...(settled.decisions ?? context.decisions), rec], awaiting: undefined, assessment: undefined };
  };
  const entry = update(({ context, self }) => {
    const a = context.assessment as Decide & Assessment;
    return { awaiting: awaitingOf({ decision: 'context.update', question: a.question, options: a.options, deadlineMs: a.deadlineMs, detail: { ...a.update, checkpoint: a.checkpoint } }, actorNow(self)) };
  });
  // The host's events include `decision` (TypeScript cannot see it in a mapped type over a generic E).
  const on = {
    decision: {
      guard: ({ context, event }: { context: C; event: DecisionEvent }) => answers(context.awaiting, event),
      target: 'checkpoint',
      actions: update<DecisionEvent>(({ context, event, self }) => resolveAnswer(context, event, 'answer', actorNow(self))),
    },
  } as TransitionsConfig<C, E, never, never, never, CheckpointDelay, EventObject, MetaObject>;
  const deciding = ({ context }: { context: C }) => context.assessment?.action === 'decide';
  return {
    checkpoint: {
      always: [{ guard: ({ context }) => context.pending.length > 0, target: 'assessing' }, ...o.proceed],
    },
    assessing: {
      entry: update(({ context }) => {
        const u = context.pending[0]!;
        return { pending: context.pending.slice(1), assessment: { ...o.assess(u.update, context), update: u, checkpoint: o.name } };
      }),
      always: [
        { guard: (args) => deciding(args) && (args.context.assessment as Decide).deadlineMs !== undefined, target: 'awaitingUntil' },
        { guard: deciding, target: 'awaiting' },
        {
          target: 'checkpoint',
          actions: update(({ context }) => {
            const a = context.assessment!;
            return { ...settle(o, context, a, a.update, a.checkpoint), assessment: undefined };
          }),
        },
      ],
    },
    // No deadline: waits for the answer as long as it takes (passivated meanwhile), with no timer.
    awaiting: { entry, on },
    awaitingUntil: {
      entry,
      on,
      after: {
        updateDeadline: {
          target: 'checkpoint',
          actions: update(({ context, self }) => {
            const a = context.assessment as Decide & Assessment;
            return resolveAnswer(context, { choice: a.defaultOption ?? a.options[0] ?? '', by: 'deadline' }, 'default', actorNow(self));
          }),
        },
      },
    },
  };
}
