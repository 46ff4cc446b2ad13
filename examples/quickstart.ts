// The README's quick example: a task that waits for approval, survives restarts, and finishes.
import { assign, setup } from 'xstate';
import { z } from 'zod';
import { createRuntime, defineTask } from '../src/index.js';

const review = setup({
  types: {
    context: {} as { doc: string; notes: string[] },
    input: {} as { doc: string },
    events: {} as { type: 'note'; text: string } | { type: 'approve' },
  },
}).createMachine({
  id: 'review',
  context: ({ input }) => ({ doc: input.doc, notes: [] }),
  initial: 'open',
  states: {
    open: {
      on: {
        note: { actions: assign({ notes: ({ context, event }) => [...context.notes, event.text] }) },
        approve: 'approved',
      },
      after: { 86_400_000: 'expired' }, // a day; survives restarts and passivation
    },
    approved: { type: 'final' },
    expired: { type: 'final' },
  },
  output: ({ context }) => ({ notes: context.notes.length }),
});

const runtime = await createRuntime({
  connection: process.env.REDIS_URL,
  prefix: `quickstart-${process.pid}`,
  machines: {
    review: defineTask(review, {
      input: z.object({ doc: z.string().min(1) }),
      events: { note: z.object({ type: z.literal('note'), text: z.string().max(500) }) },
    }),
  },
});

const task = await runtime.spawn('review', { input: { doc: 'Q3 plan' } });
await task.send({ type: 'note', text: 'tighten the budget' }, { idempotencyKey: 'note-1' });
await task.send({ type: 'note', text: 'tighten the budget' }, { idempotencyKey: 'note-1' }); // applied once
await task.send({ type: 'approve' });
const view = await task.waitFor((v) => v.status === 'done');
console.log(view.value, view.output); // 'approved' { notes: 1 }
console.log((await task.history()).map((h) => `${h.seq} ${h.event.type}`)); // [ '1 baton.spawn', '2 note', '3 approve' ]
await runtime.close();
