/**
 * The machines of figure 9 (state sizes, bench/sizes.ts): a task with a large
 * context, and a task with many child machines.
 */
import { assign, sendTo, setup } from 'xstate';

/** One entry of a task's transcript or findings: about {@link ITEM_BYTES} bytes of JSON. */
export interface Item {
  i: number;
  role: 'user' | 'assistant' | 'tool';
  text: string;
}

export const ITEM_BYTES = 200;
const ROLES = ['user', 'assistant', 'tool'] as const;
const WORDS = 'the agent read source found claim checked against report noted that result step plan draft summary evidence'.split(' ');

/** Item `i`, `bytes` bytes of JSON (at least ~40): deterministic text, different for each `i`. */
export function item(i: number, bytes = ITEM_BYTES): Item {
  const head = { i, role: ROLES[i % 3]!, text: '' };
  const room = Math.max(0, bytes - JSON.stringify(head).length);
  let text = '';
  for (let w = i; text.length < room; w = (w * 31 + 7) % 9973) text += `${WORDS[w % WORDS.length]} `;
  return { ...head, text: text.slice(0, room) };
}

/** Items whose context `{ count: 0, items }` is about `bytes` bytes of JSON (one short item below ~220 B). */
export function bulk(bytes: number): Item[] {
  const empty = JSON.stringify({ count: 0, items: [] }).length;
  const out: Item[] = [];
  let left = bytes - empty;
  while (left > 0) {
    const b = Math.min(ITEM_BYTES, left - (out.length ? 1 : 0)); // a comma between items
    if (b < 40) break;
    out.push(item(out.length, b));
    left -= b + (out.length > 1 ? 1 : 0);
  }
  return out;
}

export const SIZED = 'sized';

/**
 * A task with a large context: `items` (the bulk: a transcript, findings)
 * and a small `count`. `inc` changes only `count`; `add` appends its item to
 * `items` (`items: [...items, item]`).
 */
export const sized = setup({
  types: {
    context: {} as { count: number; items: Item[] },
    events: {} as { type: 'inc' } | { type: 'add'; item: Item },
    input: {} as { bytes: number },
  },
}).createMachine({
  id: SIZED,
  context: ({ input }) => ({ count: 0, items: bulk(input.bytes) }),
  initial: 'running',
  states: {
    running: {
      on: {
        inc: { actions: assign(({ context }) => ({ count: context.count + 1 })) },
        add: { actions: assign(({ context, event }) => ({ items: [...context.items, event.item] })) },
      },
    },
  },
});

/** A child of {@link fanout}: a small context that `inc` changes. */
export const kid = setup({
  types: {
    context: {} as { i: number; n: number },
    events: {} as { type: 'inc' },
    input: {} as { i: number },
  },
}).createMachine({
  id: 'kid',
  context: ({ input }) => ({ i: input.i, n: 0 }),
  initial: 'idle',
  states: {
    idle: { on: { inc: { actions: assign(({ context }) => ({ n: context.n + 1 })) } } },
  },
});

export const FANOUT = 'fanout';

/** Child id of child `k` of a {@link fanout} task. */
export const kidId = (k: number) => `k${k}`;

/**
 * A task with `children` machine children (spawned when it starts, ids
 * `k0`, `k1`, …, each with a small context). `poke` is forwarded to child
 * `k<event.k>` (the root's own context does not change), whose `n` it increments.
 */
export const fanout = setup({
  types: {
    context: {} as { children: number },
    events: {} as { type: 'poke'; k: number },
    input: {} as { children: number },
  },
  actors: { kid },
}).createMachine({
  id: FANOUT,
  context: ({ input, spawn }) => {
    for (let i = 0; i < input.children; i++) spawn('kid', { id: kidId(i), input: { i } });
    return { children: input.children };
  },
  initial: 'running',
  states: {
    running: {
      on: {
        poke: { actions: sendTo(({ event }) => kidId(event.k), { type: 'inc' }) },
      },
    },
  },
});
