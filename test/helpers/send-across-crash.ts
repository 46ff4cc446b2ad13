// The scenario of a send whose sender is SIGKILLed right after the commit that
// decided it (test/child-tasks-crash.test.ts, on one Redis and on a Cluster).
import type { Cluster, Redis } from 'ioredis';
import { expect } from 'vitest';
import type { BatonClient } from '../../src/index.js';
import { Keys } from '../../src/persistence/keys.js';
import { waitUntil } from './wait.ts';
import { startRuntimeProc } from './runtime-proc.ts';

/**
 * A sender (held by a runtime process) sends `hello` to a target; the
 * delivery is held back, the process SIGKILLed, the hold lifted: the next
 * holder delivers it once, and a third one after another SIGKILL does not
 * deliver it again. `redis` is a plain connection to the same Redis (or Cluster).
 */
export async function sendAcrossCrash(prefix: string, client: BatonClient, redis: Redis | Cluster, env: Record<string, string> = {}): Promise<void> {
  const first = await startRuntimeProc({ prefix, env });
  await client.spawn('ponger', { id: 'tgt' });
  await client.spawn('sender', { id: 'snd', input: { to: 'tgt' } });
  await client.waitFor('snd', (v) => v.seq === 1, { timeout: 10_000 });
  await client.waitFor('tgt', (v) => v.seq === 1, { timeout: 10_000 });

  // Hold the delivery back: the send's idempotency key (derived from sender, seq 2 and index 0) is made a
  // key of the wrong type, so the send script fails and the sender's process keeps retrying it.
  const keys = new Keys(prefix);
  const idemKey = keys.task('tgt').idemPrefix + 'send-snd-2-0';
  await redis.hset(idemKey, 'x', '1');
  await client.send('snd', { type: 'go' });
  await client.waitFor('snd', (v) => v.seq === 2, { timeout: 10_000 });
  // The commit of the step holds the send it decided.
  expect(JSON.parse((await redis.hget(keys.task('snd').state, 'o'))!)).toMatchObject({ seq: 2, sends: [{ target: 'tgt', key: 'send-snd-2-0', event: { type: 'hello' } }] });
  await first.waitForLine(/a send to another task|outbox dispatch failed, retrying/, 10_000);
  await first.kill('SIGKILL');
  expect((await client.history('tgt')).filter((e) => e.event.type === 'hello')).toHaveLength(0);

  // The next holder restores the sender and delivers the send it finds committed.
  await redis.del(idemKey);
  const second = await startRuntimeProc({ prefix, env });
  await waitUntil(async () => (await client.history('tgt')).some((e) => e.event.type === 'hello'), { timeout: 15_000, message: 'the hello to arrive' });
  const hello = (await client.history('tgt')).filter((e) => e.event.type === 'hello');
  expect(hello).toHaveLength(1);
  expect(hello[0]!.event).toMatchObject({ type: 'hello', origin: 'snd' });

  // Delivered again by a third holder (the second dies before any commit of the sender): still once.
  await waitUntil(() => second.held().includes('snd'), { timeout: 10_000, message: 'the second process to hold the sender' });
  await second.kill('SIGKILL');
  await startRuntimeProc({ prefix, env });
  await client.send('snd', { type: 'finish' });
  await client.waitFor('snd', (v) => v.status === 'done', { timeout: 15_000 });
  expect((await client.history('tgt')).filter((e) => e.event.type === 'hello')).toHaveLength(1);
  // The finishing commit dropped the delivered send.
  expect(await redis.hget(keys.task('snd').state, 'o')).toBeNull();
}
