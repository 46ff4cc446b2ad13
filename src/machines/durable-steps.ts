import { assign, type AnyActorLogic } from 'xstate';
import { flushPending, queueUpdate } from './checkpoint.js';
import { compensationActors, sagaState, toUndo } from './saga.js';
import { stepCheckpoints } from './step-updates.js';
import { errorOf, stepsSetup, type DurableStepsOptions, type FailureDecision, type StepDefinition, type StepsContext, type StepsState, type StepStateConfig } from './steps.js';

export type { UpdateAssessment } from './checkpoint.js';
export type { DurableStepsOptions, FailureDecision, StepDefinition, StepsOutput, StepsState } from './steps.js';

/**
 * The failure policy when `onFailure` is not given: the saga when it has
 * something to undo (a completed step with a compensation), else fail. With
 * no compensation to run there is no saga to claim.
 */
export function defaultFailurePolicy(steps: StepDefinition[], state: StepsState): FailureDecision {
  return toUndo(steps, state).length
    ? { action: 'compensate', reason: 'default policy: completed steps to undo' }
    : { action: 'fail', reason: 'default policy: nothing to undo' };
}

/**
 * A sequence of durable steps with recovery: each step's result is committed
 * before the next starts (so a crash resumes at the step it was on), a step
 * that fails for good leads to what `onFailure` decides from the state so
 * far — retry, skip with a recorded reason, a recovery path, or the saga:
 * compensations of the completed steps in reverse order, ending in `failed`.
 * `context.update` events are accepted at any time and assessed at the next
 * checkpoint — before every step, and after the last one — where each is
 * ignored with a reason, absorbed (changing the input and the plan: `drop`
 * removes steps still to do, `redo` re-opens done ones), or surfaced as a
 * decision to the caller; every outcome is recorded in `updates`.
 *
 * @example
 * const pipeline = durableSteps({
 *   id: 'pipeline',
 *   steps: [
 *     { name: 'reserve', run: fromAgent('reserve'), compensate: fromAgent('release') },
 *     { name: 'charge', run: fromAgent('charge', { attempts: 5 }) },
 *   ],
 *   onFailure: ({ step }) => (step === 'charge' ? { action: 'compensate' } : { action: 'fail' }),
 * });
 */
export function durableSteps(opts: DurableStepsOptions) {
  const { id, steps } = opts;
  const n = steps.length;
  const recovery = opts.recovery ?? {};
  const actors: Record<string, AnyActorLogic> = compensationActors(steps);
  steps.forEach((s, i) => (actors[`step_${i}`] = s.run));
  for (const [name, r] of Object.entries(recovery)) actors[`recovery_${name}`] = r.run;

  const saga = sagaState(id, steps);
  const { settled, rewind, checkpoint } = stepCheckpoints(id, steps, opts.updates);
  const next = (i: number) => (i + 1 < n ? `#${id}.step_${i + 1}` : `#${id}.end`);

  /** What the failed step `i` leads to: `onFailure`, or the default policy. */
  const decide = (i: number, context: StepsContext): FailureDecision => {
    const error = context.failures[context.failures.length - 1]?.error ?? {};
    return opts.onFailure ? opts.onFailure({ step: steps[i]!.name, error, state: context }) : defaultFailurePolicy(steps, context);
  };

  /** The recovery paths of step `i`: on success, its result; on failure, the default policy (`onFailure` decides on steps, not on recovery paths). */
  const recoverStates = (step: StepDefinition, i: number): Record<string, StepStateConfig> => {
    const out: Record<string, StepStateConfig> = {};
    for (const [name, r] of Object.entries(recovery)) {
      const failure = (context: StepsContext, error: unknown, decision: 'compensate' | 'fail') => ({
        failures: [...context.failures, { step: `${step.name}/recovery:${name}`, error: errorOf(error), decision }],
      });
      out[`recover_${name}`] = {
        invoke: {
          src: `recovery_${name}`,
          input: ({ context }) => (r.input ? r.input(context, step.name) : { input: context.input, results: context.results, failed: step.name }),
          onDone: {
            target: next(i),
            actions: assign(({ context, event }) => ({
              results: { ...context.results, [step.name]: event.output },
              recovered: { ...context.recovered, [step.name]: name },
            })),
          },
          // No saga: failing. A saga: compensating when it has something to undo.
          onError: saga
            ? [
                {
                  guard: ({ context }) => defaultFailurePolicy(steps, context).action === 'compensate',
                  target: `#${id}.compensating`,
                  actions: assign(({ context, event }) => failure(context, event.error, 'compensate')),
                },
                { target: `#${id}.failed`, actions: assign(({ context, event }) => failure(context, event.error, 'fail')) },
              ]
            : { target: `#${id}.failed`, actions: assign(({ context, event }) => failure(context, event.error, 'fail')) },
        },
      };
    }
    return out;
  };

  const stepState = (step: StepDefinition, i: number): StepStateConfig => ({
    initial: 'checkpoint',
    states: {
      // The checkpoint before the step: pending updates first, then where to go.
      ...checkpoint(`before ${step.name}`, step.name, [
        ...rewind(i),
        // Settled already: passing through after a redo re-opened an earlier step.
        { guard: ({ context }) => settled(context, step.name), target: next(i) },
        {
          guard: ({ context }) => !context.plan.includes(step.name),
          target: next(i),
          actions: assign(({ context }) => ({ skipped: [...context.skipped, { step: step.name, reason: 'dropped from the plan by a context update' }] })),
        },
        { target: 'running' },
      ]),
      running: {
        invoke: {
          src: `step_${i}`,
          input: ({ context }) => (step.input ? step.input(context) : { input: context.input, results: context.results }),
          onDone: { target: next(i), actions: assign(({ context, event }) => ({ results: { ...context.results, [step.name]: event.output } })) },
          onError: {
            target: 'deciding',
            actions: assign(({ context, event }) => ({ failures: [...context.failures, { step: step.name, error: errorOf(event.error), decision: 'pending' }] })),
          },
        },
      },
      deciding: {
        entry: assign(({ context }) => {
          const decision = decide(i, context);
          const failures = context.failures.slice();
          const last = failures[failures.length - 1];
          if (last) failures[failures.length - 1] = { ...last, decision: decision.action === 'recover' ? `recover:${decision.with}` : decision.action };
          return { decision, failures };
        }),
        always: [
          {
            guard: ({ context }) => context.decision?.action === 'retry',
            target: 'running',
            actions: assign(({ context }) => ({ retries: { ...context.retries, [step.name]: (context.retries[step.name] ?? 0) + 1 } })),
          },
          {
            guard: ({ context }) => context.decision?.action === 'skip',
            target: next(i),
            actions: assign(({ context: { decision: d, skipped } }) => (d?.action === 'skip' ? { skipped: [...skipped, { step: step.name, reason: d.reason }] } : {})),
          },
          ...Object.keys(recovery).map((name) => ({
            guard: ({ context: { decision: d } }: { context: StepsContext }) => d?.action === 'recover' && d.with === name,
            target: `recover_${name}`,
          })),
          // With nothing to undo, compensating is failing.
          ...(saga ? [{ guard: ({ context }: { context: StepsContext }) => context.decision?.action === 'compensate', target: `#${id}.compensating` }] : []),
          { target: `#${id}.failed` },
        ],
      },
      ...recoverStates(step, i),
    },
  });

  return stepsSetup(actors).createMachine({
    id,
    context: ({ input }) => ({
      input: input ?? {},
      results: {},
      skipped: [],
      failures: [],
      compensated: [],
      plan: steps.map((s) => s.name),
      retries: {},
      pending: [],
      updates: [],
      decisions: [],
      recovered: {},
    }),
    // Accepted in every state, assessed at the next checkpoint.
    on: { 'context.update': { actions: queueUpdate } },
    initial: n > 0 ? 'step_0' : 'end',
    states: {
      ...Object.fromEntries(steps.map((step, i) => [`step_${i}`, stepState(step, i)])),
      // The checkpoint after the last step: what landed while it ran is assessed before the sequence ends.
      end: { initial: 'checkpoint', states: checkpoint('after the last step', undefined, [...rewind(n), { target: `#${id}.done` }]) },
      ...(saga ? { compensating: saga } : {}),
      done: { type: 'final', entry: assign({ outcome: 'done' as const }) },
      // A failed sequence has no checkpoint left: what is still pending is recorded as ignored, saying why.
      failed: {
        type: 'final',
        entry: assign(({ context }) => ({ outcome: 'failed' as const, ...flushPending(context, 'the sequence failed before its next checkpoint', 'failed') })),
      },
    },
    output: ({ context }) => ({
      outcome: context.outcome ?? 'done',
      results: context.results,
      skipped: context.skipped,
      failures: context.failures,
      compensated: context.compensated,
      recovered: context.recovered,
      updates: context.updates,
      decisions: context.decisions,
      input: context.input,
    }),
  });
}
