// Private redis-server processes for tests that need to kill, pause or restart
// Redis (the shared server from `npm test` must never be touched that way).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { killedOnExit } from './reap.ts';

export interface StartRedisOptions {
  /** Enable the append-only file (durability across kill/restart). Default false. */
  appendonly?: boolean;
  /** AOF fsync policy when appendonly is on. Default 'always'. */
  appendfsync?: 'always' | 'everysec';
  /** Extra redis-server arguments, e.g. ['--maxmemory', '10mb']. */
  args?: string[];
}

export interface RedisServerHandle {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** pid of the current redis-server process (changes after restart). */
  readonly pid: number;
  /** Graceful stop (SIGTERM, SIGKILL after 5 s) and removal of the data dir. Idempotent. */
  stop(): Promise<void>;
  /** Send a signal (default SIGKILL) and wait for the process to exit. Keeps the data dir. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start redis-server again on the same port and dir (after kill); waits for PING. */
  restart(): Promise<void>;
  /** SIGSTOP: the server keeps its sockets but stops answering. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
}

export interface ClusterNodeAddress {
  host: string;
  port: number;
}

export interface ClusterHandle {
  nodes: ClusterNodeAddress[];
  /** The underlying servers (same order as nodes), for fault injection. */
  servers: RedisServerHandle[];
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

/** Every process started here, killed synchronously if the test process exits. */
const live = killedOnExit();

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr && typeof addr === 'object') resolve(addr.port);
        else reject(new Error('could not allocate a port'));
      });
    });
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, HOST, () => srv.close(() => resolve(true)));
  });
}

type RespValue = string | number | null | Error | RespValue[];

/** Parses one RESP reply from buf at offset; returns undefined if incomplete. */
function parseResp(buf: Buffer, offset = 0): { value: RespValue; end: number } | undefined {
  const eol = buf.indexOf('\r\n', offset);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[offset] ?? 0);
  const line = buf.toString('utf8', offset + 1, eol);
  switch (type) {
    case '+':
      return { value: line, end: eol + 2 };
    case '-':
      return { value: new Error(line), end: eol + 2 };
    case ':':
      return { value: Number(line), end: eol + 2 };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: eol + 2 };
      const start = eol + 2;
      if (buf.length < start + len + 2) return undefined;
      return { value: buf.toString('utf8', start, start + len), end: start + len + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      const items: RespValue[] = [];
      let pos = eol + 2;
      for (let i = 0; i < n; i++) {
        const item = parseResp(buf, pos);
        if (!item) return undefined;
        items.push(item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`);
  }
}

/**
 * Sends one command over a fresh raw socket and resolves with the reply
 * (Redis errors resolve as Error values). Rejects on connection problems or timeout.
 */
export function redisCommand(port: number, args: string[], timeoutMs = 2000): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let done = false;
    const sock = net.connect({ host: HOST, port });
    const finish = (err: Error | null, value?: RespValue) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value ?? null);
    };
    const timer = setTimeout(
      () => finish(new Error(`${args[0] ?? 'command'} on port ${port} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    sock.on('connect', () => {
      sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''));
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      try {
        const r = parseResp(buf);
        if (r) finish(null, r.value);
      } catch (err) {
        finish(err as Error);
      }
    });
    sock.on('error', (err) => finish(err));
    sock.on('close', () => finish(new Error(`connection to port ${port} closed before a reply`)));
  });
}

/** true when the server on `port` answers PING with PONG within timeoutMs. */
export async function ping(port: number, timeoutMs = 1000): Promise<boolean> {
  try {
    return (await redisCommand(port, ['PING'], timeoutMs)) === 'PONG';
  } catch {
    return false;
  }
}

function readTail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${path.basename(file)})`;
  }
}

function logTail(dir: string, lines = 15): string {
  try {
    return readFileSync(path.join(dir, 'redis.log'), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no redis.log)';
  }
}

interface Running {
  proc: ChildProcess;
  exited: Promise<void>;
  hasExited: () => boolean;
}

function spawnServer(port: number, dir: string, args: string[]): Running {
  return spawnRedis([
    '--port', String(port),
    '--bind', HOST,
    '--save', '',
    '--daemonize', 'no',
    '--dir', dir,
    '--logfile', path.join(dir, 'redis.log'),
    ...args,
  ]);
}

/** `redis-server` with `args`, killed if the test process exits. */
function spawnRedis(args: string[]): Running {
  const proc = spawn('redis-server', args, { stdio: 'ignore' });
  live.add(proc);
  let gone = false;
  const exited = new Promise<void>((resolve) => {
    const done = () => {
      gone = true;
      live.delete(proc);
      resolve();
    };
    proc.once('exit', done);
    proc.once('error', done);
  });
  return { proc, exited, hasExited: () => gone };
}

/** Waits for PONG; throws (after killing the process) if it exits or the deadline passes. */
async function waitReady(r: Running, port: number, dir: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!r.hasExited() && Date.now() < deadline) {
    if (await ping(port, 500)) return;
    await delay(20);
  }
  const why = r.hasExited()
    ? `exited early (code ${r.proc.exitCode}, signal ${r.proc.signalCode})`
    : `did not answer PING within ${READY_TIMEOUT_MS} ms`;
  r.proc.kill('SIGKILL');
  await r.exited;
  throw new Error(`redis-server on port ${port} ${why}\n${logTail(dir)}`);
}

async function terminate(r: Running, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (r.hasExited()) return;
  try {
    r.proc.kill('SIGCONT'); // a paused server cannot handle SIGTERM
    r.proc.kill(signal);
  } catch {
    /* already gone */
  }
  if (signal !== 'SIGKILL') {
    const t = setTimeout(() => r.proc.kill('SIGKILL'), graceMs);
    await r.exited;
    clearTimeout(t);
  } else {
    await r.exited;
  }
}

async function startOn(port: number, dir: string, args: string[]): Promise<Running> {
  const r = spawnServer(port, dir, args);
  await waitReady(r, port, dir);
  return r;
}

/** Spawns a private redis-server on a free loopback port with its own temp dir. */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServerHandle> {
  const args = ['--appendonly', opts.appendonly ? 'yes' : 'no'];
  if (opts.appendonly) args.push('--appendfsync', opts.appendfsync ?? 'always');
  args.push(...(opts.args ?? []));
  return startWithArgs(args);
}

async function startWithArgs(args: string[], pickPort: () => Promise<number> = freePort): Promise<RedisServerHandle> {
  const dir = mkdtempSync(path.join(tmpdir(), 'baton-test-redis-'));
  let port = 0;
  let current: Running | undefined;
  let lastErr: unknown;
  // The free port can be taken between probing and binding: retry a couple of times.
  for (let attempt = 0; attempt < 3 && !current; attempt++) {
    port = await pickPort();
    try {
      current = await startOn(port, dir, args);
    } catch (err) {
      lastErr = err;
    }
  }
  if (!current) {
    rmSync(dir, { recursive: true, force: true });
    throw lastErr;
  }
  let stopped = false;
  let running: Running = current;

  const handle: RedisServerHandle = {
    port,
    url: `redis://${HOST}:${port}`,
    dir,
    get pid() {
      return running.proc.pid ?? -1;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await terminate(running, 'SIGTERM', STOP_TIMEOUT_MS);
      rmSync(dir, { recursive: true, force: true });
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      await terminate(running, signal, STOP_TIMEOUT_MS);
    },
    async restart() {
      if (stopped) throw new Error(`redis-server on port ${port} was stopped; cannot restart`);
      if (!running.hasExited()) await terminate(running, 'SIGKILL', 0);
      running = await startOn(port, dir, args);
    },
    pause() {
      running.proc.kill('SIGSTOP');
    },
    resume() {
      running.proc.kill('SIGCONT');
    },
  };
  return handle;
}

/** A free port p whose cluster bus port p + 10000 is free as well. */
async function freeClusterPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    if (p + 10000 <= 65535 && (await portIsFree(p + 10000))) return p;
  }
  throw new Error('could not find a free port pair for a cluster node');
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(proc);
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('error', (err) => {
      clearTimeout(t);
      live.delete(proc);
      reject(new Error(`could not run ${cmd}: ${err.message}`));
    });
    proc.on('close', (code, signal) => {
      clearTimeout(t);
      live.delete(proc);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (code ${code}, signal ${signal}):\n${out}`));
    });
  });
}

async function clusterInfo(port: number): Promise<Record<string, string>> {
  const reply = await redisCommand(port, ['CLUSTER', 'INFO']);
  if (typeof reply !== 'string') throw new Error(`unexpected CLUSTER INFO reply: ${String(reply)}`);
  const info: Record<string, string> = {};
  for (const line of reply.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) info[line.slice(0, i)] = line.slice(i + 1);
  }
  return info;
}

/**
 * Starts `masters` cluster-enabled redis-servers (and `replicas` replicas of
 * each), joins them with `redis-cli --cluster create` and waits for
 * cluster_state:ok on every node and, with replicas, every replica in sync.
 */
export async function startCluster(masters = 3, opts: { replicas?: number } = {}): Promise<ClusterHandle> {
  if (masters < 3) throw new Error('redis-cli --cluster create needs at least 3 masters');
  const replicas = opts.replicas ?? 0;
  const total = masters * (1 + replicas);
  const servers: RedisServerHandle[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    const clusterArgs = [
      '--cluster-enabled', 'yes',
      '--cluster-config-file', 'nodes.conf',
      '--cluster-node-timeout', '2000',
      '--appendonly', 'no',
    ];
    const started = await Promise.allSettled(
      Array.from({ length: total }, () => startWithArgs(clusterArgs, freeClusterPort)),
    );
    for (const r of started) if (r.status === 'fulfilled') servers.push(r.value);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    const nodes = servers.map((s) => ({ host: HOST, port: s.port }));
    await run(
      'redis-cli',
      ['--cluster', 'create', ...nodes.map((n) => `${n.host}:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'],
      30_000,
    );

    const deadline = Date.now() + 30_000;
    for (;;) {
      const infos = await Promise.all(
        nodes.map((n) => clusterInfo(n.port).catch((e: Error) => ({ error: e.message }) as Record<string, string>)),
      );
      // With replicas: each replica in sync, and every node's slot map naming them.
      const linked = await Promise.all(
        nodes.map(async (n) => {
          if (replicas === 0) return true;
          const info = await redisCommand(n.port, ['INFO', 'replication']).catch(() => '');
          const slots = await redisCommand(n.port, ['CLUSTER', 'SLOTS']).catch(() => []);
          const mapped = Array.isArray(slots) && slots.length > 0 && slots.every((r) => Array.isArray(r) && r.length === 3 + replicas);
          return mapped && typeof info === 'string' && (info.includes('role:master') || info.includes('master_link_status:up'));
        }),
      );
      const ok =
        linked.every(Boolean) &&
        infos.every(
          (i) =>
            i.cluster_state === 'ok' &&
            i.cluster_slots_assigned === '16384' &&
            i.cluster_known_nodes === String(total),
        );
      if (ok) break;
      if (Date.now() > deadline) {
        const summary = infos.map((i) => i.error ?? `state=${i.cluster_state} known=${i.cluster_known_nodes}`);
        throw new Error(`cluster did not reach cluster_state:ok within 30 s: ${summary.join('; ')}`);
      }
      await delay(50);
    }
    return { nodes, servers, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface SentinelGroupHandle {
  /** The master name the Sentinels monitor. */
  name: string;
  master: RedisServerHandle;
  replica: RedisServerHandle;
  /** Sentinel ports (loopback). */
  sentinels: number[];
  /** `redis-sentinel://…/<name>` for Baton's `connection`. */
  url: string;
  /** Port of the master the Sentinels name now (the first Sentinel's view). */
  masterPort(): Promise<number>;
  /** The master port each Sentinel names (0 when one does not answer). */
  views(): Promise<number[]>;
  /** The last lines of each Sentinel's log. */
  logs(lines?: number): string[];
  stop(): Promise<void>;
}

async function sentinelMasterPort(sentinel: number, name: string): Promise<number> {
  const r = await redisCommand(sentinel, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name]);
  return Array.isArray(r) ? Number(r[1]) : 0;
}

export interface SentinelGroupOptions {
  /** Extra redis-server arguments for the master and the replica. */
  args?: string[];
  /** The port the replica replicates from, given the master's (a proxy in front of it); default the master's own. */
  link?: (masterPort: number) => Promise<number>;
  /**
   * Sentinel's failover-timeout. It also delays Sentinel's "fix" of a replica that
   * replicates from another address than the master's (a replica linked through a
   * proxy): no fix within this long of the Sentinels starting. @default 5000
   */
  failoverTimeoutMs?: number;
}

/**
 * A master, one replica of it and `count` Sentinels (quorum: a majority)
 * on free loopback ports, failing over after ~1 s of silence. Resolves once
 * the replica is in sync and every Sentinel knows the replica and the
 * other Sentinels.
 */
export async function startSentinelGroup(count = 3, opts: SentinelGroupOptions = {}): Promise<SentinelGroupHandle> {
  const name = `baton-${Math.random().toString(36).slice(2, 8)}`;
  const extra = opts.args ?? [];
  const master = await startRedis({ args: extra });
  const linkPort = opts.link ? await opts.link(master.port) : master.port;
  const replica = await startRedis({ args: ['--replicaof', HOST, String(linkPort), ...extra] });
  const procs: Running[] = [];
  const dirs: string[] = [];
  const sentinels: number[] = [];
  const stop = async () => {
    await Promise.all(procs.map((p) => terminate(p, 'SIGKILL', 0)));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await Promise.all([master.stop(), replica.stop()]);
  };
  try {
    const quorum = Math.floor(count / 2) + 1;
    for (let i = 0; i < count; i++) {
      const dir = mkdtempSync(path.join(tmpdir(), 'baton-test-sentinel-'));
      dirs.push(dir);
      const port = await freePort();
      const conf = path.join(dir, 'sentinel.conf');
      writeFileSync(
        conf,
        [
          `port ${port}`,
          `bind ${HOST}`,
          `dir ${dir}`,
          `sentinel monitor ${name} ${HOST} ${master.port} ${quorum}`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} ${opts.failoverTimeoutMs ?? 5000}`,
          `sentinel parallel-syncs ${name} 1`,
        ].join('\n') + '\n',
      );
      const r = spawnRedis([conf, '--sentinel', '--logfile', path.join(dir, 'sentinel.log')]);
      procs.push(r);
      await waitReady(r, port, dir);
      sentinels.push(port);
    }
    // Ready: the replica in sync, and every Sentinel sees the replica and the others.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const info = await redisCommand(replica.port, ['INFO', 'replication']);
      const linked = typeof info === 'string' && info.includes('master_link_status:up');
      const views = await Promise.all(
        sentinels.map(async (p) => {
          const m = await redisCommand(p, ['SENTINEL', 'MASTER', name]);
          const f: Record<string, string> = {};
          if (Array.isArray(m)) for (let i = 0; i + 1 < m.length; i += 2) f[String(m[i])] = String(m[i + 1]);
          return Number(f['num-slaves'] ?? 0) >= 1 && Number(f['num-other-sentinels'] ?? 0) >= count - 1;
        }),
      );
      if (linked && views.every(Boolean)) break;
      if (Date.now() > deadline) throw new Error(`Sentinel group ${name} did not settle within 30 s (replica linked: ${linked}, sentinels ready: ${views.join(',')})`);
      await delay(100);
    }
    return {
      name,
      master,
      replica,
      sentinels,
      url: `redis-sentinel://${sentinels.map((p) => `${HOST}:${p}`).join(',')}/${name}`,
      masterPort: () => sentinelMasterPort(sentinels[0]!, name),
      views: () => Promise.all(sentinels.map((p) => sentinelMasterPort(p, name).catch(() => 0))),
      logs: (lines = 30) => dirs.map((d) => `${path.basename(d)}:\n${logTail(d, lines).replace('(no redis.log)', readTail(path.join(d, 'sentinel.log'), lines))}`),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
