// What `durability` and a redis-sentinel:// connection accept, and the typed
// error for anything else (nothing is opened or written).
import { describe, expect, it } from 'vitest';
import { createClient, ErrorCode, InvalidOptionsError } from '../src/index.js';
import { parseSentinelUrl } from '../src/runtime/connection.js';

const refused = (f: () => unknown): InvalidOptionsError => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidOptionsError);
    expect((err as InvalidOptionsError).code).toBe(ErrorCode.InvalidOptions);
    return err as InvalidOptionsError;
  }
  throw new Error('accepted');
};

describe('durability and Sentinel options', () => {
  it('durability: a whole number of replicas (0 or more) and a positive timeout', () => {
    expect(refused(() => createClient({ connection: 'redis://127.0.0.1:1', durability: { replicas: -1 } })).message).toMatch(/durability.replicas must be a number of at least 0/);
    expect(refused(() => createClient({ connection: 'redis://127.0.0.1:1', durability: { replicas: 1.5 } })).message).toMatch(/whole number/);
    expect(refused(() => createClient({ connection: 'redis://127.0.0.1:1', durability: { replicas: 1, timeoutMs: 0 } })).message).toMatch(/durability.timeoutMs/);
    expect(refused(() => createClient({ connection: 'redis://127.0.0.1:1', durability: 'all' as never })).message).toMatch(/durability must be/);
  });

  it('redis-sentinel:// URLs: Sentinels, master name, credentials and db; anything else is named', () => {
    expect(parseSentinelUrl('redis-sentinel://user:p%40ss@10.0.0.1:26379,[::1]:26380/mymaster?db=2')).toEqual({
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'mymaster',
      username: 'user',
      password: 'p@ss',
      sentinelPassword: 'p@ss',
      db: 2,
    });
    expect(refused(() => parseSentinelUrl('redis-sentinel://h:26379/')).message).toMatch(/no master name/);
    expect(refused(() => parseSentinelUrl('redis-sentinel://h:26379')).message).toMatch(/no master name/);
    expect(refused(() => parseSentinelUrl('redis-sentinel://h/m')).message).toMatch(/'h' is not host:port/);
    expect(refused(() => parseSentinelUrl('redis-sentinel://h:1/m?db=x')).message).toMatch(/db 'x'/);
    // Through `connection` too, before anything is opened.
    expect(refused(() => createClient({ connection: 'redis-sentinel://h:26379' })).message).toMatch(/not a Sentinel URL/);
  });
});
