import { assign, type AnyActorLogic } from 'xstate';
import { errorOf, type StepDefinition, type StepsState, type StepStateConfig } from './steps.js';

/**
 * The saga of a step sequence: when the sequence is compensated, the
 * compensations of its completed steps run, newest first, each with
 * `{ result, input }`; a compensation that fails is recorded in `failures`
 * (decision `continue`) and the next one still runs; the sequence then ends in
 * `failed`.
 */

/** The steps the saga would undo now: completed (they have a result), with a compensation, not undone yet; newest first. */
export function toUndo(steps: StepDefinition[], state: Pick<StepsState, 'results' | 'compensated'>): string[] {
  return steps
    .filter((s) => s.compensate && s.name in state.results && !state.compensated.includes(s.name))
    .map((s) => s.name)
    .reverse();
}

/** The compensations, by the name the saga invokes them with (`compensate_<i>`). */
export function compensationActors(steps: StepDefinition[]): Record<string, AnyActorLogic> {
  return Object.fromEntries(steps.flatMap((s, i) => (s.compensate ? [[`compensate_${i}`, s.compensate] as const] : [])));
}

/**
 * The `compensating` state of the machine `id`: one state per step with a
 * compensation, newest first, each passed through when its step has nothing
 * to undo; it ends at `#<id>.failed`. Undefined when no step has a
 * compensation (then there is no saga: compensating is failing).
 */
export function sagaState(id: string, steps: StepDefinition[]): StepStateConfig | undefined {
  const order = steps.map((s, i) => (s.compensate ? i : -1)).filter((i) => i >= 0).reverse();
  if (!order.length) return undefined;
  const states: Record<string, StepStateConfig> = {};
  order.forEach((i, k) => {
    const after = k + 1 < order.length ? `comp_${order[k + 1]}` : `#${id}.failed`;
    const name = steps[i]!.name;
    states[`comp_${i}`] = {
      always: { guard: ({ context }) => !toUndo(steps, context).includes(name), target: after },
      invoke: {
        src: `compensate_${i}`,
        input: ({ context }) => ({ result: context.results[name], input: context.input }),
        onDone: { target: after, actions: assign(({ context }) => ({ compensated: [...context.compensated, name] })) },
        onError: {
          target: after,
          actions: assign(({ context, event }) => ({
            failures: [...context.failures, { step: `${name}/compensation`, error: errorOf(event.error), decision: 'continue' }],
          })),
        },
      },
    };
  });
  return { initial: `comp_${order[0]}`, states };
}
