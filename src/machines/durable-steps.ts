import { assign, setup, type AnyActorLogic } from 'xstate';
import { answers, type Awaiting, type ContextUpdateEvent, type DecisionEvent, type DecisionRecord } from './types.js';

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
  /** Names of the steps still planned (absorbing an update may remove some). */
  plan: string[];
  /** Retries so far, by step. */
  retries: Record<string, number>;
  /** Context updates received and not yet assessed. */
  pending: Array<{ update: Record<string, unknown>; by: string; at: number }>;
  /** Updates assessed, with the outcome. */
  updates: Array<{ update: Record<string, unknown>; by: string; at: number; outcome: string; reason?: string }>;
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

/** How a context update is taken at a checkpoint. */
export type UpdateAssessment =
  | { action: 'ignore'; reason?: string }
  | { action: 'absorb'; patch?: Record<string, unknown>; drop?: string[]; reason?: string }
  | { action: 'decide'; question: string; options: string[]; deadlineMs?: number; defaultOption?: string };

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
  /** Mid-run context updates: assessed at each checkpoint (before every step). */
  updates?: {
    assess: (update: Record<string, unknown>, state: StepsState, nextStep: string) => UpdateAssessment;
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

type Ctx = StepsState & { decision?: FailureDecision; assessment?: UpdateAssessment & { update?: StepsState['pending'][number] }; outcome?: 'done' | 'failed' };
type Ev = { type: string; [k: string]: unknown };
type Args = { context: Ctx; event: Ev };

function errorOf(e: unknown): { name?: string; message?: string } {
  if (e && typeof e === 'object') {
    const o = e as { name?: unknown; message?: unknown };
    return { name: typeof o.name === 'string' ? o.name : undefined, message: typeof o.message === 'string' ? o.message : JSON.stringify(e) };
  }
  return { message: String(e) };
}

function applyAssessment(ctx: Ctx, a: UpdateAssessment, u: StepsState['pending'][number]): Partial<Ctx> {
  const record = { ...u, outcome: a.action, ...(('reason' in a && a.reason) ? { reason: a.reason } : {}) };
  if (a.action === 'absorb') {
    return {
      input: { ...ctx.input, ...(a.patch ?? u.update) },
      plan: a.drop ? ctx.plan.filter((s) => !a.drop!.includes(s)) : ctx.plan,
      updates: [...ctx.updates, record],
    };
  }
  return { updates: [...ctx.updates, record] };
}

/**
 * A sequence of durable steps with recovery: each step's result is committed
 * before the next starts (so a crash resumes at the step it was on), a step
 * that fails for good leads to what `onFailure` decides from the state so
 * far — retry, skip with a recorded reason, a recovery path, or the saga:
 * compensations of the completed steps in reverse order, ending in `failed`.
 * `context.update` events are accepted at any time and assessed at the next
 * checkpoint: ignored, absorbed (changing the remaining plan), or surfaced as
 * a decision to the caller.
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

  const next = (i: number) => (i + 1 < n ? `#${id}.step_${i + 1}` : `#${id}.done`);
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
        checkpoint: {
          always: [
            { guard: ({ context }: Args) => context.pending.length > 0 && !!opts.updates, target: 'assessing' },
            {
              guard: ({ context }: Args) => !context.plan.includes(step.name),
              target: next(i),
              actions: assign(({ context }: Args) => ({ skipped: [...context.skipped, { step: step.name, reason: 'dropped from the plan by a context update' }] })),
            },
            { target: 'running' },
          ],
        },
        assessing: {
          entry: assign(({ context }: Args) => {
            const [u, ...rest] = context.pending;
            return { pending: rest, assessment: { ...opts.updates!.assess(u!.update, context, step.name), update: u } };
          }),
          always: [
            {
              guard: ({ context }: Args) => context.assessment?.action === 'decide',
              target: 'awaiting',
            },
            {
              target: 'checkpoint',
              actions: assign(({ context }: Args) => ({ ...applyAssessment(context, context.assessment!, context.assessment!.update!), assessment: undefined })),
            },
          ],
        },
        awaiting: {
          entry: assign(({ context }: Args) => {
            const a = context.assessment as Extract<UpdateAssessment, { action: 'decide' }>;
            return {
              awaiting: {
                decision: 'context.update',
                question: a.question,
                options: a.options,
                since: Date.now(),
                ...(a.deadlineMs !== undefined ? { deadline: Date.now() + a.deadlineMs } : {}),
                detail: context.assessment!.update,
              },
            };
          }),
          on: {
            decision: {
              guard: ({ context, event }: Args) => answers(context.awaiting, event as Partial<DecisionEvent>),
              target: 'checkpoint',
              actions: assign(({ context, event }: Args) => resolveAnswer(context, event as unknown as DecisionEvent, 'answer')),
            },
          },
          after: {
            updateDeadline: {
              guard: ({ context }: Args) => (context.assessment as { deadlineMs?: number } | undefined)?.deadlineMs !== undefined,
              target: 'checkpoint',
              actions: assign(({ context }: Args) => {
                const a = context.assessment as Extract<UpdateAssessment, { action: 'decide' }>;
                return resolveAnswer(context, { type: 'decision', decision: 'context.update', choice: a.defaultOption ?? a.options[0] ?? '', by: 'deadline' }, 'default');
              }),
            },
          },
        },
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

  function resolveAnswer(context: Ctx, event: DecisionEvent, source: 'answer' | 'default'): Partial<Ctx> {
    const u = context.assessment!.update!;
    const resolved = opts.updates?.resolve
      ? opts.updates.resolve(event.choice, u.update, context)
      : event.choice === 'absorb'
        ? ({ action: 'absorb' } as const)
        : ({ action: 'ignore', reason: `answered '${event.choice}'` } as const);
    const record: DecisionRecord = { decision: 'context.update', choice: event.choice, by: event.by ?? 'unknown', at: Date.now(), source, ...(event.note ? { note: event.note } : {}) };
    const applied = resolved.action === 'decide' ? applyAssessment(context, { action: 'ignore', reason: 'nested decision not supported' }, u) : applyAssessment(context, resolved, u);
    return { ...applied, decisions: [...context.decisions, record], awaiting: undefined, assessment: undefined };
  }

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
    on: {
      'context.update': {
        actions: assign(({ context, event }: Args) => {
          const e = event as unknown as ContextUpdateEvent;
          return { pending: [...context.pending, { update: e.update ?? {}, by: e.by ?? 'unknown', at: Date.now() }] };
        }),
      },
    },
    initial: n > 0 ? 'step_0' : 'done',
    states: {
      ...stepStates,
      ...(compIdx.length ? { compensating: { initial: `comp_${compIdx[0]}`, states: compStates } } : {}),
      done: { type: 'final', entry: assign({ outcome: 'done' as const }) },
      failed: { type: 'final', entry: assign({ outcome: 'failed' as const }) },
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
    delays: {
      updateDeadline: ({ context }: { context: Ctx }) => (context.assessment as { deadlineMs?: number } | undefined)?.deadlineMs ?? 0,
    },
  }).createMachine(config as never);
}
