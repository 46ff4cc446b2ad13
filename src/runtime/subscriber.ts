import type { RedisLike } from '../persistence/scripts.js';

/** What Baton uses of ioredis's ClusterSubscriber (not exported by ioredis). */
interface ClusterSubscriberLike {
  selectSubscriber(): void;
  subscriber?: { once(event: 'ready', fn: () => void): unknown } | null;
}

/**
 * One pub/sub connection shared by every listener of a runtime or client:
 * commit notices of watched tasks and wake notices to this process.
 */
export class Subscriber {
  private readonly listeners = new Map<string, Set<(message: string) => void>>();
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(private readonly conn: RedisLike) {
    this.watchReconnects();
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
    this.reconnects.add(fn);
    return () => void this.reconnects.delete(fn);
  }

  private readonly reconnects = new Set<() => void>();

  private reconnected(): void {
    for (const fn of [...this.reconnects]) {
      try {
        fn();
      } catch (err) {
        if (process.env.BATON_DEBUG) console.error(`[baton] a reconnect listener threw: ${(err as Error)?.message ?? String(err)}`);
      }
    }
  }

  /**
   * Call {@link reconnected} each time the pub/sub connection is ready again
   * after a drop. A single node: the connection's own 'ready' (the first one
   * is the initial connection, unless it has happened already). A Cluster
   * subscribes on a connection of its own (ioredis's ClusterSubscriber), which
   * it replaces with a new one on another node when it drops, without an event
   * of the Cluster's: its `selectSubscriber` is wrapped here (the one place
   * Baton reads ioredis internals; test/delta-commits.test.ts's Cluster case
   * fails if it stops working).
   */
  private watchReconnects(): void {
    const cs = (this.conn as unknown as { isCluster?: boolean; subscriber?: ClusterSubscriberLike }).isCluster
      ? (this.conn as unknown as { subscriber?: ClusterSubscriberLike }).subscriber
      : undefined;
    if (cs && typeof cs.selectSubscriber === 'function') {
      const select = cs.selectSubscriber.bind(cs);
      cs.selectSubscriber = () => {
        select();
        cs.subscriber?.once('ready', () => this.reconnected());
      };
      return;
    }
    let first = (this.conn as { status?: string }).status !== 'ready';
    this.conn.on('ready', () => {
      if (first) {
        first = false;
        return;
      }
      this.reconnected();
    });
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
