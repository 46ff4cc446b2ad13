/**
 * The machines of bench/tasks.ts (child tasks and sends between tasks),
 * after test/fixtures/task-machines.ts: a leaf doing one unit of work, a
 * parent fanning out to `count` leaves as child tasks (`fromTask`) or as
 * XState children inside its own tree, and the ping-pong pair.
 */
import { assign, fromPromise, setup, spawnChild, type AnyEventObject } from 'xstate';
import { z } from 'zod';
import { fromAgent, fromTask, sendToTask } from '../src/index.js';

/** One unit of work, the same in both fan-outs: one call of agent `square` (n²); ends with `{ n, sq }`. */
export const leaf = setup({
  types: { context: {} as { n: number; sq?: number }, input: {} as { n: number } },
  actors: { square: fromAgent('square', { input: z.object({ n: z.number() }), output: z.object({ sq: z.number() }) }) },
}).createMachine({
  id: 'leaf',
  context: ({ input }) => ({ n: input.n }),
  initial: 'work',
  states: {
    work: {
      invoke: { src: 'square', input: ({ context }) => ({ n: context.n }), onDone: { target: 'done', actions: assign({ sq: ({ event }) => event.output.sq }) } },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ n: context.n, sq: context.sq }),
});

/** The agent of {@link leaf}. */
export const square = async ({ input }: { input: { n: number } }) => ({ sq: input.n * input.n });

/** The same unit of work as an in-process `fromPromise` (`--leaf=promise`). */
export const promiseLeaf = setup({
  types: { context: {} as { n: number; sq?: number }, input: {} as { n: number } },
  actors: { square: fromPromise(async ({ input }: { input: { n: number } }) => ({ sq: input.n * input.n })) },
}).createMachine({
  id: 'promiseLeaf',
  context: ({ input }) => ({ n: input.n }),
  initial: 'work',
  states: {
    work: {
      invoke: { src: 'square', input: ({ context }) => ({ n: context.n }), onDone: { target: 'done', actions: assign({ sq: ({ event }) => event.output.sq }) } },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ n: context.n, sq: context.sq }),
});

type Ctx = { results: Record<string, unknown>; errors: Record<string, unknown> };

/** `count` parallel regions, each invoking `child` with input `{ n: i }` and keeping its output (or error) by index. */
function parentOf(count: number, child: unknown, id: string) {
  const regions: Record<string, object> = {};
  for (let i = 0; i < count; i++) {
    regions[`c${i}`] = {
      initial: 'running',
      states: {
        running: {
          invoke: {
            id: `t${i}`,
            src: 'child',
            input: { n: i },
            onDone: { target: 'finished', actions: assign({ results: ({ context, event }: { context: Ctx; event: AnyEventObject }) => ({ ...context.results, [i]: event.output }) }) },
            onError: { target: 'finished', actions: assign({ errors: ({ context, event }: { context: Ctx; event: AnyEventObject }) => ({ ...context.errors, [i]: event.error }) }) },
          },
        },
        finished: { type: 'final' },
      },
    };
  }
  return setup({ types: { context: {} as Ctx }, actors: { child: child as typeof leaf } }).createMachine({
    id,
    context: { results: {}, errors: {} },
    initial: 'running',
    states: { running: { type: 'parallel', states: regions as never, onDone: 'done' }, done: { type: 'final' } },
    output: ({ context }) => ({ results: Object.keys(context.results).length, errors: context.errors }),
  });
}

/** A parent starting `count` child tasks of `machine` at once (test/fixtures/task-machines.ts's `fanout`). */
export function fanout(count: number, machine = 'leafTask') {
  return parentOf(count, fromTask(machine, { input: z.object({ n: z.number() }) }), 'fanout');
}

/** The same parent with each leaf (`leaf` or `promiseLeaf`) an XState child machine in its own tree (one task). */
export function fanoutTree(count: number, child: typeof leaf | typeof promiseLeaf = leaf) {
  return parentOf(count, child, 'fanoutTree');
}

/** Sends `ping` 0..max-1 to `peer`, each after the `pong` of the one before; counts the ones out of order. */
export const pinger = setup({
  types: {
    context: {} as { peer: string; n: number; max: number; outOfOrder: number },
    input: {} as { peer: string; max: number },
    events: {} as { type: 'pong'; n: number; origin?: string },
  },
  actions: { ping: sendToTask(({ context }: { context: { peer: string; n: number } }) => context.peer, ({ context }: { context: { n: number } }) => ({ type: 'ping', n: context.n })) },
}).createMachine({
  id: 'pinger',
  context: ({ input }) => ({ peer: input.peer, n: 0, max: input.max, outOfOrder: 0 }),
  initial: 'playing',
  states: {
    playing: {
      entry: 'ping',
      on: {
        pong: [
          { guard: ({ context, event }) => event.n !== context.n, actions: assign({ outOfOrder: ({ context }) => context.outOfOrder + 1 }) },
          { guard: ({ context }) => context.n + 1 >= context.max, target: 'done', actions: assign({ n: ({ context }) => context.n + 1 }) },
          { actions: [assign({ n: ({ context }) => context.n + 1 }), 'ping'] },
        ],
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ n: context.n, outOfOrder: context.outOfOrder }),
});

/** Answers every `ping` with a `pong` to its sender (`event.origin`); counts them and the ones out of order. */
export const ponger = setup({
  types: {
    context: {} as { seen: number; outOfOrder: number; from: string },
    events: {} as { type: 'ping'; n: number; origin: string } | { type: 'finish' },
  },
}).createMachine({
  id: 'ponger',
  context: { seen: 0, outOfOrder: 0, from: '' },
  initial: 'serving',
  states: {
    serving: {
      on: {
        ping: {
          actions: [
            assign(({ context, event }) => ({ seen: context.seen + 1, outOfOrder: context.outOfOrder + (event.n === context.seen ? 0 : 1), from: event.origin })),
            sendToTask(({ event }) => event.origin, ({ event }) => ({ type: 'pong', n: event.n })),
          ],
        },
        finish: 'done',
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => context,
});

type SpawnCtx = { results: Record<string, unknown>; errors: Record<string, unknown>; settled: number };
const DONE_PREFIX = 'xstate.done.actor.';
const ERROR_PREFIX = 'xstate.error.actor.';

/**
 * `count` children spawned (`spawnChild`) on entry into one state, each `child`
 * with input `{ n: i }`; each output (or error) kept by index; done when all
 * settled. The same fan-out as {@link fanout} without parallel regions (whose
 * XState cost grows faster than the square of their number: bench/results/README.md).
 */
function spawnerOf(count: number, child: unknown, id: string) {
  const settle = (prefix: string, key: 'results' | 'errors', field: 'output' | 'error') =>
    assign(({ context, event }: { context: SpawnCtx; event: AnyEventObject }) => ({
      [key]: { ...context[key], [event.type.slice(prefix.length).replace(/^t/, '')]: event[field] },
      settled: context.settled + 1,
    })) as never;
  const last = ({ context }: { context: SpawnCtx }) => context.settled + 1 >= count;
  return setup({ types: { context: {} as SpawnCtx }, actors: { child: child as typeof leaf } }).createMachine({
    id,
    context: { results: {}, errors: {}, settled: 0 },
    initial: 'running',
    states: {
      running: {
        entry: Array.from({ length: count }, (_, i) => spawnChild('child', { id: `t${i}`, input: { n: i } })),
        on: {
          [`${DONE_PREFIX}*`]: [
            { guard: last, target: 'done', actions: settle(DONE_PREFIX, 'results', 'output') },
            { actions: settle(DONE_PREFIX, 'results', 'output') },
          ],
          [`${ERROR_PREFIX}*`]: [
            { guard: last, target: 'done', actions: settle(ERROR_PREFIX, 'errors', 'error') },
            { actions: settle(ERROR_PREFIX, 'errors', 'error') },
          ],
        },
      },
      done: { type: 'final' },
    },
    output: ({ context }) => ({ results: Object.keys(context.results).length, errors: context.errors }),
  });
}

/** {@link fanout} with spawned children instead of parallel regions. */
export function spawnFanout(count: number, machine = 'leafTask') {
  return spawnerOf(count, fromTask(machine, { input: z.object({ n: z.number() }) }), 'spawnFanout');
}

/** {@link fanoutTree} with spawned children instead of parallel regions. */
export function spawnFanoutTree(count: number, child: typeof leaf | typeof promiseLeaf = leaf) {
  return spawnerOf(count, child, 'spawnFanoutTree');
}
