import { assign, setup } from 'xstate';
import { actorNow } from './clock.js';
import { answers, awaitingOf, type Awaiting, type DecisionEvent, type DecisionRecord } from './types.js';

/** What happens when nobody answers in time. */
export type TimeoutPolicy =
  /** Take this option as the answer (recorded with source 'default'). */
  | { default: string }
  /** Mark the decision escalated and wait `deadlineMs` more, then take `default` (or keep waiting when absent). */
  | { escalate: { deadlineMs: number; default?: string } };

/** Options of {@link decisionPoint}. */
export interface DecisionPointOptions {
  /** Machine id. @default 'decisionPoint' */
  id?: string;
  /** Name of the decision (the answer's `decision` field). */
  decision: string;
  /** The question. */
  question: string;
  /** Allowed answers. */
  options: string[];
  /** Time to answer, in ms; none waits forever (passivated, costing no memory). */
  deadlineMs?: number;
  /** What the deadline does. @default { default: options[0] } */
  onTimeout?: TimeoutPolicy;
}

/** Output of a decision point. */
export type DecisionPointOutput = DecisionRecord & { escalated: boolean };

interface Ctx {
  awaiting: Awaiting | undefined;
  escalated: boolean;
  result?: DecisionRecord;
  detail?: unknown;
}

/**
 * A human decision point with a deadline, on durable timers: the task waits
 * (surfacing `awaiting` in its view) for a `decision` event; past the
 * deadline it takes the default or escalates. Answers naming another decision
 * or an option not offered are ignored. Times (`since`, `deadline`, `at`)
 * are read from the actor's clock.
 *
 * @example
 * const approve = decisionPoint({ decision: 'publish', question: 'Publish the report?', options: ['yes', 'no'],
 *   deadlineMs: 3_600_000, onTimeout: { escalate: { deadlineMs: 3_600_000, default: 'no' } } });
 * // invoke it: { invoke: { src: 'approve', onDone: { actions: ({ event }) => event.output.choice } } }
 */
export function decisionPoint(opts: DecisionPointOptions) {
  const policy: TimeoutPolicy = opts.onTimeout ?? { default: opts.options[0] ?? '' };
  const escalation = 'escalate' in policy ? policy.escalate : undefined;
  const fallback = 'default' in policy ? policy.default : escalation?.default;
  return setup({
    types: {
      context: {} as Ctx,
      input: {} as { detail?: unknown } | undefined,
      events: {} as DecisionEvent,
      output: {} as DecisionPointOutput,
    },
    delays: {
      deadline: opts.deadlineMs ?? 0,
      escalation: escalation?.deadlineMs ?? 0,
    },
    guards: {
      answers: ({ context, event }) => answers(context.awaiting, event),
    },
    actions: {
      recordAnswer: assign({
        result: ({ event, self }) => ({
          decision: opts.decision,
          choice: event.choice,
          by: event.by ?? 'unknown',
          at: actorNow(self),
          ...(event.note !== undefined ? { note: event.note } : {}),
          source: 'answer' as const,
        }),
        awaiting: undefined,
      }),
      recordDefault: assign({
        result: ({ self }) => ({ decision: opts.decision, choice: String(fallback), by: 'deadline', at: actorNow(self), source: 'default' as const }),
        awaiting: undefined,
      }),
    },
  }).createMachine({
    id: opts.id ?? 'decisionPoint',
    context: ({ input }) => ({ awaiting: undefined, escalated: false, detail: input?.detail }),
    initial: 'waiting',
    states: {
      waiting: {
        entry: assign({
          awaiting: ({ context, self }) =>
            awaitingOf({ decision: opts.decision, question: opts.question, options: opts.options, deadlineMs: opts.deadlineMs, detail: context.detail }, actorNow(self)),
        }),
        on: { decision: { guard: 'answers', target: 'decided', actions: 'recordAnswer' } },
        ...(opts.deadlineMs !== undefined
          ? {
              after: {
                deadline: escalation
                  ? { target: 'escalated' }
                  : { target: 'decided', actions: 'recordDefault' },
              },
            }
          : {}),
      },
      escalated: {
        entry: assign({
          escalated: true,
          awaiting: ({ context, self }) =>
            context.awaiting && {
              ...context.awaiting,
              escalated: true,
              deadline: escalation?.default !== undefined ? actorNow(self) + escalation.deadlineMs : undefined,
            },
        }),
        on: { decision: { guard: 'answers', target: 'decided', actions: 'recordAnswer' } },
        ...(escalation?.default !== undefined ? { after: { escalation: { target: 'decided', actions: 'recordDefault' } } } : {}),
      },
      decided: { type: 'final' },
    },
    output: ({ context }) => ({ ...(context.result as DecisionRecord), escalated: context.escalated }),
  });
}
