/**
 * Machines and agent functions of the agent, failover, memory and timer
 * figures. The agent functions are plain functions so that the raw BullMQ
 * baselines run exactly the same code as Baton's agent workers.
 */
import { assign, setup } from 'xstate';
import { fromAgent } from '../src/index.js';

/** The trivial agent of the jobs/s figure: echoes its index. */
export const echo = ({ input }: { input: { i: number } }) => ({ ok: true, i: input.i });

/** Number of steps of the seven-step task. */
export const STEPS = 7;

/** One step of the seven-step task: about 200 bytes of JSON, like a small model answer. */
export function step({ input }: { input: { task: string; i: number } }) {
  return {
    step: input.i,
    task: input.task.slice(-24),
    summary: `step ${input.i} of ${STEPS}: sources read, claims extracted and checked`,
    findings: [`finding-${input.i}-a: consistent`, `finding-${input.i}-b: needs a citation`, `finding-${input.i}-c: ok`],
    score: 0.5 + input.i / 20,
  };
}

/**
 * Waits for `go`, then invokes the `echo` agent `left` times in a row (each
 * result re-enters `working`, which invokes the next), then finishes. Per
 * agent job: the commit that records the invocation, its dispatch, the job,
 * the result appended to the mailbox and applied.
 */
export const agentLoop = setup({
  types: {
    context: {} as { left: number; n: number },
    events: {} as { type: 'go'; jobs: number },
  },
  actors: { echo: fromAgent('echo') },
}).createMachine({
  id: 'agentLoop',
  context: { left: 0, n: 0 },
  initial: 'idle',
  states: {
    idle: { on: { go: { target: 'working', actions: assign(({ event }) => ({ left: event.jobs })) } } },
    working: {
      invoke: {
        src: 'echo',
        input: ({ context }) => ({ i: context.n }),
        onDone: [
          { guard: ({ context }) => context.left > 1, target: 'working', reenter: true, actions: assign(({ context }) => ({ left: context.left - 1, n: context.n + 1 })) },
          { target: 'finished', actions: assign(({ context }) => ({ left: 0, n: context.n + 1 })) },
        ],
      },
    },
    finished: { type: 'final' },
  },
  output: ({ context }) => ({ n: context.n }),
});

type StepOut = ReturnType<typeof step>;

/** Seven states, each invoking the `step` agent; each result is kept in context. */
export const sevenSteps = setup({
  types: { context: {} as { results: Record<string, StepOut> } },
  actors: { step: fromAgent('step') },
}).createMachine({
  id: 'sevenSteps',
  context: { results: {} },
  initial: 's1',
  states: {
    ...Object.fromEntries(
      Array.from({ length: STEPS }, (_, k) => {
        const i = k + 1;
        return [
          `s${i}`,
          {
            invoke: {
              src: 'step' as const,
              input: ({ self }: { self: { id: string } }) => ({ task: self.id, i }),
              onDone: {
                target: i < STEPS ? `s${i + 1}` : 'done',
                actions: assign(({ context, event }) => ({
                  results: { ...context.results, [`s${i}`]: (event as unknown as { output: StepOut }).output },
                })),
              },
            },
          },
        ];
      }),
    ),
    done: { type: 'final' },
  } as never,
  output: ({ context }) => ({ steps: Object.keys(context.results).length }),
});

/**
 * The failover task: `steps` agent calls in a row (the `work` agent sleeps
 * `ms` per call), then done.
 */
export const flow = setup({
  types: {
    context: {} as { steps: number; ms: number; done: number },
    input: {} as { steps: number; ms: number },
  },
  actors: { work: fromAgent('work') },
}).createMachine({
  id: 'flow',
  context: ({ input }) => ({ steps: input.steps, ms: input.ms, done: 0 }),
  initial: 'working',
  states: {
    working: {
      invoke: {
        src: 'work',
        input: ({ context }) => ({ ms: context.ms, i: context.done }),
        onDone: [
          { guard: ({ context }) => context.done + 1 < context.steps, target: 'working', reenter: true, actions: assign(({ context }) => ({ done: context.done + 1 })) },
          { target: 'finished', actions: assign(({ context }) => ({ done: context.done + 1 })) },
        ],
      },
    },
    finished: { type: 'final' },
  },
  output: ({ context }) => ({ done: context.done }),
});

/** A small task that waits for events: what most passivated tasks look like. */
export const small = setup({
  types: {
    context: {} as { owner: string; notes: string[]; count: number },
    input: {} as { owner: string },
    events: {} as { type: 'note'; text: string } | { type: 'close' },
  },
}).createMachine({
  id: 'small',
  context: ({ input }) => ({ owner: input.owner, notes: [], count: 0 }),
  initial: 'open',
  states: {
    open: {
      on: {
        note: { actions: assign(({ context, event }) => ({ notes: [...context.notes, event.text], count: context.count + 1 })) },
        close: 'closed',
      },
    },
    closed: { type: 'final' },
  },
});

/** Waits for `arm`, then fires an `after` timer of `ms` (from the event) and finishes. */
export const timer = setup({
  types: {
    context: {} as { ms: number },
    events: {} as { type: 'arm'; ms: number },
  },
  delays: { wait: ({ context }) => context.ms },
}).createMachine({
  id: 'timer',
  context: { ms: 0 },
  initial: 'idle',
  states: {
    idle: { on: { arm: { target: 'waiting', actions: assign(({ event }) => ({ ms: event.ms })) } } },
    waiting: { after: { wait: 'fired' } },
    fired: { type: 'final' },
  },
});
