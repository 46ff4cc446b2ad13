import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { ioredis } from './cjs.js';
import { ClosedError, InvalidOptionsError, RedisAuthError, RedisNoPermError } from '../errors.js';
import { defineScripts, type RedisLike } from '../persistence/scripts.js';
import { batchWritesPerTick } from './write-batching.js';

/**
 * Where Baton's Redis is: a URL, ioredis options, an existing ioredis
 * instance (single node or cluster), or `{ cluster: nodes }` for Redis Cluster.
 * Defaults to `REDIS_URL`. Every option (password, ACL user, TLS) applies to
 * every connection Baton opens.
 */
export type ConnectionOption =
  | string
  | RedisOptions
  | Redis
  | Cluster
  | { cluster: ClusterNode[]; options?: ClusterOptions };

/** Opens the connections one runtime or client needs, and closes the ones it opened. */
export class Connections {
  private readonly opened: RedisLike[] = [];
  private closed = false;
  private readonly factory: (purpose: 'command' | 'subscriber' | 'blocking') => RedisLike;

  constructor(option: ConnectionOption | undefined) {
    const opt = option ?? process.env.REDIS_URL;
    if (opt === undefined) {
      throw new InvalidOptionsError('no Redis connection: pass `connection` or set REDIS_URL');
    }
    this.factory = makeFactory(opt);
  }

  /** A new connection for `purpose`, owned (and closed) by this object. */
  open(purpose: 'command' | 'subscriber' | 'blocking'): RedisLike {
    // Some connections open on first use: none may open after close (nothing would close it).
    if (this.closed) throw new ClosedError();
    const conn = this.factory(purpose);
    // ioredis reconnects by itself and fails the commands in hand, which reach their callers; without a
    // listener it would also print "[ioredis] Unhandled error event" for every failed reconnect.
    conn.on('error', (err: Error) => {
      if (process.env.BATON_DEBUG) console.error(`[baton] redis ${purpose} connection: ${err.message}`);
    });
    typedRefusals(conn);
    if (purpose === 'command' && conn instanceof ioredis.Redis) batchWritesPerTick(conn);
    defineScripts(conn);
    this.opened.push(conn);
    return conn;
  }

  /** Close every connection this object opened. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.opened.splice(0).map(async (c) => {
        try {
          await c.quit();
        } catch {
          c.disconnect();
        }
      }),
    );
  }
}

/** Redis's permission and credential refusals, as typed errors; other errors pass through. */
function refusal(err: unknown): Error | undefined {
  const message = (err as Error | undefined)?.message;
  if (typeof message !== 'string') return undefined;
  if (message.startsWith('NOPERM')) return new RedisNoPermError(message, err);
  if (message.startsWith('WRONGPASS') || message.startsWith('NOAUTH')) return new RedisAuthError(message, err);
  return undefined;
}

/**
 * Every command sent on `conn` fails with {@link RedisNoPermError} or
 * {@link RedisAuthError} instead of ioredis's ReplyError for those refusals
 * (ioredis has no error hook: the command's reject is wrapped as it is sent).
 */
function typedRefusals(conn: RedisLike): void {
  type Cmd = { reject: (err: unknown) => void };
  const target = conn as unknown as { sendCommand: (command: Cmd, ...rest: unknown[]) => unknown };
  const send = target.sendCommand.bind(conn);
  target.sendCommand = (command: Cmd, ...rest: unknown[]) => {
    const reject = command.reject;
    if (typeof reject === 'function') command.reject = (err: unknown) => reject(refusal(err) ?? err);
    return send(command, ...rest);
  };
}

function tune(purpose: string): RedisOptions {
  // BullMQ's blocking connections need maxRetriesPerRequest: null. The command
  // connection does not auto-pipeline: ioredis keeps one auto-pipeline in flight
  // per connection, which queued commits behind batches of sends (measured in bench/).
  // ioredis resends a command whose reply a dropped connection lost (turning that off leaves its promise
  // pending forever): commits and keyed sends recognise the resend; see docs/reliability.md for unkeyed sends.
  return purpose === 'command' ? {} : { maxRetriesPerRequest: null };
}

function makeFactory(opt: ConnectionOption): (purpose: 'command' | 'subscriber' | 'blocking') => RedisLike {
  if (typeof opt === 'string') {
    return (p) => new ioredis.Redis(opt, tune(p));
  }
  if (opt instanceof ioredis.Redis) {
    return (p) => opt.duplicate(tune(p));
  }
  if (opt instanceof ioredis.Cluster) {
    return (p) => opt.duplicate(undefined, { redisOptions: tune(p) });
  }
  if (typeof opt === 'object' && opt !== null && 'cluster' in opt && Array.isArray(opt.cluster)) {
    const { cluster, options } = opt;
    return (p) =>
      new ioredis.Cluster(cluster, {
        ...options,
        redisOptions: { ...options?.redisOptions, ...tune(p) },
      });
  }
  if (typeof opt === 'object' && opt !== null) {
    const base = opt as RedisOptions;
    return (p) => new ioredis.Redis({ ...base, ...tune(p) });
  }
  throw new InvalidOptionsError('connection must be a URL, ioredis options, an ioredis instance or { cluster: nodes }');
}
