// Redis Cluster with a replica per master, and `durability.replicas: 1`:
// each write's WAIT goes to the master that holds its key's slot, so with one
// master's replica paused exactly the writes to that master's slots fail with
// NOT_REPLICATED, and every other write resolves.
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotReplicatedError } from '../src/index.js';
import { Keys } from '../src/persistence/keys.js';
import { counter } from './fixtures/machines.js';
import { redisCommand, startCluster, uniquePrefix, type ClusterHandle } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

let cluster: ClusterHandle;
beforeAll(async () => {
  cluster = await startCluster(3, { replicas: 1 });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});
const { client } = useBaton({ connection: () => ({ cluster: cluster.nodes }) });

describe('Redis Cluster with replicas', () => {
  it('waits for the replica of the master that holds each task: a paused replica fails only the writes to its master', async () => {
    const prefix = uniquePrefix('cl-replicas');
    const c = client(prefix, { machines: { counter }, durability: { replicas: 1, timeoutMs: 300 } });
    const ids = Array.from({ length: 24 }, (_, i) => `r${i}`);
    for (const id of ids) await c.spawn('counter', { id });

    // Which master holds each task, and the replica of one of them.
    const raw = new Cluster(cluster.nodes);
    try {
      await raw.ping();
      const masterOf = new Map<string, string>();
      for (const id of ids) {
        const slot = (await raw.cluster('KEYSLOT', new Keys(prefix).task(id).state)) as number;
        masterOf.set(id, raw.slots[slot]![0]!);
      }
      const victim = masterOf.get(ids[0]!)!;
      const replicaKey = raw.slots.find((s) => s?.[0] === victim)![1]!;
      const replica = cluster.servers.find((s) => `127.0.0.1:${s.port}` === replicaKey)!;
      expect(new Set(masterOf.values()).size).toBeGreaterThan(1);
      expect((await redisCommand(replica.port, ['ROLE'])) as unknown[]).toContain('slave');

      replica.pause();
      const outcomes = new Map<string, string>();
      try {
        await Promise.all(
          ids.map(async (id) => {
            const r = await c.send(id, { type: 'inc', n: 'x' }).then(
              () => 'ok',
              (e: unknown) => (e instanceof NotReplicatedError ? 'not-replicated' : String(e)),
            );
            outcomes.set(id, r);
          }),
        );
      } finally {
        replica.resume();
      }
      for (const id of ids) expect(outcomes.get(id), `${id} on ${masterOf.get(id)}`).toBe(masterOf.get(id) === victim ? 'not-replicated' : 'ok');
      // With the replica back, every write resolves again.
      for (const id of ids) await c.send(id, { type: 'inc', n: 'y' }, { idempotencyKey: `${id}-y` });
    } finally {
      raw.disconnect();
    }
  }, 60_000);
});
