// The replication barrier (persistence/replication.ts): WAIT counts only the
// writes of its own connection, so a write whose connection closed between
// its ticket and its WAIT is NOT_REPLICATED (the new connection's WAIT would
// count none of it), whatever the replicas say.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { NotReplicatedError } from '../src/index.js';
import { ReplicaWaits } from '../src/persistence/replication.js';
import { redisCommand, startRedis, waitUntil, type RedisServerHandle } from './helpers/index.js';

let server: RedisServerHandle | undefined;
afterAll(async () => {
  await server?.stop();
});

describe('ReplicaWaits', () => {
  it('a write whose connection closed before its WAIT is NOT_REPLICATED; on an open one, WAIT decides', async () => {
    server = await startRedis();
    // The primary has a replica: WAIT 1 on an open connection succeeds.
    const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(server.port)] });
    const conn = new Redis(server.url);
    try {
      await waitUntil(async () => String(await redisCommand(replica.port, ['INFO', 'replication'])).includes('master_link_status:up'), { timeout: 10_000, message: 'the replica in sync' });
      const waits = new ReplicaWaits(conn, { replicas: 1, timeoutMs: 2000 });
      const ok = waits.ticket('k');
      await conn.set('k', '1');
      await expect(waits.confirm(ok, () => 'the write', 'k')).resolves.toBeUndefined();

      const t = waits.ticket('k');
      await conn.set('k', '2');
      const closed = new Promise<void>((r) => conn.once('close', () => r()));
      conn.disconnect(true); // reconnects at once: a WAIT on the new connection would count 1
      await closed;
      await conn.ping();
      const err = await waits.confirm(t, () => 'the write', 'k').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotReplicatedError);
      expect((err as Error).message).toMatch(/connection closed/);
    } finally {
      conn.disconnect();
      await replica.stop();
    }
  }, 30_000);
});
