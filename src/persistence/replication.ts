import type { Cluster } from 'ioredis';
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

/** The members of ioredis's Command used here (`slot` is private in its types). */
type WaitCommand = { slot?: number | null; promise: Promise<unknown> };

/**
 * The replication barrier of one connection. {@link after} is called right
 * after a write is sent (in the same tick): a `WAIT` follows it on the same
 * connection (on Redis Cluster, on the connection of the node that holds the
 * key's slot), and it covers every write that connection sent before it, so
 * the writes of one tick share one `WAIT` (one per slot on a cluster).
 * `WAIT` counts the replicas that acknowledged everything up to it.
 */
export class ReplicaWaits {
  private readonly pending = new Map<number, Promise<number>>();

  constructor(
    private readonly redis: RedisLike,
    private readonly durability: Durability,
  ) {}

  /**
   * Resolves once the write just sent for `key` is on enough replicas;
   * rejects with {@link NotReplicatedError} (naming `what()`) when too few
   * acknowledged it in time.
   */
  after(what: () => string, key: string): Promise<void> {
    const slot = this.slotOf(key);
    let wait = this.pending.get(slot);
    if (!wait) {
      wait = new Promise<number>((resolve, reject) => {
        // After the rest of this tick's writes (a microtask runs before the socket is written: see write-batching.ts).
        queueMicrotask(() => {
          this.pending.delete(slot);
          this.send(key).then(resolve, reject);
        });
      });
      this.pending.set(slot, wait);
    }
    const { replicas, timeoutMs } = this.durability;
    return wait.then((acked) => {
      if (acked < replicas) throw new NotReplicatedError(what(), replicas, acked, timeoutMs);
    });
  }

  private send(key: string): Promise<number> {
    const { replicas, timeoutMs } = this.durability;
    if (!(this.redis instanceof ioredis.Cluster)) return this.redis.call('WAIT', replicas, timeoutMs) as Promise<number>;
    // A cluster routes a command by its keys; WAIT has none, so it is given the slot of the key whose write it follows
    // (ioredis's Command keeps it in `slot`), and reaches the same node connection as that write.
    const cmd = new ioredis.Command('wait', [replicas, timeoutMs]);
    const c = cmd as unknown as WaitCommand;
    c.slot = this.slotOf(key);
    (this.redis as Cluster).sendCommand(cmd);
    return c.promise as Promise<number>;
  }

  private slotOf(key: string): number {
    if (!(this.redis instanceof ioredis.Cluster)) return 0;
    return new ioredis.Command('get', [key]).getSlot() as number;
  }
}
