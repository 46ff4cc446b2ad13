import { FencedError, TaskNotFoundError, TaskNotRunningError } from '../errors.js';
import type { Keys } from './keys.js';
import { runScript, ScriptCode, type RedisLike } from './scripts.js';
import { ReplicaWaits, type Durability } from './replication.js';

/**
 * Typed calls over a task's durable stream (stream-3.lua): agents' chunks,
 * the markers of their attempts, the task's end. Writers are fenced by their
 * run number; readers read ranges and block for new entries.
 */

/** One entry of a task's stream, as readers get it. */
export type StreamItem =
  /** A chunk an agent attempt wrote (`stream.write`). */
  | { kind: 'chunk'; id: string; jobId: string; childPath: string[]; attempt: number; data: unknown; at: number }
  /** An agent attempt began writing: chunks of earlier attempts of the same job are superseded. */
  | { kind: 'attempt'; id: string; jobId: string; childPath: string[]; attempt: number; at: number }
  /** The task ended (its last entry). */
  | { kind: 'end'; id: string; status: string; at: number };

/** Limits of a task's stream. */
export interface StreamLimits {
  /** Entries kept (approximately: trimmed with `MAXLEN ~`). */
  maxLength: number;
  /** Entries older than this are trimmed (ms). */
  maxAgeMs: number;
}

/** The defaults of {@link StreamLimits}: 100,000 entries, a day. */
export const STREAM_LIMITS: StreamLimits = { maxLength: 100_000, maxAgeMs: 86_400_000 };

type Reply = [number, ...unknown[]];

/** Parse one XRANGE / XREAD row. */
export function streamItem(id: string, fields: string[]): StreamItem {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  const at = Number(f.t ?? 0);
  if (f.k === 'e') return { kind: 'end', id, status: f.d ? (JSON.parse(f.d) as string) : 'done', at };
  const base = { id, jobId: f.j ?? '', childPath: f.p ? (JSON.parse(f.p) as string[]) : [], attempt: Number(f.n ?? 0), at };
  if (f.k === 'a') return { kind: 'attempt', ...base };
  return { kind: 'chunk', ...base, data: f.d ? JSON.parse(f.d) : null };
}

/** The streams of one prefix's tasks. */
export class StreamStore {
  /** With `durability.replicas` > 0: a write counts only once that many replicas hold it (NOT_REPLICATED otherwise). */
  private readonly replicas: ReplicaWaits | undefined;

  constructor(
    readonly redis: RedisLike,
    readonly keys: Keys,
    private readonly limits: StreamLimits = STREAM_LIMITS,
    durability?: Durability,
  ) {
    this.replicas = durability && durability.replicas > 0 ? new ReplicaWaits(redis, durability) : undefined;
  }

  /**
   * Begin an attempt's writing: `next` takes the next run number; `first`
   * takes run 1 only if no run of the job began (FENCED otherwise), and
   * appends `chunk` with it when given. Resolves with the run and the last id.
   */
  begin(taskId: string, jobId: string, childPath: string[], mode: 'first' | 'next', chunk = ''): Promise<{ run: number; id: string }> {
    return this.call(taskId, mode, jobId, '', childPath, chunk);
  }

  /** Append a chunk (JSON) of run `run`; FENCED when the run is no longer the current one. */
  write(taskId: string, jobId: string, run: number, childPath: string[], chunk: string): Promise<{ run: number; id: string }> {
    return this.call(taskId, 'write', jobId, String(run), childPath, chunk);
  }

  /** Close the job's current run (or `run` only, if still current): its writes are refused from now on. */
  async close(taskId: string, jobId: string, run?: number): Promise<void> {
    await this.call(taskId, 'close', jobId, run === undefined ? '' : String(run), [], '');
  }

  private async call(taskId: string, op: string, jobId: string, run: string, childPath: string[], chunk: string): Promise<{ run: number; id: string }> {
    const k = this.keys.task(taskId);
    const now = Date.now();
    const t = this.replicas?.ticket(k.state);
    const reply = await runScript<Reply>(this.redis, 'batonStream', [k.state, k.stream, k.runs], [
      op,
      jobId,
      run,
      JSON.stringify(childPath),
      now,
      chunk,
      this.limits.maxLength,
      `${Math.max(0, now - this.limits.maxAgeMs)}-0`,
    ]);
    switch (reply[0]) {
      case ScriptCode.Ok:
        if (t) await this.replicas!.confirm(t, () => `a stream ${op === 'write' ? 'chunk' : 'run'} of task '${taskId}'`, k.state);
        return { run: Number(reply[1]), id: String(reply[2]) };
      case ScriptCode.NotFound:
        throw new TaskNotFoundError(taskId);
      case ScriptCode.NotRunning:
        throw new TaskNotRunningError(taskId, String(reply[1]));
      default:
        throw new FencedError(taskId, `task '${taskId}': this attempt of agent job '${jobId}' no longer writes its stream (a newer attempt began, or it was cancelled)`);
    }
  }

  /** Entries after `after` (exclusive), oldest first, at most `count`. */
  async range(taskId: string, after: string, count: number): Promise<StreamItem[]> {
    const rows = await this.redis.xrange(this.keys.task(taskId).stream, `(${after}`, '+', 'COUNT', count);
    return rows.map(([id, fields]) => streamItem(id, fields));
  }

  /** Id of the stream's last entry ('0-0' when empty). */
  async lastId(taskId: string): Promise<string> {
    const rows = await this.redis.xrevrange(this.keys.task(taskId).stream, '+', '-', 'COUNT', 1);
    return rows[0]?.[0] ?? '0-0';
  }
}
