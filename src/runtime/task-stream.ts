import { InvalidIdError, TaskNotFoundError } from '../errors.js';
import type { StreamItem, StreamStore } from '../persistence/stream-store.js';
import { streamItem } from '../persistence/stream-store.js';
import type { TaskStore } from '../persistence/task-store.js';
import type { RedisLike } from '../persistence/scripts.js';

/** Where `stream()` starts and what stops it. */
export interface StreamOptions {
  /**
   * `'start'`: everything stored; `'end'`: only what comes from now on; an
   * entry id (the last one a reader saw): what came after it, so a reader
   * that resumes loses and repeats nothing.
   * @default 'start'
   */
  from?: 'start' | 'end' | string;
  /** Aborting it ends the iteration (at once, also while it waits). */
  signal?: AbortSignal;
}

/** How long a reader blocks for new entries before it looks whether the task ended without an end entry, ms. */
const BLOCK_MS = 1000;
const BATCH = 256;

/**
 * A task's durable stream as an async iterable: what is stored from `from`,
 * then live entries as they are appended, until the task's end entry (or,
 * for a task that ended without one, its end status). Reads block on a
 * connection of their own (XREAD BLOCK), opened when the stored part is
 * read and closed when the iteration ends.
 */
export async function* readTaskStream(
  deps: { store: TaskStore; streams: StreamStore; open: () => RedisLike; release: (conn: RedisLike) => void },
  taskId: string,
  options: StreamOptions = {},
): AsyncGenerator<StreamItem, void, undefined> {
  const { store, streams } = deps;
  const from = options.from ?? 'start';
  if (from !== 'start' && from !== 'end' && !/^\d+-\d+$/.test(from)) throw new InvalidIdError(`stream position ${JSON.stringify(from)} is invalid: use 'start', 'end' or an entry id`);
  if (!(await store.machineOf(taskId))) throw new TaskNotFoundError(taskId);
  const signal = options.signal;
  let after = from === 'start' ? '0-0' : from === 'end' ? await streams.lastId(taskId) : from;
  // What is stored: read in batches on the command connection.
  const stored = async function* (): AsyncGenerator<StreamItem, boolean> {
    for (;;) {
      const items = await streams.range(taskId, after, BATCH);
      for (const item of items) {
        after = item.id;
        yield item;
        if (item.kind === 'end') return true;
      }
      if (items.length < BATCH) return false;
    }
  };
  if (yield* stored()) return;
  const key = store.keys.task(taskId).stream;
  let conn: RedisLike | undefined;
  const stop = () => conn && deps.release(conn);
  signal?.addEventListener('abort', stop, { once: true });
  try {
    // Looked at before following, and after each wait that brought nothing: a live reader costs one XREAD per batch.
    let look = true;
    while (!signal?.aborted) {
      if (look) {
        // Ended without an end entry (its stream began after the end, or a quarantine): what is stored is all.
        const [status] = await store.redis.hmget(store.keys.task(taskId).state, 'status');
        if (status !== 'active') {
          yield* stored();
          return;
        }
      }
      conn ??= deps.open();
      let rows: Array<[string, Array<[string, string[]]>]> | null;
      try {
        rows = (await conn.xread('COUNT', BATCH, 'BLOCK', BLOCK_MS, 'STREAMS', key, after)) as typeof rows;
      } catch (err) {
        if (signal?.aborted) return;
        throw err;
      }
      const entries = rows?.[0]?.[1] ?? [];
      look = entries.length === 0;
      for (const [id, fields] of entries) {
        const item = streamItem(id, fields);
        after = id;
        yield item;
        if (item.kind === 'end') return;
      }
    }
  } finally {
    signal?.removeEventListener('abort', stop);
    if (conn) deps.release(conn);
  }
}
