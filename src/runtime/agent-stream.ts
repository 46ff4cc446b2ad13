import type { StreamStore } from '../persistence/stream-store.js';
import { encodeChunk } from '../persistence/validate.js';
import type { AgentJobData } from './agent-queues.js';

/** What an agent writes its durable stream with (`ctx.stream`). */
export interface StreamWriter {
  /**
   * Append a chunk (JSON data, at most the runtime's `stream.maxChunkBytes`)
   * to the task's durable stream, tagged with this invocation's child path,
   * job and attempt. Resolves with the entry id once stored. Rejects with
   * `PAYLOAD_TOO_LARGE` (nothing written), and with `FENCED` once this
   * attempt was cancelled or a newer one began.
   */
  write(chunk: unknown): Promise<string>;
}

/**
 * One agent attempt's writer. An attempt that may supersede another (a
 * retry, a stalled queue job run again, an invocation a restore dispatched
 * again) begins its run at once, so the older one is fenced from then on;
 * the first attempt of a fresh invocation, in process or from its queue,
 * begins with its first write (nothing to supersede: an agent that never
 * streams costs nothing), and only if no run began.
 */
export class AgentStream implements StreamWriter {
  private run: Promise<number> | undefined;

  constructor(
    private readonly store: StreamStore,
    private readonly d: AgentJobData,
    first: boolean,
    private readonly maxChunkBytes: number,
  ) {
    if (!first) {
      this.run = store.begin(d.taskId, d.jobId, d.childPath, 'next').then((r) => r.run);
      this.run.catch(() => undefined); // seen by the first write; an agent that never writes does not care
    }
  }

  async write(chunk: unknown): Promise<string> {
    const json = encodeChunk(chunk, this.maxChunkBytes);
    const { taskId, jobId, childPath } = this.d;
    if (!this.run) {
      const begun = this.store.begin(taskId, jobId, childPath, 'first', json);
      this.run = begun.then((r) => r.run);
      return (await begun).id;
    }
    const run = await this.run;
    return (await this.store.write(taskId, jobId, run, childPath, json)).id;
  }

  /** The invocation was cancelled: this attempt's writes are refused from now on (one not begun yet: none began). */
  cancel(): void {
    void this.store.close(this.d.taskId, this.d.jobId).catch(() => undefined);
  }
}
