/**
 * The machines of bench/tasks.ts (child tasks and sends between tasks),
 * after test/fixtures/task-machines.ts: a leaf doing one unit of work, a
 * parent fanning out to `count` leaves as child tasks (`fromTask`) or as
 * XState children inside its own tree; the ping-pong pair is re-exported from the fixtures.
 */
import { assign, fromPromise, setup, spawnChild, type AnyEventObject } from 'xstate';
import { z } from 'zod';
import { fromAgent, fromTask } from '../src/index.js';

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

// The ping-pong pair is the tests' own (test/child-tasks.test.ts measures the same machines for order and loss).
export { pinger, ponger } from '../test/fixtures/task-machines.js';

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
