import { assign, setup } from 'xstate';
import { z } from 'zod';
import { BatonError, createClient, createRuntime, defineTask } from 'baton';

const notes = setup({
  types: { context: {} as { notes: string[] }, events: {} as { type: 'note'; text: string } },
}).createMachine({
  context: { notes: [] },
  on: { note: { actions: assign({ notes: ({ context, event }) => [...context.notes, event.text] }) } },
});

const prefix = `checked-${process.pid}`;
// The worker: it runs the machine and publishes it (schemas included) in the registry.
const worker = await createRuntime({
  connection: process.env.REDIS_URL,
  prefix,
  machines: {
    notes: defineTask(notes, {
      events: { note: z.object({ type: z.literal('note'), text: z.string().max(200).refine((t) => t.trim() !== '', 'blank') }) },
      closed: true, // event types without a schema are refused
    }),
  },
});

// A web server: no machine code, checks come from the registry.
const client = createClient({ connection: process.env.REDIS_URL, prefix });
const code = (p: Promise<unknown>) => p.then(() => 'accepted', (e: BatonError) => e.code);
const task = await client.spawn('notes');
console.log(await code(client.spawn('nosuch')));                                    // UNKNOWN_MACHINE
console.log(await code(task.send({ type: 'note' })));                               // INVALID_EVENT: text missing
console.log(await code(task.send({ type: 'approve' })));                            // INVALID_EVENT: closed set
console.log(await code(task.send({ type: 'note', text: '  ' }, { wait: 'applied' }))); // INVALID_EVENT: the refinement, where the task runs
console.log(await code(task.send({ type: 'note', text: 'ship it' }, { wait: 'applied' }))); // accepted
const view = await task.get();
console.log(view?.context, view?.rejections?.map((r) => r.reason)); // { notes: [ 'ship it' ] } [ 'does not match its schema: text: blank' ]
await client.close();
await worker.close();
