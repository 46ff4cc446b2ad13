import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import { ioredis } from './cjs.js';

const eventHandler = createRequire(import.meta.url)('ioredis/built/redis/event_handler.js') as {
  closeHandler(self: Redis): () => void;
};

/**
 * An ioredis connection that ends when it is disconnected between two
 * reconnect attempts. ioredis's `disconnect()` then clears the retry timer,
 * but no socket is left whose close would end the connection: it stays
 * `reconnecting` for good and never emits `end`. BullMQ's `Worker.close()`
 * disconnects its blocking connection and waits for that `end`, so a runtime
 * closed while Redis was coming back hung (taskforcesh/bullmq#4656; the
 * ioredis fix, redis/ioredis#2169, is not released). Here such a disconnect
 * runs ioredis's own close handler, as that fix does: status `end`, the
 * `end` event, queued commands rejected with "Connection is closed.".
 * Duplicates (BullMQ makes its blocking connection with `duplicate()`) are
 * of this class too.
 */
export class ClosableRedis extends ioredis.Redis {
  constructor(options: RedisOptions);
  constructor(url: string, options: RedisOptions);
  constructor(a: string | RedisOptions, b?: RedisOptions) {
    super(a as string, b as never); // ioredis sorts out which is which
  }

  override disconnect(reconnect = false): void {
    const between = !reconnect && this.status === 'reconnecting';
    super.disconnect(reconnect);
    if (between && this.status === 'reconnecting') eventHandler.closeHandler(this as unknown as Redis)();
  }

  override duplicate(override?: Partial<RedisOptions>): Redis {
    return new ClosableRedis({ ...this.options, ...override }) as unknown as Redis;
  }
}
