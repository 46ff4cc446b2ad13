import { checkpointStates, type PatternStateConfig, type PendingUpdate, type ProceedTransition, type UpdateAssessment } from './checkpoint.js';
import type { DurableStepsOptions, StepDefinition, StepsContext } from './steps.js';

/**
 * Context updates at the checkpoints of a step sequence (`checkpoint.ts` has
 * the rule and the states): what an absorb does to the plan (`drop` removes
 * steps still to do, `redo` re-opens done ones) and how the sequence goes
 * back to a re-opened step.
 */
export function stepCheckpoints(id: string, steps: StepDefinition[], updates: DurableStepsOptions['updates']) {
  /** A step is settled once it has a result or a skip record; `redo` re-opens settled steps. */
  const settled = (ctx: StepsContext, name: string) => name in ctx.results || ctx.skipped.some((k) => k.step === name);
  const firstOpen = (ctx: StepsContext) => steps.findIndex((s) => ctx.plan.includes(s.name) && !settled(ctx, s.name));
  /** Back to the first re-opened step before `i`, if a redo re-opened one. */
  const rewind = (i: number): ProceedTransition<StepsContext>[] =>
    Array.from({ length: i }, (_, j) => ({ guard: ({ context }) => firstOpen(context) === j, target: `#${id}.step_${j}` }));
  const assessAt = (nextStep: string | undefined) => (update: Record<string, unknown>, context: StepsContext): UpdateAssessment =>
    updates ? updates.assess(update, context, nextStep) : { action: 'ignore', reason: `the sequence '${id}' takes no context updates (no updates.assess)` };
  const absorb = (ctx: StepsContext, a: Extract<UpdateAssessment, { action: 'absorb' }>, u: PendingUpdate): Partial<StepsContext> => {
    const redo = (a.redo ?? []).filter((name) => steps.some((s) => s.name === name));
    const keep = <T>(o: Record<string, T>) => Object.fromEntries(Object.entries(o).filter(([k]) => !redo.includes(k)));
    return {
      input: { ...ctx.input, ...(a.patch ?? u.update) },
      plan: steps.map((s) => s.name).filter((name) => redo.includes(name) || (ctx.plan.includes(name) && !a.drop?.includes(name))),
      ...(redo.length
        ? { results: keep(ctx.results), recovered: keep(ctx.recovered), skipped: ctx.skipped.filter((k) => !redo.includes(k.step)) }
        : {}),
    };
  };
  const resolve = updates?.resolve && ((choice: string, update: Record<string, unknown>, ctx: StepsContext) => updates.resolve!(choice, update, ctx));
  /** The checkpoint `name`, before `nextStep` (undefined: after the last step); `proceed` once nothing is pending. */
  const checkpoint = (name: string, nextStep: string | undefined, proceed: ProceedTransition<StepsContext>[]): Record<string, PatternStateConfig<StepsContext>> =>
    checkpointStates<StepsContext>({ name, assess: assessAt(nextStep), ...(resolve ? { resolve } : {}), absorb, proceed });
  return { settled, rewind, checkpoint };
}
