// A BullMQ queue of a Baton prefix, opened by a test to count jobs (an agent's, or the activations).
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { redisUrl } from './redis-url.ts';

/** The queue `name` of `prefix` (BullMQ keys under `{prefix}`, as Baton opens them); `close` ends it and its connection. */
export function openQueue(prefix: string, name: string): { queue: Queue; close: () => Promise<void> } {
  const conn = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection: conn, prefix: `{${prefix}}` });
  return {
    queue,
    close: async () => {
      await queue.close();
      conn.disconnect();
    },
  };
}

/** The queue `agent-<agent>` (Baton's name for an agent's queue) of `prefix`; `close` ends it and its connection. */
export function openAgentQueue(prefix: string, agent: string): { queue: Queue; close: () => Promise<void> } {
  return openQueue(prefix, `agent-${agent}`);
}
