import { assign, fromPromise, setup } from 'xstate';

/** Result of one step: what it produced and which process ran it. */
export interface StepResult {
  step: number;
  pid: number;
  summary: string;
}

/** Hooks the demo uses to watch and to fail a step; plain machines need none. */
export const stepHooks: { onStart?: (step: number) => void | Promise<void> } = {};

const STEPS = ['collect sources', 'extract claims', 'cluster claims', 'draft outline', 'write sections', 'cite', 'review'];

/**
 * A seven-step research task: each step is an invoked promise actor (registered
 * in `setup({ actors })` so it persists), each result committed before the next
 * step starts.
 */
export const sevenSteps = setup({
  types: {
    context: {} as { topic: string; results: StepResult[] },
    input: {} as { topic: string },
  },
  actions: {
    record: assign({ results: ({ context, event }) => [...context.results, (event as unknown as { output: StepResult }).output] }),
  },
  actors: {
    step: fromPromise(async ({ input }: { input: { step: number; topic: string } }): Promise<StepResult> => {
      await stepHooks.onStart?.(input.step);
      await new Promise((r) => setTimeout(r, 150));
      return { step: input.step, pid: process.pid, summary: `${STEPS[input.step - 1]} for ${input.topic}` };
    }),
  },
}).createMachine({
  id: 'sevenSteps',
  context: ({ input }) => ({ topic: input.topic, results: [] }),
  initial: 'step1',
  states: {
    step1: stepState(1),
    step2: stepState(2),
    step3: stepState(3),
    step4: stepState(4),
    step5: stepState(5),
    step6: stepState(6),
    step7: stepState(7),
    done: { type: 'final' },
  },
  output: ({ context }) => ({ results: context.results }),
});

function stepState(n: number) {
  return {
    invoke: {
      src: 'step' as const,
      input: ({ context }: { context: { topic: string } }) => ({ step: n, topic: context.topic }),
      onDone: { target: n === 7 ? 'done' : `step${n + 1}`, actions: 'record' as const },
    },
  };
}
