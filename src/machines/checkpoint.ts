import { assign } from 'xstate';
import { answers, type Awaiting, type ContextUpdateEvent, type DecisionEvent, type DecisionRecord } from './types.js';

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
type Args<C> = { context: C; event: { type: string; [k: string]: unknown } };
/** An eventless transition a checkpoint takes once nothing is pending. */
export type ProceedTransition<C> = { guard?: (args: Args<C>) => boolean; target: string; actions?: unknown };

/** Options of {@link checkpointStates}. */
export interface CheckpointOptions<C extends CheckpointContext> {
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
  proceed: ProceedTransition<C>[];
}

/** The action that queues a `context.update` event in `pending`: put it in the machine's (or a state's) `on`. */
export const queueUpdate = assign(({ context, event }: { context: CheckpointContext; event: { type: string; [k: string]: unknown } }) => {
  const e = event as unknown as ContextUpdateEvent;
  return { pending: [...context.pending, { update: e.update ?? {}, by: e.by ?? 'unknown', at: Date.now() }] };
});

/** Delay of the decision deadline: register it in `setup({ delays })` of a machine that uses {@link checkpointStates}. */
export const checkpointDelays = {
  updateDeadline: ({ context }: { context: CheckpointContext }) => (context.assessment as Decide | undefined)?.deadlineMs ?? 0,
};

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
function settle<C extends CheckpointContext>(o: CheckpointOptions<C>, context: C, a: UpdateAssessment, u: PendingUpdate, checkpoint: string, decision?: UpdateRecord['decision']): Partial<C> {
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
 * machine registers {@link checkpointDelays}.
 */
export function checkpointStates<C extends CheckpointContext>(o: CheckpointOptions<C>): Record<'checkpoint' | 'assessing' | 'awaiting' | 'awaitingUntil', unknown> {
  type A = Args<C>;
  const resolveAnswer = (context: C, event: DecisionEvent, source: 'answer' | 'default'): Partial<C> => {
    const a = context.assessment!;
    const resolved = o.resolve
      ? o.resolve(event.choice, a.update.update, context)
      : event.choice === 'absorb'
        ? ({ action: 'absorb' } as const)
        : ({ action: 'ignore', reason: `answered '${event.choice}'` } as const);
    const by = event.by ?? 'unknown';
    const rec: DecisionRecord = { decision: 'context.update', choice: event.choice, by, at: Date.now(), source, ...(event.note ? { note: event.note } : {}) };
    const settled = settle(o, context, resolved, a.update, a.checkpoint, { choice: event.choice, by, source });
    return { ...settled, decisions: [...(settled.decisions ?? context.decisions), rec], awaiting: undefined, assessment: undefined } as Partial<C>;
  };
  const entry = assign(({ context }: A) => {
    const a = context.assessment as Decide & { update: PendingUpdate; checkpoint: string };
    return {
      awaiting: {
        decision: 'context.update',
        question: a.question,
        options: a.options,
        since: Date.now(),
        ...(a.deadlineMs !== undefined ? { deadline: Date.now() + a.deadlineMs } : {}),
        detail: { ...a.update, checkpoint: a.checkpoint },
      },
    } as never;
  });
  const on = {
    decision: {
      guard: ({ context, event }: A) => answers(context.awaiting, event as Partial<DecisionEvent>),
      target: 'checkpoint',
      actions: assign(({ context, event }: A) => resolveAnswer(context, event as unknown as DecisionEvent, 'answer') as never),
    },
  };
  const decision = ({ context }: A) => context.assessment?.action === 'decide';
  return {
    checkpoint: {
      always: [{ guard: ({ context }: A) => context.pending.length > 0, target: 'assessing' }, ...o.proceed],
    },
    assessing: {
      entry: assign(({ context }: A) => {
        const u = context.pending[0]!;
        return { pending: context.pending.slice(1), assessment: { ...o.assess(u.update, context), update: u, checkpoint: o.name } } as never;
      }),
      always: [
        { guard: (args: A) => decision(args) && (args.context.assessment as Decide).deadlineMs !== undefined, target: 'awaitingUntil' },
        { guard: decision, target: 'awaiting' },
        {
          target: 'checkpoint',
          actions: assign(({ context }: A) => {
            const a = context.assessment!;
            return { ...settle(o, context, a, a.update, a.checkpoint), assessment: undefined } as never;
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
          actions: assign(({ context }: A) => {
            const a = context.assessment as Decide;
            return resolveAnswer(context, { type: 'decision', decision: 'context.update', choice: a.defaultOption ?? a.options[0] ?? '', by: 'deadline' }, 'default') as never;
          }),
        },
      },
    },
  };
}
