/**
 * Infrastructure the orchestrator owns for the whole run: free loopback ports,
 * the Restate server (from @restatedev/restate-server, own temp data folder),
 * per-run PostgreSQL databases, and the Redis key cleanup.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { PEERS_DIR } from './peer.js';
import { sleep } from './stats.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

// ---------------------------------------------------------------- Restate

export interface RestateServer {
  ingress: string;
  admin: string;
  pid: number;
  version: string;
  /** How the server's own start-up release check was kept off the network. */
  releaseCheck: string;
  stop(): Promise<void>;
}

function restateBinary(): string {
  const req = createRequire(path.join(PEERS_DIR, 'package.json'));
  return req.resolve(`@restatedev/restate-server-${os.platform()}-${os.arch()}/bin/restate-server`);
}

/**
 * Start restate-server on free loopback ports with its own data folder.
 * Telemetry is disabled by configuration. The server also asks GitHub for its
 * latest release at start-up, unconditionally; when we are root and
 * `unshare` exists, the server runs in a private mount namespace whose
 * /etc/hosts points api.github.com at 127.0.0.1, so that check never leaves
 * the machine (it fails at once on a refused loopback connection).
 */
export async function startRestateServer(log: (m: string) => void): Promise<RestateServer> {
  const bin = restateBinary();
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^restate-server\s*/, '');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bpeers-restate-'));
  const [ingressPort, adminPort, fabricPort] = [await freePort(), await freePort(), await freePort()];
  const env = {
    ...process.env,
    DO_NOT_TRACK: '1',
    RESTATE_DISABLE_TELEMETRY: 'true',
    RESTATE_LISTEN_MODE: 'tcp',
    RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${ingressPort}`,
    RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${adminPort}`,
    RESTATE_BIND_ADDRESS: `127.0.0.1:${fabricPort}`,
    RESTATE_ADVERTISED_ADDRESS: `http://127.0.0.1:${fabricPort}/`,
    RESTATE_LOG_FILTER: 'warn',
    RESTATE_LOG_DISABLE_ANSI_CODES: 'true',
  };
  const args = ['--base-dir', dir, '--no-logo', '--node-name', 'bench'];
  const logFile = path.join(dir, 'server.log');
  const fd = openSync(logFile, 'a');
  let proc: ChildProcess;
  let releaseCheck: string;
  const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['--version']).status === 0;
  if (canUnshare) {
    const hosts = path.join(dir, 'hosts');
    writeFileSync(hosts, `${readFileSync('/etc/hosts', 'utf8')}\n127.0.0.1 api.github.com\n`);
    // `exec` keeps the pid: unshare → sh → restate-server, all one process.
    proc = spawn('unshare', ['-m', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hosts, bin, ...args], {
      env,
      stdio: ['ignore', fd, fd],
    });
    releaseCheck = 'start-up GitHub release check pointed at 127.0.0.1 (private mount namespace /etc/hosts)';
  } else {
    proc = spawn(bin, args, { env, stdio: ['ignore', fd, fd] });
    releaseCheck = 'start-up GitHub release check not intercepted (not root or no unshare)';
  }
  closeSync(fd);
  let exited = false;
  const exitedP = new Promise<void>((resolve) => proc.on('exit', () => ((exited = true), resolve())));
  const ingress = `http://127.0.0.1:${ingressPort}`;
  const admin = `http://127.0.0.1:${adminPort}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`restate-server exited at start-up: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    try {
      const [a, i] = await Promise.all([fetch(`${admin}/health`), fetch(`${ingress}/restate/health`)]);
      if (a.ok && i.ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`restate-server not healthy within 60 s: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    }
    await sleep(100);
  }
  log(`restate-server ${version} pid ${proc.pid}: ingress ${ingress}, admin ${admin}`);
  return {
    ingress,
    admin,
    pid: proc.pid!,
    version,
    releaseCheck,
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exitedP;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- PostgreSQL

export function pgDatabaseUrl(base: string, db: string): string {
  const u = new URL(base);
  u.pathname = `/${db}`;
  return u.toString();
}

export async function pgAdmin<T>(base: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function createDatabase(base: string, db: string): Promise<string> {
  if (!/^[a-z0-9_]+$/.test(db)) throw new Error(`bad database name ${db}`);
  await pgAdmin(base, (c) => c.query(`CREATE DATABASE ${db}`));
  return pgDatabaseUrl(base, db);
}

export async function dropDatabase(base: string, db: string): Promise<void> {
  if (!/^[a-z0-9_]+$/.test(db)) throw new Error(`bad database name ${db}`);
  await pgAdmin(base, (c) => c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`));
}

export async function pgInfo(base: string): Promise<Record<string, string>> {
  return pgAdmin(base, async (c) => {
    const v = (await c.query('SHOW server_version')).rows[0].server_version as string;
    const s = await c.query(`SELECT name, setting FROM pg_settings WHERE name IN ('fsync','synchronous_commit','wal_sync_method','max_connections')`);
    return { version: v, ...Object.fromEntries(s.rows.map((r: { name: string; setting: string }) => [r.name, r.setting])) };
  });
}

// ---------------------------------------------------------------- Redis

export async function redisInfo(url: string): Promise<Record<string, string>> {
  const r = new Redis(url, { maxRetriesPerRequest: 2 });
  try {
    const server = await r.info('server');
    const persistence = await r.info('persistence');
    const conf = (await r.config('GET', 'appendfsync').catch(() => [])) as string[];
    const save = (await r.config('GET', 'save').catch(() => [])) as string[];
    return {
      version: server.match(/^redis_version:(\S+)/m)?.[1] ?? 'unknown',
      appendonly: persistence.match(/^aof_enabled:(\d)/m)?.[1] === '1' ? 'yes' : 'no',
      appendfsync: conf[1] ?? 'unknown',
      save: save[1] === '' ? '(none)' : (save[1] ?? 'unknown'),
    };
  } finally {
    await r.quit().catch(() => r.disconnect());
  }
}

/**
 * Turn on the append-only file with the given fsync policy for this run
 * (PEERS_REDIS_APPENDFSYNC=everysec|always); returns a function restoring the
 * previous settings.
 */
export async function redisAof(url: string, appendfsync: string): Promise<() => Promise<void>> {
  if (!['always', 'everysec', 'no'].includes(appendfsync)) throw new Error(`PEERS_REDIS_APPENDFSYNC must be always, everysec or no (got '${appendfsync}')`);
  const r = new Redis(url, { maxRetriesPerRequest: 2 });
  const before = {
    appendonly: ((await r.config('GET', 'appendonly')) as string[])[1] ?? 'no',
    appendfsync: ((await r.config('GET', 'appendfsync')) as string[])[1] ?? 'everysec',
  };
  await r.config('SET', 'appendfsync', appendfsync);
  await r.config('SET', 'appendonly', 'yes');
  // Wait for the initial rewrite to finish, so the run measures steady state.
  for (let i = 0; i < 600; i++) {
    const p = await r.info('persistence');
    if (/^aof_rewrite_in_progress:0/m.test(p) && /^aof_enabled:1/m.test(p)) break;
    await sleep(100);
  }
  await r.quit();
  return async () => {
    const c = new Redis(url, { maxRetriesPerRequest: 2 });
    await c.config('SET', 'appendonly', before.appendonly).catch(() => undefined);
    await c.config('SET', 'appendfsync', before.appendfsync).catch(() => undefined);
    await c.quit().catch(() => c.disconnect());
  };
}

/** Delete every key of this run (Baton's `P:*`, BullMQ's `{P}:*`, counters). Returns the count. */
export async function cleanupRedis(url: string, runId: string): Promise<number> {
  const r = new Redis(url, { maxRetriesPerRequest: 2 });
  let n = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `*bpeers-${runId}*`, 'COUNT', 5000);
      cursor = next;
      if (keys.length) n += await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    await r.quit().catch(() => r.disconnect());
  }
  return n;
}
