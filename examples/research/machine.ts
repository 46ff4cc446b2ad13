import { assign, sendTo, setup } from 'xstate';
import { z } from 'zod';
import {
  checkpointDelays,
  checkpointStates,
  durableSteps,
  flushPending,
  fromAgent,
  parallelAgents,
  queueUpdate,
  type CheckpointContext,
  type ParallelResult,
  type StepsOutput,
  type StepsState,
  type UpdateAssessment,
} from '../../src/index.js';

export const PlanSchema = z.object({ subtasks: z.array(z.string()).length(7) });
export type Plan = z.infer<typeof PlanSchema>;
export const SubResultSchema = z.object({ finding: z.string(), confidence: z.number().min(0).max(1), pid: z.number().optional() });
export type SubResult = z.infer<typeof SubResultSchema>;
export const ReviewSchema = z.object({ verdict: z.string(), risk: z.string(), notes: z.string() });
export type Review = z.infer<typeof ReviewSchema>;

const subtask = fromAgent('subtask', { output: SubResultSchema, attempts: 2, backoffMs: 100 });

/** How long a scope decision waits for a person before 'absorb' applies, unless the input says otherwise. */
export const DECISION_MS = 30_000;
const SUBTASKS = 7;

/** "1-3, 5" */
/** `1-3, 5`: a list of numbers as ranges, for the demo's lines. */
export function ranges(nums: number[]): string {
  const sorted = [...new Set(nums)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j;
  }
  return out.join(', ');
}

/**
 * The research task's one rule for a scope change, applied at every
 * checkpoint: an update naming no new scope is ignored with the reason; a new
 * scope is put to a person, with what 'absorb', 'redo' and 'ignore' would mean
 * there (`options` says which make sense at that point).
 */
export function assessScope(
  update: Record<string, unknown>,
  scope: string,
  at: { question: (next: string) => string; options: string[]; deadlineMs: number | null | undefined },
): UpdateAssessment {
  if (typeof update.scope !== 'string') return { action: 'ignore', reason: 'the update names no scope (the research task takes scope changes only)' };
  if (update.scope === scope) return { action: 'ignore', reason: `'${scope}' is already the scope` };
  const deadlineMs = at.deadlineMs === undefined ? DECISION_MS : at.deadlineMs;
  return {
    action: 'decide',
    question: at.question(update.scope),
    options: at.options,
    ...(deadlineMs !== null ? { deadlineMs, defaultOption: 'absorb' } : {}),
  };
}

const ignored = (choice: string, scope: unknown) => ({ action: 'ignore', reason: `answered '${choice}': the scope stays '${String(scope)}'` }) as const;

/** The seven sub-tasks: durable steps with a repair path; scope changes assessed before each and after the last. */
export const subtasks = durableSteps({
  id: 'subtasks',
  steps: Array.from({ length: SUBTASKS }, (_, i) => ({
    name: `sub${i + 1}`,
    run: subtask,
    input: ({ input }) => ({ index: i, question: (input.plan as string[])[i], scope: input.scope }),
  })),
  recovery: {
    // Ask again, asking for the strict format.
    repair: {
      run: subtask,
      input: ({ input }, failed) => {
        const i = Number(failed.slice(3)) - 1;
        return { index: i, question: (input.plan as string[])[i], scope: input.scope, repair: true };
      },
    },
  },
  // Decided at run time from what failed and what is done so far.
  onFailure: ({ error, state }) =>
    error.name === 'InvalidAgentOutput' && !Object.values(state.recovered).includes('repair-exhausted')
      ? { action: 'recover', with: 'repair', reason: 'unexpected schema' }
      : { action: 'skip', reason: error.message ?? 'failed' },
  updates: {
    assess: (update, state, nextStep) => {
      const scope = String(state.input.scope);
      const done = settledSteps(state).map((name) => Number(name.slice(3)));
      const todo = Array.from({ length: SUBTASKS }, (_, i) => i + 1).filter((k) => !done.includes(k));
      const question = (next: string) =>
        nextStep === undefined
          ? `Scope changed to '${next}' after sub-tasks ${ranges(done)} ran under '${scope}'. absorb: the review and the report use '${next}' (the findings stay as they are); redo: the sub-tasks run again under '${next}'; ignore: keep '${scope}'.`
          : done.length === 0
            ? `Scope changed to '${next}' before any sub-task ran. absorb: sub-tasks ${ranges(todo)} run under '${next}'; ignore: keep '${scope}'.`
            : `Scope changed to '${next}' with sub-tasks ${ranges(done)} done under '${scope}'. absorb: sub-tasks ${ranges(todo)} run under '${next}'; redo: sub-tasks ${ranges(done)} run again under it too; ignore: keep '${scope}'.`;
      return assessScope(update, scope, {
        question,
        options: done.length ? ['absorb', 'redo', 'ignore'] : ['absorb', 'ignore'],
        deadlineMs: state.input.decisionDeadlineMs as number | null | undefined,
      });
    },
    resolve: (choice, update, state) =>
      choice === 'ignore'
        ? ignored(choice, state.input.scope)
        : { action: 'absorb', patch: { scope: update.scope }, ...(choice === 'redo' ? { redo: settledSteps(state) } : {}) },
  },
});

/** Sub-tasks with a result or a skip record. */
function settledSteps(state: StepsState): string[] {
  return [...Object.keys(state.results), ...state.skipped.map((k) => k.step)];
}

/** Technical feasibility and regulatory constraints, in parallel; their verdicts are compared and reconciled by an LLM agent. */
export const review = parallelAgents({
  id: 'review',
  agents: {
    technical: fromAgent('technical', { output: ReviewSchema }),
    regulatory: fromAgent('regulatory', { output: ReviewSchema }),
  },
  detect: { kind: 'fields', fields: ['verdict', 'risk'] },
  reconcile: { kind: 'agent', name: 'llm-reconciler', reconciler: fromAgent('reconcile') },
});

/** Work an absorbed scope change sends the task back to, deepest first. */
const REDO = ['plan', 'subtasks', 'report'] as const;
type Redo = (typeof REDO)[number];

type Ctx = CheckpointContext & {
  topic: string;
  scope: string;
  /** How long a scope decision waits before 'absorb' applies; null: as long as it takes. */
  decisionDeadlineMs: number | null | undefined;
  plan?: Plan;
  steps?: StepsOutput;
  review?: ParallelResult;
  report?: unknown;
  /** What an absorbed update re-opened. */
  redo?: Redo;
};

/** Input of a research task. */
export interface ResearchInput {
  topic: string;
  scope: string;
  /** How long a scope decision waits for a person before 'absorb' applies (ms). @default 30000; null waits for the answer */
  decisionDeadlineMs?: number | null;
}

/**
 * A checkpoint of the research task itself (the sub-tasks have their own):
 * `absorb` and `redo` say what work each answer re-opens.
 */
function researchCheckpoint(
  name: string,
  question: (next: string, ctx: Ctx) => string,
  options: string[],
  reopen: { absorb?: Redo; redo?: Redo },
  proceed: Array<{ guard?: (a: { context: Ctx }) => boolean; target: string; actions?: unknown }>,
) {
  return {
    initial: 'checkpoint',
    states: checkpointStates<Ctx>({
      name,
      assess: (update, ctx) => assessScope(update, ctx.scope, { question: (next) => question(next, ctx), options, deadlineMs: ctx.decisionDeadlineMs }),
      resolve: (choice, update, ctx) => {
        if (choice === 'ignore') return ignored(choice, ctx.scope);
        const again = choice === 'redo' ? reopen.redo : reopen.absorb;
        return { action: 'absorb', patch: { scope: update.scope }, ...(again ? { redo: [again] } : {}) };
      },
      absorb: (ctx, a, u) => {
        const again = a.redo?.find((r): r is Redo => (REDO as readonly string[]).includes(r));
        const deepest = [ctx.redo, again].filter((r): r is Redo => !!r).sort((x, y) => REDO.indexOf(x) - REDO.indexOf(y))[0];
        return { scope: String((a.patch ?? u.update).scope ?? ctx.scope), ...(deepest ? { redo: deepest } : {}) };
      },
      proceed: proceed.map((t) => ({ ...t, ...(t.guard ? { actions: assign({ redo: undefined }) } : {}) })) as never,
    }),
  };
}
const redoIs = (r: Redo) => ({ context }: { context: Ctx }) => context.redo === r;

/**
 * The research task: plan, seven sub-tasks, two reviewers in parallel,
 * reconciliation, report. A scope change (`context.update`) is accepted
 * whenever it lands and assessed at the next checkpoint:
 *
 * - while planning → at the planning end;
 * - while a sub-task runs → before the next sub-task, or after the last one;
 * - during the review → before the report;
 * - while the report is written → before the task ends.
 *
 * Each is ignored with a reason (no new scope) or put to a person: 'absorb'
 * (the work still to do uses the new scope), 'redo' (the work already done
 * under the old scope runs again under the new one) or 'ignore' (with the
 * reason recorded). The outcome of every update is in the output's `updates`.
 */
export const research = setup({
  types: {
    context: {} as Ctx,
    input: {} as ResearchInput,
    events: {} as { type: 'context.update'; update: Record<string, unknown>; by?: string } | { type: 'decision'; decision: string; choice: string; by?: string },
  },
  actors: {
    plan: fromAgent('plan', { output: PlanSchema }),
    subtasks,
    review,
    report: fromAgent('report'),
  },
  delays: checkpointDelays as never,
}).createMachine({
  id: 'research',
  context: ({ input }) => ({ topic: input.topic, scope: input.scope, decisionDeadlineMs: input.decisionDeadlineMs, pending: [], updates: [], decisions: [] }),
  initial: 'planning',
  // Queued wherever it lands; the next checkpoint takes it (in `researching`, the sub-tasks' own checkpoints).
  on: { 'context.update': { actions: queueUpdate as never } },
  states: {
    planning: {
      invoke: {
        src: 'plan',
        input: ({ context }) => ({ topic: context.topic, scope: context.scope }),
        onDone: { target: 'planned', actions: assign({ plan: ({ event }) => event.output }) },
        onError: 'failed',
      },
    },
    planned: researchCheckpoint(
      'planning end',
      (next, ctx) => `Scope changed to '${next}' while the plan was made under '${ctx.scope}'. absorb: plan again and run every sub-task under '${next}'; ignore: keep '${ctx.scope}'.`,
      ['absorb', 'ignore'],
      { absorb: 'plan' },
      [{ guard: redoIs('plan'), target: '#research.planning' }, { target: '#research.researching' }],
    ) as never,
    researching: {
      invoke: {
        id: 'subtasks',
        src: 'subtasks',
        input: ({ context }) => ({ topic: context.topic, scope: context.scope, plan: context.plan!.subtasks, decisionDeadlineMs: context.decisionDeadlineMs }),
        onDone: {
          target: 'reviewing',
          actions: assign(({ context, event }) => ({
            steps: event.output,
            scope: String(event.output.input.scope),
            updates: [...context.updates, ...event.output.updates],
            decisions: [...context.decisions, ...event.output.decisions],
          })),
        },
      },
      // A follow-up reaches the running sub-tasks mid-flight: their checkpoints assess it.
      on: {
        'context.update': { actions: sendTo('subtasks', ({ event }) => event) },
        decision: { actions: sendTo('subtasks', ({ event }) => event) },
      },
    },
    reviewing: {
      invoke: {
        id: 'review',
        src: 'review',
        input: ({ context }: { context: Ctx }) => ({
          scope: context.scope,
          findings: Object.values(context.steps!.results).map((r) => (r as SubResult).finding),
        }),
        onDone: { target: 'reviewed', actions: assign({ review: ({ event }) => event.output }) },
      },
      on: { decision: { actions: sendTo('review', ({ event }) => event) } },
    },
    reviewed: researchCheckpoint(
      'before the report',
      (next, ctx) => `Scope changed to '${next}' after the sub-tasks and the review ran under '${ctx.scope}'. absorb: the report uses '${next}'; redo: the sub-tasks and the review run again under '${next}'; ignore: keep '${ctx.scope}'.`,
      ['absorb', 'redo', 'ignore'],
      { redo: 'subtasks' },
      [{ guard: redoIs('subtasks'), target: '#research.researching' }, { target: '#research.reporting' }],
    ) as never,
    reporting: {
      invoke: {
        src: 'report',
        input: ({ context }) => ({
          topic: context.topic,
          scope: context.scope,
          findings: Object.values(context.steps!.results).map((r) => (r as SubResult).finding),
          decision: context.review!.reconciled,
        }),
        onDone: { target: 'reported', actions: assign({ report: ({ event }) => event.output }) },
      },
    },
    reported: researchCheckpoint(
      'before the end',
      (next, ctx) => `Scope changed to '${next}' while the report was written under '${ctx.scope}'. absorb: the report is written again under '${next}'; redo: the sub-tasks, the review and the report run again under '${next}'; ignore: keep '${ctx.scope}'.`,
      ['absorb', 'redo', 'ignore'],
      { absorb: 'report', redo: 'subtasks' },
      [{ guard: redoIs('subtasks'), target: '#research.researching' }, { guard: redoIs('report'), target: '#research.reporting' }, { target: '#research.done' }],
    ) as never,
    done: { type: 'final' },
    // No checkpoint left: what is still pending is recorded as ignored, saying why.
    failed: { type: 'final', entry: assign(({ context }) => flushPending(context, 'the research task failed before its next checkpoint', 'failed')) },
  },
  output: ({ context }: { context: Ctx }) => ({
    report: context.report,
    review: context.review,
    steps: context.steps,
    scope: context.scope,
    updates: context.updates,
    decisions: context.decisions,
  }),
});
