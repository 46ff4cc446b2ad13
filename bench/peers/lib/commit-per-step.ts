/**
 * An experiment for profile.ts, not a peer: the cost floor of Baton running
 * each step in-process and committing its result before the next step starts
 * (what a local fast path for agents, or commit-before-start for promise
 * children, would cost). Emulated with the public API: the caller runs the
 * step, sends its result to the task (mailbox append, durable), and waits for
 * the commit that applied it (commit notice) before running the next step.
 * So each step costs a send script and a commit script: an upper bound of a
 * fast path that would need the commit only.
 */
import { assign, setup } from 'xstate';
import { createRuntime, type Runtime } from '../../../dist/index.js';
import type { Peer, PeerCtx } from './peer.js';
import { STEPS, step, stepName, type Results } from './work.js';

const machine = setup({
  types: { context: {} as { results: Results; i: number }, events: {} as { type: 'result'; i: number; output: unknown } },
}).createMachine({
  id: 'commitPerStep',
  context: { results: {}, i: 0 },
  initial: 'running',
  states: {
    running: {
      on: {
        result: [
          {
            guard: ({ context }) => context.i + 1 === STEPS,
            target: 'done',
            actions: assign(({ context, event }) => ({ i: context.i + 1, results: { ...context.results, [stepName(event.i)]: event.output as Results[string] } })),
          },
          { actions: assign(({ context, event }) => ({ i: context.i + 1, results: { ...context.results, [stepName(event.i)]: event.output as Results[string] } })) },
        ],
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => context.results,
});

export function createPeer(ctx: PeerCtx): Peer {
  let rt!: Runtime;
  return {
    config: 'experiment: in-process steps, each result sent to the task and its commit awaited before the next step',
    async setup() {
      rt = await createRuntime({ connection: ctx.redisUrl, prefix: ctx.prefix, machines: { commitPerStep: machine }, leaseMs: ctx.failoverMs });
    },
    async runTask(id) {
      let want = 1;
      let wake: (() => void) | undefined;
      const off = await rt.subscribeReady(id, (v) => {
        if (v.seq >= want && wake) {
          const w = wake;
          wake = undefined;
          w();
        }
      });
      try {
        await rt.spawn('commitPerStep', { id });
        let results: Results = {};
        for (let i = 1; i <= STEPS; i++) {
          const output = await step(id, i, results);
          results = { ...results, [stepName(i)]: output };
          want = i + 1;
          const committed = new Promise<void>((r) => (wake = r));
          await rt.send(id, { type: 'result', i, output: output as unknown as Record<string, unknown> });
          await committed;
        }
        return results;
      } finally {
        off();
      }
    },
    async runParallel() {
      throw new Error('not part of this experiment');
    },
    teardown: () => rt.close(),
  };
}
