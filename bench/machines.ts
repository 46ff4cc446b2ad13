/** The machine every Baton figure is measured with. */
import { assign, setup } from 'xstate';

/** Counts `inc` events; finishes on `finish`. */
export const counter = setup({
  types: {
    context: {} as { count: number },
    events: {} as { type: 'inc' } | { type: 'finish' },
  },
}).createMachine({
  id: 'counter',
  context: { count: 0 },
  initial: 'counting',
  states: {
    counting: {
      on: {
        inc: { actions: assign(({ context }) => ({ count: context.count + 1 })) },
        finish: 'finished',
      },
    },
    finished: { type: 'final' },
  },
  output: ({ context }) => ({ count: context.count }),
});

export const MACHINE = 'counter';
export const INC = { type: 'inc' } as const;
