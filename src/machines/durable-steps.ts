import { assign, setup, type AnyActorLogic } from 'xstate';
import { checkpointDelays, checkpointStates, flushPending, queueUpdate, type CheckpointContext, type PendingUpdate, type UpdateAssessment, type UpdateRecord } from './checkpoint.js';
import type { Awaiting, ContextUpdateEvent, DecisionEvent, DecisionRecord } from './types.js';

export type { UpdateAssessment } from './checkpoint.js';

/** One step: actor logic (usually `fromAgent(...)`, which carries its own retry policy). */
export interface StepDefinition {
  /** Step name: key of its result. */
  name: string;
  /** The work. Registered in `setup({ actors })` as `step_<i>`. */
  run: AnyActorLogic;
  /** Input of the work. @default ({ input, results }) */
  input?: (state: StepsState) => unknown;
  /** Undo, run with `{ result, input }` when the sequence is compensated (saga). */
  compensate?: AnyActorLogic;
}

/** The committed state of a step sequence, as decision functions see it. */
export interface StepsState {
  /** The sequence's input, with absorbed context updates merged in. */
  input: Record<string, unknown>;
  /** Results by step name. */
  results: Record<string, unknown>;
  /** Steps skipped, and why. */
  skipped: Array<{ step: string; reason: string }>;
  /** Failures seen, with what was decided. */
  failures: Array<{ step: string; error: { name?: string; message?: string }; decision: string }>;
  /** Steps compensated, in the order they were undone. */
  compensated: string[];
  /** Names of the steps planned (absorbing an update may drop some, or re-open done ones with `redo`). */
  plan: string[];
  /** Retries so far, by step. */
  retries: Record<string, number>;
  /** Context updates received and not yet assessed (empty after every checkpoint). */
  pending: PendingUpdate[];
  /** Updates assessed: the outcome, the reason, the checkpoint and the answer when one was asked for. */
  updates: UpdateRecord[];
  /** Answers to decision points. */
  decisions: DecisionRecord[];
  /** The open decision, surfaced in the task view. */
  awaiting?: Awaiting;
  /** Recovery paths taken, by step. */
  recovered: Record<string, string>;
}

/** What to do when a step fails for good (its own retries exhausted). */
export type FailureDecision =
  | { action: 'retry' }
  | { action: 'skip'; reason: string }
  | { action: 'recover'; with: string; reason?: string }
  | { action: 'compensate'; reason?: string }
  | { action: 'fail'; reason?: string };

/** Options of {@link durableSteps}. */
export interface DurableStepsOptions {
  /** Machine id. */
  id: string;
  /** The steps, in order. */
  steps: StepDefinition[];
  /**
   * Decides, at run time from the state so far, what a failed step leads to.
   * @default compensate when any completed step has a compensation, else fail
   */
  onFailure?: (failure: { step: string; error: { name?: string; message?: string }; state: StepsState }) => FailureDecision;
  /** Recovery paths by name: each runs in place of the failed step and, on success, the sequence continues. */
  recovery?: Record<string, { run: AnyActorLogic; input?: (state: StepsState, failedStep: string) => unknown }>;
  /**
   * Mid-run context updates, assessed at each checkpoint: before every step
   * (`nextStep` is its name) and after the last one (`nextStep` undefined).
   * @default every update is ignored, with the reason that this sequence takes none
   */
  updates?: {
    assess: (update: Record<string, unknown>, state: StepsState, nextStep: string | undefined) => UpdateAssessment;
    /** Applies a human answer to a surfaced update. @default 'absorb' absorbs it as is, anything else ignores it */
    resolve?: (choice: string, update: Record<string, unknown>, state: StepsState) => UpdateAssessment;
  };
}

/** Output of a step sequence. */
export interface StepsOutput {
  outcome: 'done' | 'failed';
  results: Record<string, unknown>;
  skipped: StepsState['skipped'];
  failures: StepsState['failures'];
  compensated: string[];
  recovered: Record<string, string>;
  updates: StepsState['updates'];
  decisions: DecisionRecord[];
  input: Record<string, unknown>;
}

type Ctx = StepsState & CheckpointContext & { decision?: FailureDecision; outcome?: 'done' | 'failed' };
type Ev = { type: string; [k: string]: unknown };
type Args = { context: Ctx; event: Ev };

function errorOf(e: unknown): { name?: string; message?: string } {
  if (e && typeof e === 'object') {
    const o = e as { name?: unknown; message?: unknown };
    return { name: typeof o.name === 'string' ? o.name : undefined, message: typeof o.message === 'string' ? o.message : JSON.stringify(e) };
  }
  return { message: String(e) };
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
  const actors: Record<string, AnyActorLogic> = {};
  steps.forEach((s, i) => {
    actors[`step_${i}`] = s.run;
    if (s.compensate) actors[`compensate_${i}`] = s.compensate;
  });
  for (const [name, r] of Object.entries(recovery)) actors[`recovery_${name}`] = r.run;

  const next = (i: number) => (i + 1 < n ? `#${id}.step_${i + 1}` : `#${id}.end`);
  const stepInput = (i: number) => ({ context }: Args) => (steps[i]!.input ? steps[i]!.input!(context) : { input: context.input, results: context.results });
  const hasCompensation = steps.some((s) => s.compensate);
  const decideFailure = (i: number) => ({ context }: Args): FailureDecision => {
    const last = context.failures[context.failures.length - 1];
    const error = last?.error ?? {};
    const completedWithUndo = steps.some((s, j) => s.compensate && j < i && s.name in context.results);
    return opts.onFailure
      ? opts.onFailure({ step: steps[i]!.name, error, state: context })
      : completedWithUndo || hasCompensation
        ? { action: 'compensate', reason: 'default policy' }
        : { action: 'fail', reason: 'default policy' };
  };

  // Checkpoints. A step is settled once it has a result or a skip record; `redo` re-opens settled steps.
  const settled = (ctx: Ctx, name: string) => name in ctx.results || ctx.skipped.some((k) => k.step === name);
  const firstOpen = (ctx: Ctx) => steps.findIndex((s) => ctx.plan.includes(s.name) && !settled(ctx, s.name));
  /** Back to the first re-opened step before `i`, if a redo re-opened one. */
  const rewind = (i: number) =>
    Array.from({ length: i }, (_, j) => ({ guard: ({ context }: Args) => firstOpen(context) === j, target: `#${id}.step_${j}` }));
  const assessAt = (nextStep: string | undefined) => (update: Record<string, unknown>, context: Ctx): UpdateAssessment =>
    opts.updates ? opts.updates.assess(update, context, nextStep) : { action: 'ignore', reason: `the sequence '${id}' takes no context updates (no updates.assess)` };
  const absorb = (ctx: Ctx, a: Extract<UpdateAssessment, { action: 'absorb' }>, u: PendingUpdate): Partial<Ctx> => {
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
  const checkpoint = (name: string, nextStep: string | undefined, proceed: Array<{ guard?: (a: Args) => boolean; target: string; actions?: unknown }>) =>
    checkpointStates<Ctx>({
      name,
      assess: assessAt(nextStep),
      ...(opts.updates?.resolve ? { resolve: (choice: string, update: Record<string, unknown>, ctx: Ctx) => opts.updates!.resolve!(choice, update, ctx) } : {}),
      absorb,
      proceed,
    });

  const stepStates: Record<string, unknown> = {};
  steps.forEach((step, i) => {
    const recoverStates: Record<string, unknown> = {};
    for (const [name, r] of Object.entries(recovery)) {
      recoverStates[`recover_${name}`] = {
        invoke: {
          src: `recovery_${name}`,
          input: ({ context }: Args) => (r.input ? r.input(context, step.name) : { input: context.input, results: context.results, failed: step.name }),
          onDone: {
            target: next(i),
            actions: assign(({ context, event }: Args) => ({
              results: { ...context.results, [step.name]: (event as { output?: unknown }).output },
              recovered: { ...context.recovered, [step.name]: name },
            })),
          },
          onError: {
            target: hasCompensation ? `#${id}.compensating` : `#${id}.failed`,
            actions: assign(({ context, event }: Args) => ({
              failures: [...context.failures, { step: `${step.name}/recovery:${name}`, error: errorOf((event as { error?: unknown }).error), decision: hasCompensation ? 'compensate' : 'fail' }],
            })),
          },
        },
      };
    }
    stepStates[`step_${i}`] = {
      initial: 'checkpoint',
      states: {
        // The checkpoint before the step: pending updates first, then where to go.
        ...checkpoint(`before ${step.name}`, step.name, [
          ...rewind(i),
          // Settled already: passing through after a redo re-opened an earlier step.
          { guard: ({ context }: Args) => settled(context, step.name), target: next(i) },
          {
            guard: ({ context }: Args) => !context.plan.includes(step.name),
            target: next(i),
            actions: assign(({ context }: Args) => ({ skipped: [...context.skipped, { step: step.name, reason: 'dropped from the plan by a context update' }] })),
          },
          { target: 'running' },
        ]),
        running: {
          invoke: {
            src: `step_${i}`,
            input: stepInput(i),
            onDone: {
              target: next(i),
              actions: assign(({ context, event }: Args) => ({ results: { ...context.results, [step.name]: (event as { output?: unknown }).output } })),
            },
            onError: {
              target: 'deciding',
              actions: assign(({ context, event }: Args) => ({
                failures: [...context.failures, { step: step.name, error: errorOf((event as { error?: unknown }).error), decision: 'pending' }],
              })),
            },
          },
        },
        deciding: {
          entry: assign(({ context, event }: Args) => {
            const decision = decideFailure(i)({ context, event });
            const failures = context.failures.slice();
            const last = failures[failures.length - 1];
            if (last) failures[failures.length - 1] = { ...last, decision: decision.action === 'recover' ? `recover:${decision.with}` : decision.action };
            return { decision, failures };
          }),
          always: [
            {
              guard: ({ context }: Args) => context.decision?.action === 'retry',
              target: 'running',
              actions: assign(({ context }: Args) => ({ retries: { ...context.retries, [step.name]: (context.retries[step.name] ?? 0) + 1 } })),
            },
            {
              guard: ({ context }: Args) => context.decision?.action === 'skip',
              target: next(i),
              actions: assign(({ context }: Args) => ({
                skipped: [...context.skipped, { step: step.name, reason: (context.decision as { reason: string }).reason }],
              })),
            },
            ...Object.keys(recovery).map((name) => ({
              guard: ({ context }: Args) => context.decision?.action === 'recover' && (context.decision as { with: string }).with === name,
              target: `recover_${name}`,
            })),
            // With nothing to undo, compensating is failing.
            ...(hasCompensation ? [{ guard: ({ context }: Args) => context.decision?.action === 'compensate', target: `#${id}.compensating` }] : []),
            { target: `#${id}.failed` },
          ],
        },
        ...recoverStates,
      },
    };
  });

  // Compensation: completed steps with an undo, newest first.
  const compIdx = steps.map((s, i) => (s.compensate ? i : -1)).filter((i) => i >= 0).reverse();
  const compStates: Record<string, unknown> = {};
  compIdx.forEach((i, k) => {
    const after = k + 1 < compIdx.length ? `comp_${compIdx[k + 1]}` : `#${id}.failed`;
    const name = steps[i]!.name;
    compStates[`comp_${i}`] = {
      always: { guard: ({ context }: Args) => !(name in context.results) || context.compensated.includes(name), target: after },
      invoke: {
        src: `compensate_${i}`,
        input: ({ context }: Args) => ({ result: context.results[name], input: context.input }),
        onDone: { target: after, actions: assign(({ context }: Args) => ({ compensated: [...context.compensated, name] })) },
        onError: {
          target: after,
          actions: assign(({ context, event }: Args) => ({
            failures: [...context.failures, { step: `${name}/compensation`, error: errorOf((event as { error?: unknown }).error), decision: 'continue' }],
          })),
        },
      },
    };
  });

  const config = {
    id,
    context: ({ input }: { input?: Record<string, unknown> }): Ctx => ({
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
      ...stepStates,
      // The checkpoint after the last step: what landed while it ran is assessed before the sequence ends.
      end: { initial: 'checkpoint', states: checkpoint('after the last step', undefined, [...rewind(n), { target: `#${id}.done` }]) },
      ...(compIdx.length ? { compensating: { initial: `comp_${compIdx[0]}`, states: compStates } } : {}),
      done: { type: 'final', entry: assign({ outcome: 'done' as const }) },
      // A failed sequence has no checkpoint left: what is still pending is recorded as ignored, saying why.
      failed: {
        type: 'final',
        entry: assign(({ context }: Args) => ({ outcome: 'failed' as const, ...flushPending(context, 'the sequence failed before its next checkpoint', 'failed') })),
      },
    },
    output: ({ context }: { context: Ctx }): StepsOutput => ({
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
  };
  return setup({
    types: {
      context: {} as Ctx,
      input: {} as Record<string, unknown> | undefined,
      events: {} as ContextUpdateEvent | DecisionEvent,
      output: {} as StepsOutput,
    },
    actors,
    delays: checkpointDelays,
  }).createMachine(config as never);
}
