import type { RedisLike } from '../persistence/scripts.js';

/**
 * One pub/sub connection shared by every listener of a runtime or client:
 * commit notices of watched tasks and wake notices to this process.
 */
export class Subscriber {
  private readonly listeners = new Map<string, Set<(message: string) => void>>();
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(private readonly conn: RedisLike) {
    conn.on('message', (channel: string, message: string) => {
      const set = this.listeners.get(channel);
      if (!set) return;
      for (const fn of [...set]) {
        try {
          fn(message);
        } catch (err) {
          // A listener's error is its own; the others still hear the message.
          if (process.env.BATON_DEBUG) console.error(`[baton] listener of ${channel} threw: ${(err as Error)?.message ?? String(err)}`);
        }
      }
    });
  }

  /**
   * Call `fn` whenever the connection is ready again after a drop. Pub/sub is
   * at most once: notices published while it was down are lost, so a holder
   * must then look at its mailboxes itself.
   */
  onReconnect(fn: () => void): () => void {
    // The first 'ready' is the initial connection, unless that has happened already.
    let first = (this.conn as { status?: string }).status !== 'ready';
    const onReady = () => {
      if (first) {
        first = false;
        return;
      }
      fn();
    };
    this.conn.on('ready', onReady);
    return () => void this.conn.off('ready', onReady);
  }

  /** Listen on `channel`; resolves once Redis confirmed the subscription. */
  async listen(channel: string, fn: (message: string) => void): Promise<() => void> {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      this.pending.set(channel, this.conn.subscribe(channel));
    }
    set.add(fn);
    await this.pending.get(channel);
    return () => {
      const s = this.listeners.get(channel);
      if (!s) return;
      s.delete(fn);
      if (s.size === 0) {
        this.listeners.delete(channel);
        this.pending.delete(channel);
        this.conn.unsubscribe(channel).catch(() => undefined);
      }
    };
  }
}
