import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { ioredis } from './cjs.js';
import { ClosedError, InvalidOptionsError, RedisAuthError, RedisNoPermError, RedisUnreachableError } from '../errors.js';
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

const READY = Promise.resolve();

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

/** What {@link Connections} reports about the health of its Redis. */
export interface ConnectionEvents {
  /** How long a call waits for Redis before `REDIS_UNREACHABLE`, in ms. */
  connectTimeoutMs: number;
  /** Told once when Redis is lost after it was reached, and once when it is back. */
  notify: (message: string) => void;
}

/** Opens the connections one runtime or client needs, and closes the ones it opened. */
export class Connections {
  private readonly opened: RedisLike[] = [];
  private closed = false;
  private readonly factory: (purpose: 'command' | 'subscriber' | 'blocking') => RedisLike;
  private readonly lastError = new WeakMap<RedisLike, Error>();
  private watched = false;
  private readonly waiting = new WeakMap<RedisLike, Set<Waiter>>();

  constructor(
    option: ConnectionOption | undefined,
    private readonly events: ConnectionEvents = { connectTimeoutMs: 5000, notify: () => undefined },
  ) {
    const opt = option ?? process.env.REDIS_URL;
    if (opt === undefined) {
      throw new InvalidOptionsError('no Redis connection: pass `connection` or set REDIS_URL');
    }
    if (typeof opt === 'string') checkUrl(opt, option === undefined ? 'REDIS_URL' : 'connection');
    if (!(events.connectTimeoutMs > 0)) throw new InvalidOptionsError('connectTimeoutMs must be a positive number of ms');
    this.factory = makeFactory(opt);
  }

  /**
   * Resolve once `conn` is connected; reject with `REDIS_UNREACHABLE` (naming
   * the address and the last connection error) when it is not within
   * `connectTimeoutMs`. Nothing is sent before it resolves, so a refused call
   * leaves nothing queued to run later.
   */
  ready(conn: RedisLike): Promise<void> {
    if ((conn as { status?: string }).status === 'ready') return READY;
    if (this.closed) return Promise.reject(new ClosedError());
    const ms = this.events.connectTimeoutMs;
    // One pair of listeners per connection however many calls wait (each call keeps its own deadline).
    let waiters = this.waiting.get(conn);
    if (!waiters) {
      const set = new Set<Waiter>();
      waiters = set;
      this.waiting.set(conn, set);
      const done = () => {
        conn.off('ready', onReady);
        conn.off('error', onError);
        this.waiting.delete(conn);
      };
      const onReady = () => {
        done();
        for (const w of set) w.resolve();
      };
      // Refused credentials are an answer, not an outage: say so now (REDIS_AUTH), not at the timeout.
      // (The AUTH command's own reply comes through typedRefusals already typed.)
      const onError = (err: Error) => {
        const typed = err instanceof RedisAuthError || err instanceof RedisNoPermError ? err : refusal(err);
        if (!typed) return;
        done();
        for (const w of set) w.reject(typed);
      };
      conn.on('ready', onReady);
      conn.on('error', onError);
      const last = this.lastError.get(conn);
      if (last !== undefined && (last instanceof RedisAuthError || last instanceof RedisNoPermError || refusal(last))) {
        queueMicrotask(() => onError(last));
      }
    }
    const set = waiters;
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        set.delete(w);
        reject(new RedisUnreachableError(addressOf(conn), ms, this.lastError.get(conn)?.message));
      }, ms);
      set.add(w);
    });
  }

  /** True when `conn` is connected now (a call need not wait). */
  isReady(conn: RedisLike): boolean {
    return (conn as { status?: string }).status === 'ready';
  }

  /** Tell once when the first command connection loses Redis after reaching it, and once when it is back. */
  private watch(conn: RedisLike): void {
    let reached = false;
    let lostAt: number | undefined;
    conn.on('ready', () => {
      if (lostAt !== undefined) this.events.notify(`Redis at ${addressOf(conn)} is back after ${((Date.now() - lostAt) / 1000).toFixed(1)} s`);
      reached = true;
      lostAt = undefined;
    });
    conn.on('error', (err: Error) => {
      if (!reached || lostAt !== undefined || this.closed) return;
      lostAt = Date.now();
      this.events.notify(`lost Redis at ${addressOf(conn)} (${err.message}); retrying with backoff, calls wait or fail with REDIS_UNREACHABLE`);
    });
  }

  /** A new connection for `purpose`, owned (and closed) by this object. */
  open(purpose: 'command' | 'subscriber' | 'blocking'): RedisLike {
    // Some connections open on first use: none may open after close (nothing would close it).
    if (this.closed) throw new ClosedError();
    const conn = this.factory(purpose);
    // ioredis reconnects by itself and fails the commands in hand, which reach their callers; without a
    // listener it would also print "[ioredis] Unhandled error event" for every failed reconnect.
    conn.on('error', (err: Error) => {
      this.lastError.set(conn, err);
      if (process.env.BATON_DEBUG) console.error(`[baton] redis ${purpose} connection: ${err.message}`);
    });
    if (purpose === 'command' && !this.watched) {
      this.watched = true;
      this.watch(conn);
    }
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
        // A connection that never reached Redis would queue the QUIT until it does: drop it.
        if ((c as { status?: string }).status !== 'ready') {
          c.disconnect();
          return;
        }
        try {
          await c.quit();
        } catch {
          c.disconnect();
        }
      }),
    );
  }
}

/**
 * Give a BullMQ queue or worker an 'error' listener: without one, BullMQ
 * prints every failed reconnect's error to the console (the connection's own
 * listener already counts it; BATON_DEBUG shows it).
 */
export function quietErrors<T extends { on(event: 'error', fn: (err: Error) => void): unknown }>(emitter: T, what: string): T {
  emitter.on('error', (err: Error) => {
    if (process.env.BATON_DEBUG) console.error(`[baton] ${what}: ${err.message}`);
  });
  return emitter;
}

/** Refuse, at once, a connection string that is not a Redis URL (the password is never echoed). */
function checkUrl(url: string, what: string): void {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    u = undefined;
  }
  const shown = u ? redact(u) : JSON.stringify(url);
  if (!u || !['redis:', 'rediss:'].includes(u.protocol)) {
    throw new InvalidOptionsError(`${what} ${shown} is not a Redis URL: use redis://host:port (rediss:// for TLS)`);
  }
  if (!u.hostname) throw new InvalidOptionsError(`${what} ${shown} names no host: use redis://host:port`);
}

function redact(u: URL): string {
  const copy = new URL(u.href);
  if (copy.password) copy.password = '***';
  return `'${copy.href}'`;
}

/** `host:port` of a connection (every startup node of a cluster), for messages. */
function addressOf(conn: RedisLike): string {
  if (conn instanceof ioredis.Cluster) {
    const nodes = (conn as unknown as { startupNodes?: Array<{ host?: string; port?: number } | string> }).startupNodes ?? [];
    return nodes.map((n) => (typeof n === 'string' ? n : `${n.host ?? '127.0.0.1'}:${n.port ?? 6379}`)).join(', ') || 'the cluster';
  }
  const o = (conn as Redis).options ?? {};
  return o.path ? o.path : `${o.host ?? '127.0.0.1'}:${o.port ?? 6379}`;
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
