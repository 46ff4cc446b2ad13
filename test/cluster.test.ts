import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { createClient, createRuntime, type Runtime } from '../src/index.js';
import { Keys } from '../src/persistence/keys.js';
import { echoTask } from './fixtures/agents.js';
import { counter, timer } from './fixtures/machines.js';
import { startCluster, uniquePrefix, type ClusterHandle } from './helpers/index.js';

// The core path on a local three-master Redis Cluster: every task script runs
// in its task's slot, BullMQ queues share one hash-tagged slot.
describe('Redis Cluster', () => {
  let cluster: ClusterHandle;
  let runtime: Runtime | undefined;
  beforeAll(async () => {
    cluster = await startCluster(3);
  }, 60_000);
  afterAll(async () => {
    await runtime?.close();
    await cluster?.stop();
  });

  it('spawns, sends, runs agents and timers, with keys spread over the masters', async () => {
    const prefix = uniquePrefix('cluster');
    const connection = { cluster: cluster.nodes };
    runtime = await createRuntime({
      connection,
      prefix,
      machines: { counter, echoTask, timer },
      agents: { echo: async ({ input }: { input: { text: string } }) => ({ text: `${input.text}!` }) },
      leaseMs: 1000,
    });
    const client = createClient({ connection, prefix });
    const ids = Array.from({ length: 30 }, (_, i) => `c${i}`);
    // Spawned by a client: activations go through the BullMQ queue to the runtime.
    await Promise.all(ids.map((id) => client.spawn('counter', { id })));
    for (let n = 0; n < 5; n++) await Promise.all(ids.map((id) => client.send(id, { type: 'inc', n: String(n) })));
    await Promise.all(ids.map((id) => client.send(id, { type: 'finish' })));
    const views = await Promise.all(ids.map((id) => client.waitFor(id, (v) => v.status === 'done', { timeout: 20_000 })));
    for (const v of views) expect(v.context).toEqual({ count: 5, seen: ['0', '1', '2', '3', '4'] });

    const agentTask = await runtime.spawn('echoTask', { input: { text: 'slot' } });
    expect((await agentTask.waitFor((v) => v.status === 'done', { timeout: 10_000 })).context).toMatchObject({ result: 'slot!' });
    const timerTask = await runtime.spawn('timer');
    expect((await timerTask.waitFor((v) => v.status === 'done', { timeout: 10_000 })).value).toBe('timedOut');

    // The task keys really are spread across the three masters.
    const raw = new Cluster(cluster.nodes);
    const keys = new Keys(prefix);
    const nodes = new Set<string>();
    for (const id of ids) {
      const slot = (await raw.cluster('KEYSLOT', keys.task(id).state)) as number;
      const owner = raw.slots[slot]?.[0];
      if (owner) nodes.add(owner);
    }
    expect(nodes.size).toBe(3);
    raw.disconnect();
    await client.close();
  });
});
