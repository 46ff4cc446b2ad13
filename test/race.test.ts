// Invariants 2 and 3 under contention: two runtime processes race for the
// activations of 50 tasks while several senders feed them.
import { describe, expect, it } from 'vitest';
import { activationQueueName } from '../src/persistence/keys.js';
import { uniquePrefix, waitUntil } from './helpers/index.js';
import { killAllRuntimeProcs, startRuntimeProc } from './helpers/runtime-proc.js';
import { useBaton } from './helpers/setup.js';

const TASKS = 50;
const EVENTS = 20;
const { client, queue } = useBaton({ close: 'all', kill: killAllRuntimeProcs });

describe('two runtime processes race over 50 tasks', () => {
  it('every task applies exactly its events, in order, once; both processes run tasks', async () => {
    const prefix = uniquePrefix('race');
    // One activation at a time each: a worker taking up to 32 at once can take all 50 before the other's
    // poll returns (seen on a loaded machine), and then nothing races.
    const env = { BATON_ACTIVATION_CONCURRENCY: '1' };
    const [p1, p2] = await Promise.all([startRuntimeProc({ prefix, leaseMs: 1000, env }), startRuntimeProc({ prefix, leaseMs: 1000, env })]);
    // A runtime starts its activation workers as it starts, without waiting for them: wait until both take activations.
    const activations = queue(prefix, activationQueueName('counter'));
    await waitUntil(async () => (await activations.getWorkers()).length >= 2, { timeout: 20_000, interval: 20, message: 'both activation workers polling' });
    const senders = [0, 1, 2].map(() => client(prefix));
    const [spawner] = senders;

    const ids = Array.from({ length: TASKS }, (_, i) => `race-${i}`);
    // A plain client's spawn only enqueues an activation: whichever runtime takes it first runs the task.
    await Promise.all(ids.map((id) => spawner!.spawn('counter', { id })));
    await Promise.all(
      ids.map(async (id, t) => {
        for (let i = 0; i < EVENTS; i++) {
          // Sequential per task (so the order is defined), rotating over three senders.
          await senders[(i + t) % senders.length]!.send(id, { type: 'inc', n: `${id}#${i}` });
        }
        await senders[t % senders.length]!.send(id, { type: 'finish' });
      }),
    );

    const views = await Promise.all(ids.map((id) => spawner!.waitFor(id, (v) => v.status !== 'active', { timeout: 30_000 })));
    for (const [t, v] of views.entries()) {
      const id = ids[t]!;
      const expected = Array.from({ length: EVENTS }, (_, i) => `${id}#${i}`);
      expect(v.status, id).toBe('done');
      expect(v.context, id).toEqual({ count: EVENTS, seen: expected });
      const history = await spawner!.history(id);
      expect(history.map((h) => h.seq), id).toEqual(Array.from({ length: history.length }, (_, i) => i + 1));
      expect(history.filter((h) => h.event.type === 'inc').map((h) => h.event.n), id).toEqual(expected);
      expect(history.filter((h) => h.event.type === 'finish'), id).toHaveLength(1);
    }

    // Which process ran which task: each prints the tasks whose actor it started.
    await waitUntil(() => new Set([...p1.held(), ...p2.held()]).size === TASKS, { timeout: 5000, message: 'held reports' });
    const held1 = new Set(p1.held());
    const held2 = new Set(p2.held());
    expect(held1.size, `process 1 ran ${held1.size} tasks, process 2 ran ${held2.size}`).toBeGreaterThan(0);
    expect(held2.size, `process 1 ran ${held1.size} tasks, process 2 ran ${held2.size}`).toBeGreaterThan(0);
  });
});
