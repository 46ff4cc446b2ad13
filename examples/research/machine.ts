import { assign, sendTo, setup } from 'xstate';
import { z } from 'zod';
import { durableSteps, fromAgent, parallelAgents, type ParallelResult, type StepsOutput } from '../../src/index.js';

export const PlanSchema = z.object({ subtasks: z.array(z.string()).length(7) });
export type Plan = z.infer<typeof PlanSchema>;
export const SubResultSchema = z.object({ finding: z.string(), confidence: z.number().min(0).max(1), pid: z.number().optional() });
export type SubResult = z.infer<typeof SubResultSchema>;
export const ReviewSchema = z.object({ verdict: z.string(), risk: z.string(), notes: z.string() });
export type Review = z.infer<typeof ReviewSchema>;

const subtask = fromAgent('subtask', { output: SubResultSchema, attempts: 2, backoffMs: 100 });

/** The seven sub-tasks: durable steps with a repair path and scope changes assessed at each checkpoint. */
export const subtasks = durableSteps({
  id: 'subtasks',
  steps: Array.from({ length: 7 }, (_, i) => ({
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
    assess: (update, state) =>
      typeof update.scope === 'string' && update.scope !== state.input.scope
        ? {
            action: 'decide',
            question: `Scope changed to '${update.scope}'. Re-scope the remaining sub-tasks?`,
            options: ['absorb', 'ignore'],
            deadlineMs: 30_000,
            defaultOption: 'absorb',
          }
        : { action: 'ignore', reason: 'no change of scope' },
  },
});

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

type Ctx = {
  topic: string;
  scope: string;
  plan?: Plan;
  steps?: StepsOutput;
  review?: ParallelResult;
  report?: unknown;
  lateUpdates: unknown[];
};

/** The research task: plan, seven sub-tasks, two reviewers in parallel, reconciliation, report. */
export const research = setup({
  types: {
    context: {} as Ctx,
    input: {} as { topic: string; scope: string },
    events: {} as { type: 'context.update'; update: Record<string, unknown>; by?: string } | { type: 'decision'; decision: string; choice: string; by?: string },
  },
  actors: {
    plan: fromAgent('plan', { output: PlanSchema }),
    subtasks,
    review,
    report: fromAgent('report'),
  },
}).createMachine({
  id: 'research',
  context: ({ input }) => ({ topic: input.topic, scope: input.scope, lateUpdates: [] }),
  initial: 'planning',
  on: { 'context.update': { actions: assign({ lateUpdates: ({ context, event }) => [...context.lateUpdates, event.update] }) } },
  states: {
    planning: {
      invoke: {
        src: 'plan',
        input: ({ context }) => ({ topic: context.topic, scope: context.scope }),
        onDone: { target: 'researching', actions: assign({ plan: ({ event }) => event.output }) },
        onError: 'failed',
      },
    },
    researching: {
      invoke: {
        id: 'subtasks',
        src: 'subtasks',
        input: ({ context }) => ({ topic: context.topic, scope: context.scope, plan: context.plan!.subtasks }),
        onDone: {
          target: 'reviewing',
          actions: assign({ steps: ({ event }) => event.output, scope: ({ event }) => String(event.output.input.scope) }),
        },
      },
      // A follow-up reaches the running sub-tasks mid-flight.
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
        onDone: { target: 'reporting', actions: assign({ review: ({ event }) => event.output }) },
      },
      on: { decision: { actions: sendTo('review', ({ event }) => event) } },
    },
    reporting: {
      invoke: {
        src: 'report',
        input: ({ context }) => ({
          topic: context.topic,
          scope: context.scope,
          findings: Object.values(context.steps!.results).map((r) => (r as SubResult).finding),
          decision: context.review!.reconciled,
        }),
        onDone: { target: 'done', actions: assign({ report: ({ event }) => event.output }) },
      },
    },
    done: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }: { context: Ctx }) => ({ report: context.report, review: context.review, steps: context.steps }),
});
