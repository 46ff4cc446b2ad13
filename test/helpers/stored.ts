// A task's stored state as the tests that corrupt or inspect it need it, in
// the storage format of src/persistence/parts.ts (format 2: one field per
// actor and per context key), so those tests say what they mean (read the
// stored snapshot, replace it, count history entries) without repeating it.
import type { Redis } from 'ioredis';
import { encodeJson } from '../../src/persistence/codec.js';
import { isPartField, nodeField, PARTS_FORMAT, splitSnapshot, storedSnapshot } from '../../src/persistence/parts.js';

/** The persisted snapshot stored in the state hash `stateKey` (either format), or undefined. */
export async function readStoredSnapshot(redis: Redis, stateKey: string): Promise<Record<string, unknown> | undefined> {
  return storedSnapshot(await redis.hgetall(stateKey));
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

/** The persisted snapshot of an already read state hash (either format), or undefined; throws on a part that cannot be read. */
export const snapshotOfHash = storedSnapshot;

/** One history entry as stored (format 2's list item; format 1's stream fields, parsed the same way). */
export interface StoredHistoryEntry {
  seq: number;
  e: unknown;
  from: unknown;
  to: unknown;
  at: number;
  [undo: string]: unknown;
}

/** Every entry of the history key, oldest first: a list of JSON entries, or a stream for a task still in format 1. */
export async function readHistory(redis: Redis, historyKey: string): Promise<StoredHistoryEntry[]> {
  if ((await redis.type(historyKey)) === 'stream') {
    const rows = await redis.xrange(historyKey, '-', '+');
    return rows.map(([, f]) => {
      const m: Record<string, string> = {};
      for (let i = 0; i + 1 < f.length; i += 2) m[f[i]!] = f[i + 1]!;
      const json = (s: string | undefined, dflt: unknown) => (s === undefined ? dflt : (JSON.parse(s) as unknown));
      return { seq: Number(m.seq), e: json(m.e, {}), from: json(m.from, null), to: json(m.to, null), at: Number(m.at) };
    });
  }
  return (await redis.lrange(historyKey, 0, -1)).map((s) => JSON.parse(s) as StoredHistoryEntry);
}
