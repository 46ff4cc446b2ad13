// "A rejected call writes nothing": every key of a prefix with its full content, before and after.
import type { Redis } from 'ioredis';
import { expect } from 'vitest';

/** Which keys a dump covers: all of the prefix's (and BullMQ's under `{prefix}`), but `skip`, and only `only`'s. */
export interface DumpFilter {
  /** Keys left out: writes the call under test never makes (a live runtime's registry heartbeat). */
  skip?: RegExp;
  /** Keys kept (all when omitted). */
  only?: RegExp;
}

/** Every key of the prefix with its type and content. */
export async function dumpKeys(redis: Redis, prefix: string, filter: DumpFilter = {}): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const pattern of [`${prefix}*`, `{${prefix}}*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        if (filter.skip?.test(key) || (filter.only && !filter.only.test(key))) continue;
        const type = await redis.type(key);
        let content: unknown;
        if (type === 'string') content = await redis.get(key);
        else if (type === 'hash') content = await redis.hgetall(key);
        else if (type === 'stream') content = await redis.xrange(key, '-', '+');
        else if (type === 'zset') content = await redis.zrange(key, '0', '-1', 'WITHSCORES');
        else if (type === 'list') content = await redis.lrange(key, 0, -1);
        else if (type === 'set') content = (await redis.smembers(key)).sort();
        out[key] = { type, content };
      }
    } while (cursor !== '0');
  }
  return out;
}

/** `call` rejects with `code`, and the keys the filter covers are exactly as they were. Returns the error. */
export async function rejectsWritingNothing(redis: Redis, prefix: string, call: () => Promise<unknown>, code: string, filter: DumpFilter = {}): Promise<Error> {
  const before = await dumpKeys(redis, prefix, filter);
  const error = await call().then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error, `expected ${code}`).toBeInstanceOf(Error);
  expect((error as { code?: string }).code, (error as Error).message).toBe(code);
  expect(await dumpKeys(redis, prefix, filter)).toEqual(before);
  return error as Error;
}
