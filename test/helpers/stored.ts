// A task's stored state as the tests that corrupt or inspect it need it, in
// the storage format of src/persistence/parts.ts (format 2: one field per
// actor and per context key), so those tests say what they mean (read the
// stored snapshot, replace it, count history entries) without repeating it.
import type { Redis } from 'ioredis';
import { encodeJson } from '../../src/persistence/codec.js';
import { assemble, isPartField, nodeField, partsOfHash, PARTS_FORMAT, splitSnapshot } from '../../src/persistence/parts.js';

/** The persisted snapshot stored in the state hash `stateKey` (either format), or undefined. */
export async function readStoredSnapshot(redis: Redis, stateKey: string): Promise<Record<string, unknown> | undefined> {
  const parts = partsOfHash(await redis.hgetall(stateKey));
  return parts ? assemble(parts) : undefined;
}

/**
 * Replace the stored snapshot of `stateKey`: an object is written as its parts
 * (every old part removed); a string is written as the root actor's part, raw
 * (garbage stays garbage: what a corrupted store looks like).
 */
export async function writeStoredSnapshot(redis: Redis, stateKey: string, snapshot: Record<string, unknown> | string): Promise<void> {
  const h = await redis.hgetall(stateKey);
  const old = Object.keys(h).filter(isPartField);
  const parts = typeof snapshot === 'string' ? { [nodeField('')]: snapshot } : splitSnapshot(snapshot, encodeJson);
  const p = redis.multi();
  if (old.length) p.hdel(stateKey, ...old);
  p.hdel(stateKey, 'snapshot');
  p.hset(stateKey, { ...parts, format: PARTS_FORMAT });
  await p.exec();
}

/** The stored part fields of `stateKey` (field → raw JSON): compare before and after to tell nothing was rewritten. */
export async function readStoredParts(redis: Redis, stateKey: string): Promise<Record<string, string>> {
  const h = await redis.hgetall(stateKey);
  return Object.fromEntries(Object.entries(h).filter(([f]) => isPartField(f) || f === 'snapshot'));
}

/** How many entries the history key holds (a list; a stream for a task still in format 1). */
export async function historyLength(redis: Redis, historyKey: string): Promise<number> {
  return (await redis.type(historyKey)) === 'stream' ? redis.xlen(historyKey) : redis.llen(historyKey);
}

/** Remove the stored snapshot of `stateKey` (every part, or format 1's field): what a lost snapshot looks like. */
export async function removeStoredSnapshot(redis: Redis, stateKey: string): Promise<void> {
  const fields = Object.keys(await readStoredParts(redis, stateKey));
  if (fields.length) await redis.hdel(stateKey, ...fields);
}
