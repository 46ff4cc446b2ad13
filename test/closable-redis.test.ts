// A connection disconnected between two reconnect attempts ends (ioredis leaves it `reconnecting` for good),
// so BullMQ's Worker.close(), which waits for its blocking connection's `end`, returns (taskforcesh/bullmq#4656).
// (A runtime closed while Redis is away, its workers with it: test/redis-unreachable.test.ts.)
import { describe, expect, it } from 'vitest';
import { ClosableRedis } from '../src/runtime/closable-redis.js';
import { startRedis, waitUntil } from './helpers/index.js';

describe('ClosableRedis', () => {
  it('ends at once when disconnected while it waits to reconnect, rejecting what it had queued', async () => {
    const server = await startRedis();
    const conn = new ClosableRedis(server.url, { maxRetriesPerRequest: null });
    conn.on('error', () => undefined);
    try {
      await conn.ping();
      await server.kill('SIGKILL');
      await waitUntil(() => conn.status === 'reconnecting', { message: 'the connection waits to reconnect' });
      const queued = conn.get('k').then(() => 'resolved', (e: Error) => e.message);
      const ended = new Promise<void>((resolve) => conn.once('end', resolve));
      conn.disconnect();
      await ended;
      expect(conn.status).toBe('end');
      expect(await queued).toBe('Connection is closed.');
      // Its duplicates are ClosableRedis too (BullMQ makes its blocking connection with duplicate()).
      const dup = conn.duplicate({ lazyConnect: true });
      expect(dup).toBeInstanceOf(ClosableRedis);
      dup.disconnect();
    } finally {
      await server.stop();
    }
  });
});
