import { assign, setup } from 'xstate';
import { z } from 'zod';
import { createRuntime, fromAgent, fromTask, sendToTask } from 'baton';

// A child task: one chapter, drafted by an agent that fails the first time it sees chapter 2.
const chapter = setup({
  types: { context: {} as { n: number; text?: string }, input: {} as { n: number } },
  actors: { write: fromAgent('write', { attempts: 1 }) },
}).createMachine({
  context: ({ input }) => ({ n: input.n }),
  initial: 'writing',
  states: {
    writing: { invoke: { src: 'write', input: ({ context }) => ({ n: context.n }), onDone: { target: 'done', actions: assign({ text: ({ event }) => event.output as string }) } } },
    done: { type: 'final' },
  },
  output: ({ context }) => context.text,
});

// The parent supervises: each chapter is a task of its own, restarted once (attempts: 2) if it fails;
// when all are in, it tells the editor's task, which answers to `event.origin`.
const draft = fromTask('chapter', { input: z.object({ n: z.number() }), output: z.string(), attempts: 2, backoffMs: 100 });
const books = setup({
  types: { context: {} as { chapters: Record<number, string>; editor: string; verdict?: string }, input: {} as { editor: string } },
  actors: { draft },
  actions: { submit: sendToTask(({ context }) => context.editor, ({ context }) => ({ type: 'review', chapters: Object.keys(context.chapters).length })) },
});
const region = (n: number) =>
  books.createStateConfig({
    initial: 'running',
    states: {
      running: {
        invoke: { id: `chapter${n}`, src: 'draft', input: { n }, onDone: { target: 'in', actions: assign({ chapters: ({ context, event }) => ({ ...context.chapters, [n]: event.output }) }) } },
      },
      in: { type: 'final' },
    },
  });
const book = books.createMachine({
  context: ({ input }) => ({ chapters: {}, editor: input.editor }),
  initial: 'drafting',
  states: {
    drafting: { type: 'parallel', states: { c1: region(1), c2: region(2), c3: region(3) }, onDone: 'reviewing' },
    reviewing: { entry: 'submit', on: { verdict: { target: 'done', actions: assign({ verdict: ({ event }) => event.verdict }) } } },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ chapters: context.chapters, verdict: context.verdict }),
});
const editor = setup({
  actions: { answer: sendToTask(({ event }) => event.origin, ({ event }) => ({ type: 'verdict', verdict: `${event.chapters} chapters: approved` })) },
}).createMachine({ on: { review: { actions: 'answer' } } });

let failedOnce = false;
const runtime = await createRuntime({
  connection: process.env.REDIS_URL,
  prefix: `child-tasks-${process.pid}`,
  machines: { book, chapter, editor },
  agents: {
    write: async ({ input }: { input: { n: number } }) => {
      if (input.n === 2 && !failedOnce) {
        failedOnce = true;
        throw new Error('the model timed out');
      }
      return `chapter ${input.n}`;
    },
  },
});
await runtime.spawn('editor', { id: 'editor' });
const task = await runtime.spawn('book', { id: 'book', input: { editor: 'editor' } });
const done = await task.waitFor((v) => v.status === 'done', { timeoutMs: 20_000 });
console.log(done.output);
const children = await runtime.list({ parent: 'book' });
console.log(children.map((c) => `${c.id} ${c.status}`).sort());
await runtime.close();
