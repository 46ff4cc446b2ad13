import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { ioredis } from './cjs.js';
import { ClosedError, InvalidOptionsError, RedisAuthError, RedisNoPermError, RedisUnreachableError } from '../errors.js';
import { defineScripts, type RedisLike } from '../persistence/scripts.js';
import { batchWritesPerTick } from './write-batching.js';
import { ClosableRedis } from './closable-redis.js';

/**
 * Where Baton's Redis is: a URL (`redis://`, `rediss://`, or
 * `redis-sentinel://host:port[,host:port…]/<master name>` for a
 * Sentinel-managed master), ioredis options (with `sentinels` and `name` for
 * Sentinel), an existing ioredis instance (single node, Sentinel or cluster),
 * or `{ cluster: nodes }` for Redis Cluster. Defaults to `REDIS_URL`. Every
 * option (password, ACL user, TLS) applies to every connection Baton opens.
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
  private primary?: RedisLike;
  private readonly waiting = new WeakMap<RedisLike, Set<Waiter>>();

  constructor(
    option: ConnectionOption | undefined,
    private readonly events: ConnectionEvents = { connectTimeoutMs: 5000, notify: () => undefined },
  ) {
    const opt = option ?? process.env.REDIS_URL;
    if (opt === undefined) {
      throw new InvalidOptionsError('no Redis connection: pass `connection` or set REDIS_URL');
    }
    if (typeof opt === 'string' && !opt.startsWith(SENTINEL_SCHEME)) checkUrl(opt, option === undefined ? 'REDIS_URL' : 'connection');
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
    if (purpose === 'command' && !this.primary) {
      this.primary = conn;
      this.watch(conn);
    }
    typedRefusals(conn);
    if (purpose === 'command' && conn instanceof ioredis.Redis) batchWritesPerTick(conn);
    defineScripts(conn);
    this.opened.push(conn);
    return conn;
  }

  /**
   * Resolve once Redis has been out of reach for `ms`: the first command
   * connection not connected for that long (counted from now if it is not
   * connected now), or an INFO sent now not answered within `ms` (a server
   * that keeps its sockets but stopped answering). `cancel` stops watching.
   * An orderly close races this: its writes would otherwise wait for Redis
   * for good.
   */
  awayFor(ms: number): { away: Promise<void>; cancel(): void } {
    const conn = this.primary;
    let timer: NodeJS.Timeout | undefined;
    let ping: NodeJS.Timeout | undefined;
    let resolve!: () => void;
    const away = new Promise<void>((r) => (resolve = r));
    if (!conn) return { away, cancel: () => undefined };
    const arm = () => (timer ??= setTimeout(resolve, ms));
    const disarm = () => {
      clearTimeout(timer);
      timer = undefined;
    };
    conn.on('close', arm);
    conn.on('ready', disarm);
    if (this.isReady(conn)) {
      // Any reply is an answer (an error too: a lost connection is the `close` above). INFO, not PING:
      // the documented ACL (docs/operate.md) grants +info.
      ping = setTimeout(resolve, ms);
      const answered = () => clearTimeout(ping);
      conn.info('server').then(answered, answered);
    } else arm();
    return {
      away,
      cancel: () => {
        disarm();
        clearTimeout(ping);
        conn.off('close', arm);
        conn.off('ready', disarm);
      },
    };
  }

  /**
   * Disconnect every connection this object opened, now: what they had
   * queued for Redis fails with "Connection is closed." (a close that gave up
   * on Redis). {@link close} still closes them.
   */
  drop(): void {
    for (const c of this.opened) {
      c.disconnect();
      // Not after ioredis's 2 s disconnectTimeout: a server that stopped answering never closes its end.
      for (const node of c instanceof ioredis.Cluster ? c.nodes() : [c as Redis]) node.stream?.destroy();
    }
  }

  /**
   * Run `orderly` (a close's writes, then {@link close}); when Redis is out
   * of reach for `connectTimeoutMs` meanwhile, say so, {@link drop} every
   * connection so those writes fail at once, and let it finish. A close
   * never waits for Redis for good.
   */
  async closeWithin(orderly: () => Promise<void>): Promise<void> {
    const ms = this.events.connectTimeoutMs;
    const watch = this.awayFor(ms);
    const done = orderly();
    try {
      const first = await Promise.race([done.then(() => 'closed' as const), watch.away.then(() => 'away' as const)]);
      if (first === 'away') {
        this.events.notify(`closing without Redis: unreachable for ${ms} ms, what was left to write is dropped (held tasks' leases expire, and other processes take them)`);
        this.drop();
        await done;
      }
    } finally {
      watch.cancel();
    }
  }

  /** Disconnect one connection this object opened, before the rest (a stream reader's own): `close()` then leaves it alone. */
  release(conn: RedisLike): void {
    const at = this.opened.indexOf(conn);
    if (at >= 0) this.opened.splice(at, 1);
    conn.disconnect();
  }

  /** Close every connection this object opened. */
  async close(): Promise<void> {
    this.closed = true;
    // The list is kept until every connection is closed: a close that gives up on Redis drops the ones still quitting.
    await Promise.all(
      [...this.opened].map(async (c) => {
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
    this.opened.length = 0;
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
  if (Array.isArray(o.sentinels)) return `master '${o.name}' via Sentinel ${o.sentinels.map((n) => `${n.host ?? '127.0.0.1'}:${n.port ?? 26379}`).join(', ')}`;
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

const SENTINEL_SCHEME = 'redis-sentinel://';

/**
 * `redis-sentinel://[user:password@]host:port[,host:port…]/<master name>[?db=N]`
 * as ioredis's Sentinel options: the password is the master's (and the
 * Sentinels', unless they need none); `INVALID_OPTIONS` for anything else.
 */
export function parseSentinelUrl(url: string, what = 'connection'): RedisOptions {
  const bad = (why: string): never => {
    throw new InvalidOptionsError(`${what} is not a Sentinel URL (${why}): use redis-sentinel://host:port[,host:port…]/<master name>`);
  };
  let rest = url.slice(SENTINEL_SCHEME.length);
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const auth = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = auth.indexOf(':');
    username = decodeURIComponent(colon < 0 ? '' : auth.slice(0, colon)) || undefined;
    password = decodeURIComponent(colon < 0 ? auth : auth.slice(colon + 1));
  }
  const slash = rest.indexOf('/');
  if (slash < 0) bad('no master name');
  const [path, query = ''] = rest.slice(slash + 1).split('?');
  const name = decodeURIComponent(path ?? '');
  if (!name) bad('no master name');
  const sentinels = rest
    .slice(0, slash)
    .split(',')
    .map((hp) => {
      const m = /^([^:\[\]]+|\[[^\]]+\]):(\d{1,5})$/.exec(hp.trim());
      if (!m) return bad(`'${hp}' is not host:port`);
      return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
    });
  const db = new URLSearchParams(query).get('db');
  if (db !== null && !/^\d+$/.test(db)) bad(`db '${db}' is not a number`);
  return {
    sentinels,
    name,
    ...(username ? { username } : {}),
    ...(password ? { password, sentinelPassword: password } : {}),
    ...(db !== null ? { db: Number(db) } : {}),
  };
}

/**
 * A Sentinel-managed connection: after a failover ioredis asks the Sentinels
 * for the new master when the old one drops the connection; a command
 * refused by a demoted master (`READONLY`) reconnects and is sent again
 * (it was not run, so resending is safe).
 */
function sentinelTuned(o: RedisOptions): RedisOptions {
  return { failoverDetector: true, reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false), ...o };
}

/**
 * A Sentinel connection that keeps reconnecting. ioredis's Sentinel
 * connector gives up for good when it is told to disconnect while it is
 * resolving the master: its failover detector does exactly that on
 * `+switch-master`, which comes while a connection to the dead master is
 * reconnecting. The connect then fails with "Connection is closed.", and
 * the connection ends (status `end`) and never reconnects (ioredis
 * Redis.connect; seen in the redis-failover fault run: one client of five
 * stayed down for good; redis/ioredis#1683 reports the same). A connection
 * that ends right after such a failed connect is connected again; one
 * closed by `quit()` or `disconnect()` ends without that error and stays
 * closed, and its Sentinel connections are closed with it.
 */
function sentinelConnection(options: RedisOptions): Redis {
  const conn = new ClosableRedis(options);
  let failedConnect = false;
  // ioredis does not emit this error for a connection being closed on purpose (silentEmit drops it while
  // manuallyClosing), so a quit() or disconnect() during a connect is not undone here.
  conn.on('error', (err: Error) => {
    failedConnect = err.message === 'Connection is closed.' && conn.status === 'connecting';
  });
  conn.on('ready', () => (failedConnect = false));
  conn.on('end', () => {
    if (!failedConnect) {
      // Closed for good. After quit() ioredis leaves the failover detector's connections to the Sentinels
      // open (redis/ioredis#1362), and they keep the process alive: its connector's disconnect closes them.
      (conn as unknown as { connector?: { disconnect(): void } }).connector?.disconnect();
      return;
    }
    failedConnect = false;
    setTimeout(() => {
      if (conn.status === 'end') conn.connect().catch(() => undefined);
    }, 50).unref();
  });
  return conn;
}

function makeFactory(opt: ConnectionOption): (purpose: 'command' | 'subscriber' | 'blocking') => RedisLike {
  if (typeof opt === 'string' && opt.startsWith(SENTINEL_SCHEME)) {
    const base = sentinelTuned(parseSentinelUrl(opt));
    return (p) => sentinelConnection({ ...base, ...tune(p) });
  }
  if (typeof opt === 'string') {
    return (p) => new ClosableRedis(opt, tune(p));
  }
  if (opt instanceof ioredis.Redis) {
    return (p) => new ClosableRedis({ ...opt.options, ...tune(p) }); // opt.duplicate(), as a ClosableRedis
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
    const given = opt as RedisOptions;
    if (Array.isArray(given.sentinels)) {
      const base = sentinelTuned(given);
      return (p) => sentinelConnection({ ...base, ...tune(p) });
    }
    return (p) => new ClosableRedis({ ...given, ...tune(p) });
  }
  throw new InvalidOptionsError('connection must be a URL, ioredis options, an ioredis instance or { cluster: nodes }');
}
