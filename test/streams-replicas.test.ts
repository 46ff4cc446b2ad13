// With `durability: { replicas: 1 }`, a stream write counts only once a
// replica holds it: with the replica paused, `stream.write` rejects with
// NOT_REPLICATED (the chunk may or may not be kept, as a send's event).
import { afterAll, describe, expect, it } from 'vitest';
import { createRuntime, type AgentContext, type Runtime } from '../src/index.js';
import { talk } from './fixtures/stream-machines.js';
import { redisCommand, startRedis, uniquePrefix, waitUntil, type RedisServerHandle } from './helpers/index.js';

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
});

describe('durable streams with replicas', () => {
  it('a chunk a replica acknowledged resolves; with the replica paused, the write is NOT_REPLICATED', async () => {
    const master: RedisServerHandle = await startRedis();
    closers.push(() => master.stop());
    const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
    closers.push(() => replica.stop());
    await waitUntil(async () => String(await redisCommand(replica.port, ['INFO', 'replication'])).includes('master_link_status:up'), { timeout: 10_000, message: 'the replica in sync' });

    const results: Array<string> = [];
    let paused!: () => void;
    const pausedNow = new Promise<void>((r) => (paused = r));
    const talker = async ({ stream }: AgentContext<{ words: string[] }>) => {
      results.push(await stream.write('kept').then(() => 'ok', (e: { code: string }) => e.code));
      await pausedNow;
      results.push(await stream.write('unsure').then(() => 'ok', (e: { code: string }) => e.code));
      return {};
    };
    const rt: Runtime = await createRuntime({ connection: master.url, prefix: uniquePrefix('stream-rep'), machines: { talk }, agents: { talker }, durability: { replicas: 1, timeoutMs: 300 } });
    closers.push(() => rt.close());
    await rt.spawn('talk', { id: 'r1', input: { words: [] } });
    await waitUntil(() => results.length === 1, { timeout: 10_000, message: 'the first write' });
    expect(results).toEqual(['ok']);
    replica.pause();
    closers.push(async () => replica.resume());
    paused();
    await waitUntil(() => results.length === 2, { timeout: 10_000, message: 'the second write' });
    expect(results).toEqual(['ok', 'NOT_REPLICATED']);
    replica.resume();
  }, 60_000);
});
