import { describe, expect, it } from 'vitest';
import { assign, createActor, fromPromise, setup, toPromise, waitFor } from 'xstate';
import { checkpointDelays, checkpointStates, flushPending, queueUpdate, type CheckpointContext, type CheckpointEvent } from '../../src/machines/index.js';

// A machine of one's own that puts a checkpoint between two phases: its own
// events, actors and delays beside the checkpoint's, and no casts. The file
// type-checks (npx tsc) only while the checkpoint's states fit such a host.
type Ctx = CheckpointContext & { scope: string; drafted?: string; cancelled?: boolean };
type Events = CheckpointEvent | { type: 'cancel' };

const host = setup({
  types: { context: {} as Ctx, events: {} as Events, input: {} as { scope: string } },
  actors: { draft: fromPromise(async ({ input }: { input: { scope: string } }) => `draft for ${input.scope}`) },
  delays: { ...checkpointDelays, patience: 60_000 },
}).createMachine({
  id: 'host',
  context: ({ input }) => ({ scope: input.scope, pending: [], updates: [], decisions: [] }),
  on: { 'context.update': { actions: queueUpdate }, cancel: { target: '.cancelled' } },
  initial: 'drafting',
  states: {
    drafting: {
      invoke: { src: 'draft', input: ({ context }) => ({ scope: context.scope }), onDone: { target: 'drafted', actions: assign({ drafted: ({ event }) => event.output }) } },
      after: { patience: 'cancelled' },
    },
    drafted: {
      initial: 'checkpoint',
      states: checkpointStates<Ctx, Events>({
        name: 'after the draft',
        assess: (u, ctx) => (u.scope === ctx.scope ? { action: 'ignore', reason: 'same scope' } : { action: 'absorb', redo: ['draft'] }),
        absorb: (ctx, _a, u) => ({ scope: String(u.update.scope ?? ctx.scope) }),
        proceed: [
          { guard: ({ context }) => context.updates.at(-1)?.redo?.includes('draft') === true && !context.drafted?.endsWith(context.scope), target: '#host.drafting' },
          { target: '#host.done' },
        ],
      }),
    },
    done: { type: 'final' },
    cancelled: { type: 'final', entry: assign(({ context }) => ({ cancelled: true, ...flushPending(context, 'cancelled', 'cancelled') })) },
  },
  output: ({ context }) => context,
});

describe('checkpointStates in a machine of its own', () => {
  it('an absorbed update sends the host back to its own phase; its own events still work', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = host.provide({ actors: { draft: fromPromise(async ({ input }: { input: { scope: string } }) => { await gate; return `draft for ${input.scope}`; }) } });
    const actor = createActor(slow, { input: { scope: 'world' } }).start();
    actor.send({ type: 'context.update', update: { scope: 'EU' }, by: 'ana' }); // lands while drafting
    release();
    const out = (await toPromise(actor)) as Ctx;
    expect(out).toMatchObject({ scope: 'EU', drafted: 'draft for EU' });
    expect(out.updates).toMatchObject([{ update: { scope: 'EU' }, by: 'ana', outcome: 'absorb', checkpoint: 'after the draft', redo: ['draft'] }]);

    const cancelled = createActor(host, { input: { scope: 'world' } }).start();
    cancelled.send({ type: 'cancel' });
    expect((await waitFor(cancelled, (s) => s.status === 'done', { timeout: 5000 })).context.cancelled).toBe(true);
  });
});
