import type { Redis } from 'ioredis';
import { NotReplicatedError } from '../errors.js';
import { ioredis } from './ioredis.js';
import type { RedisLike } from './scripts.js';

/**
 * How many replicas must hold a write before Baton acts on it: a `send`
 * resolves, a commit counts as landed (its effects are sent, its local sends
 * resolve) and a lease counts as taken only once `replicas` replicas
 * acknowledged it (Redis `WAIT`). `replicas: 0` (the default) waits for none.
 */
export interface Durability {
  /** Replicas that must acknowledge each write. @default 0 */
  replicas: number;
  /** How long to wait for them, in ms, before `NOT_REPLICATED`. @default 1000 */
  timeoutMs: number;
}

/** One node's connection, and how many times it closed (a WAIT counts only its own connection's writes). */
interface Link {
  conn: Redis;
  closes: number;
}

/** Where a write went: the connection it was sent on and its close count then. */
export interface Ticket {
  link: Link | undefined;
  closes: number;
}

/**
 * The replication barrier of one connection. Take a {@link ticket} right
 * before sending a write, and {@link confirm} it once the write's reply says
 * it wrote: a `WAIT` then goes to the same connection (on Redis Cluster, the
 * connection of the node that holds the key's slot), and the writes confirmed
 * in one tick share one `WAIT` per connection.
 *
 * `WAIT` counts the replicas that acknowledged every write *its own
 * connection* sent before it. So the `WAIT` is sent after the reply, not
 * pipelined behind the write (a write retried as EVAL after NOSCRIPT, or
 * resent after a reconnect, or a cluster's retry on another node, would put
 * the write after its `WAIT`), and it proves nothing when the connection
 * closed since the ticket was taken (a new connection's `WAIT` counts none
 * of the old one's writes): that write is NOT_REPLICATED, may or may not be
 * kept, and is retried under its key like any other.
 */
export class ReplicaWaits {
  private readonly links = new WeakMap<Redis, Link>();
  private readonly pending = new Map<Link, Promise<number>>();

  constructor(
    private readonly redis: RedisLike,
    private readonly durability: Durability,
  ) {}

  /** Call right before sending a write for `key`. */
  ticket(key: string): Ticket {
    const link = this.linkOf(key);
    return { link, closes: link?.closes ?? 0 };
  }

  /**
   * Resolves once the write sent under `t` is on enough replicas; rejects
   * with {@link NotReplicatedError} (naming `what()`) when too few
   * acknowledged it in time, or when its connection closed meanwhile.
   */
  confirm(t: Ticket, what: () => string, key: string): Promise<void> {
    const { replicas, timeoutMs } = this.durability;
    const now = this.linkOf(key);
    // No ticket link: the write went out before a cluster knew its slots (the first writes of a new client).
    const link = t.link ?? now;
    const closes = t.link ? t.closes : (now?.closes ?? 0);
    // The slot moved (a failover, a redirect) or the connection closed: a WAIT now would not count that write.
    if (!link || link !== now || link.closes !== closes) return Promise.reject(new NotReplicatedError(what(), replicas, 0, timeoutMs, 'its connection closed or its slot moved before the replicas were asked'));
    let wait = this.pending.get(link);
    if (!wait) {
      wait = new Promise<number>((resolve, reject) => {
        // After the rest of this tick's confirmations: one WAIT covers them all.
        queueMicrotask(() => {
          this.pending.delete(link);
          (link.conn.call('WAIT', replicas, timeoutMs) as Promise<number>).then(resolve, reject);
        });
      });
      this.pending.set(link, wait);
    }
    return wait.then((acked) => {
      if (link.closes !== closes) throw new NotReplicatedError(what(), replicas, 0, timeoutMs, 'its connection closed before the replicas answered');
      if (acked < replicas) throw new NotReplicatedError(what(), replicas, acked, timeoutMs);
    });
  }

  /** The connection a write for `key` goes out on (a cluster: the master the slot map names), with its close count. */
  private linkOf(key: string): Link | undefined {
    let conn: Redis | undefined;
    if (this.redis instanceof ioredis.Cluster) {
      // ioredis keeps the slot map and the node connections in members its types call private.
      const cluster = this.redis as unknown as { slots: string[][]; connectionPool: { getInstanceByKey(k: string): Redis | undefined } };
      const node = cluster.slots[new ioredis.Command('get', [key]).getSlot() as number]?.[0];
      conn = node === undefined ? undefined : cluster.connectionPool.getInstanceByKey(node);
    } else {
      conn = this.redis as Redis;
    }
    if (!conn) return undefined;
    let link = this.links.get(conn);
    if (!link) {
      const l: Link = { conn, closes: 0 };
      conn.on('close', () => l.closes++);
      this.links.set(conn, (link = l));
    }
    return link;
  }
}
