// A BullMQ queue of a Baton prefix, opened by a test to count an agent's jobs.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { redisUrl } from './redis-url.ts';

/** The queue `agent-<agent>` (Baton's name for an agent's queue) of `prefix`; `close` ends it and its connection. */
export function openAgentQueue(prefix: string, agent: string): { queue: Queue; close: () => Promise<void> } {
  const conn = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  const queue = new Queue(`agent-${agent}`, { connection: conn, prefix: `{${prefix}}` });
  return {
    queue,
    close: async () => {
      await queue.close();
      conn.disconnect();
    },
  };
}
