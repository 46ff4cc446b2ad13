#!/usr/bin/env node
// Baton task runner. Node built-ins only: this runs before `npm install`.
//
//   node scripts/run.mjs <demo|test|bench|bench-peers|chaos> [extra args]
//
// 1. Makes sure node_modules matches package-lock.json (sha256 stamp); for
//    bench-peers, also bench/peers/node_modules (its own package.json and lock).
// 2. Uses $REDIS_URL if set, otherwise starts a private redis-server on a free
//    loopback port (installing it with apt-get when running as root).
// 3. Runs the command with REDIS_URL exported, forwards SIGINT/SIGTERM, stops
//    the private Redis afterwards and exits with the command's exit code.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE_MODULES = path.join(ROOT, 'node_modules');
const STAMP = path.join(NODE_MODULES, '.baton-install-stamp');
const LOCK = path.join(ROOT, 'package-lock.json');
const PEERS_DIR = path.join(ROOT, 'bench', 'peers');
const IS_WIN = process.platform === 'win32';

const REDIS_READY_TIMEOUT_MS = 15_000;
const REDIS_STOP_TIMEOUT_MS = 5_000;

const COMMANDS = {
  demo: (args) => [process.execPath, ['--import', 'tsx', 'examples/demo.ts', ...args]],
  test: (args) => [IS_WIN ? 'npx.cmd' : 'npx', ['vitest', 'run', ...args]],
  bench: (args) => [process.execPath, ['--import', 'tsx', 'bench/index.ts', ...args]],
  'bench-peers': (args) => [process.execPath, ['--import', 'tsx', 'bench/peers/index.ts', ...args]],
  chaos: (args) => [process.execPath, ['--import', 'tsx', 'test/chaos/index.ts', ...args]],
};

function log(msg) {
  process.stderr.write(`[baton/run] ${msg}\n`);
}

function fail(msg, code = 1) {
  log(msg);
  process.exit(code);
}

// ---------------------------------------------------------------- dependencies

function lockHash(file = LOCK) {
  try {
    return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  } catch {
    return null;
  }
}

function npm(args) {
  const r = spawnSync(IS_WIN ? 'npm.cmd' : 'npm', args, { cwd: ROOT, stdio: 'inherit' });
  if (r.error) log(`could not run npm ${args.join(' ')}: ${r.error.message}`);
  return r.status === 0;
}

function ensureDependencies() {
  const before = lockHash();
  let stamp = null;
  try {
    stamp = fs.readFileSync(STAMP, 'utf8').trim();
  } catch {
    /* no stamp */
  }
  const haveModules = fs.existsSync(NODE_MODULES);
  if (haveModules && before !== null && stamp === before) {
    log(`dependencies up to date (package-lock.json sha256 ${before.slice(0, 12)})`);
    return;
  }
  const why = !haveModules
    ? 'node_modules missing'
    : before === null
      ? 'package-lock.json missing'
      : stamp === null
        ? 'no install stamp'
        : 'package-lock.json changed';

  let how;
  if (before !== null && npm(['ci', '--no-audit', '--no-fund'])) {
    how = 'npm ci';
  } else {
    if (before !== null) log('npm ci failed, falling back to npm install');
    if (npm(['install', '--no-audit', '--no-fund'])) {
      how = 'npm install';
    } else if (fs.existsSync(NODE_MODULES)) {
      log('WARNING: dependency install failed; continuing with the existing node_modules');
      return;
    } else {
      fail('dependency install failed and node_modules is missing');
    }
  }
  const after = lockHash();
  if (after !== null) fs.writeFileSync(STAMP, `${after}\n`);
  log(`installed dependencies with ${how} (${why})`);
}

/**
 * bench/peers (the peer benchmark) has its own package.json and lock with the
 * peers' SDKs, kept out of the project's dependencies: same stamp scheme,
 * installed with `npm ci --prefix bench/peers` (install scripts off: none of
 * them needs one, and one would phone home).
 */
function ensurePeerDependencies() {
  const lock = path.join(PEERS_DIR, 'package-lock.json');
  const modules = path.join(PEERS_DIR, 'node_modules');
  const stamp = path.join(modules, '.baton-install-stamp');
  const want = lockHash(lock);
  if (want === null) fail('bench/peers/package-lock.json is missing');
  let have = null;
  try {
    have = fs.readFileSync(stamp, 'utf8').trim();
  } catch {
    /* no stamp */
  }
  if (fs.existsSync(modules) && have === want) {
    log(`bench/peers dependencies up to date (package-lock.json sha256 ${want.slice(0, 12)})`);
    return;
  }
  const why = !fs.existsSync(modules) ? 'node_modules missing' : have === null ? 'no install stamp' : 'package-lock.json changed';
  if (!npm(['ci', '--prefix', 'bench/peers', '--no-audit', '--no-fund', '--ignore-scripts'])) {
    if (fs.existsSync(modules)) {
      log('WARNING: bench/peers dependency install failed; continuing with the existing bench/peers/node_modules');
      return;
    }
    fail('bench/peers dependency install failed and bench/peers/node_modules is missing');
  }
  fs.writeFileSync(stamp, `${want}\n`);
  log(`installed bench/peers dependencies with npm ci (${why})`);
}

// ---------------------------------------------------------------- redis

function onPath(cmd) {
  const exts = IS_WIN ? ['.exe', '.cmd', ''] : [''];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const p = path.join(dir, cmd + ext);
      try {
        fs.accessSync(p, fs.constants.X_OK);
        if (fs.statSync(p).isFile()) return p;
      } catch {
        /* keep looking */
      }
    }
  }
  return null;
}

function ensureRedisServerBinary() {
  let bin = onPath('redis-server');
  if (bin) return bin;
  if (typeof process.getuid === 'function' && process.getuid() === 0) {
    log('redis-server not found on PATH; installing it with apt-get (running as root)');
    const r = spawnSync('sh', ['-c', 'apt-get update && apt-get install -y redis-server'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    bin = onPath('redis-server');
    if (r.status === 0 && bin) return bin;
    fail('apt-get install redis-server failed; install Redis >= 6 manually or set REDIS_URL');
  }
  fail(
    [
      'redis-server was not found on PATH.',
      '  Install it, e.g.  sudo apt-get install -y redis-server   (Debian/Ubuntu)',
      '                    brew install redis                     (macOS)',
      '  or point the tests at an existing server:  REDIS_URL=redis://127.0.0.1:6379 npm test',
    ].join('\n'),
  );
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** One PING over a raw socket; resolves true on +PONG, false otherwise. */
function ping(port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    let buf = '';
    let done = false;
    const sock = net.connect({ host: '127.0.0.1', port });
    const finish = (ok) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) finish(buf.startsWith('+PONG'));
    });
    sock.on('error', () => finish(false));
    sock.on('close', () => finish(false));
  });
}

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

function tail(file, n = 20) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts a private redis-server; returns { url, stop() } . */
async function startPrivateRedis(bin) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-redis-'));
  const logfile = path.join(dir, 'redis.log');
  let lastError = 'unknown error';

  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const proc = spawn(
      bin,
      [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--save', '',
        '--appendonly', 'no',
        '--daemonize', 'no',
        '--dir', dir,
        '--logfile', logfile,
      ],
      { stdio: 'ignore' },
    );
    let exited = null;
    const exitedP = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        exited = { code, signal };
        resolve(exited);
      });
      proc.on('error', (err) => {
        exited = { code: null, signal: null, error: err };
        resolve(exited);
      });
    });

    const deadline = Date.now() + REDIS_READY_TIMEOUT_MS;
    let ready = false;
    while (!exited && Date.now() < deadline) {
      if (await ping(port)) {
        ready = true;
        break;
      }
      await delay(50);
    }
    if (ready) {
      const stop = async () => {
        if (!exited) {
          proc.kill('SIGTERM');
          const t = setTimeout(() => {
            if (!exited) proc.kill('SIGKILL');
          }, REDIS_STOP_TIMEOUT_MS);
          await exitedP;
          clearTimeout(t);
        }
        fs.rmSync(dir, { recursive: true, force: true });
      };
      return { url: `redis://127.0.0.1:${port}`, port, pid: proc.pid, stop, kill: () => proc.kill('SIGKILL') };
    }
    if (!exited) {
      proc.kill('SIGKILL');
      await exitedP;
      lastError = `no PONG within ${REDIS_READY_TIMEOUT_MS} ms`;
    } else {
      lastError = exited.error
        ? exited.error.message
        : `redis-server exited early (code ${exited.code}, signal ${exited.signal})`;
    }
    log(`redis-server on port ${port} failed to start (attempt ${attempt}/3): ${lastError}\n${tail(logfile)}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fail(`could not start a private redis-server: ${lastError}`);
}

// ---------------------------------------------------------------- main

async function main() {
  const [cmd, ...rest] = process.argv.slice(2);
  // `node scripts/run.mjs test -- -t name` behaves like `npm test -- -t name`.
  const extra = rest[0] === '--' ? rest.slice(1) : rest;
  const build = cmd ? COMMANDS[cmd] : undefined;
  if (!build) {
    fail(`usage: node scripts/run.mjs <${Object.keys(COMMANDS).join('|')}> [extra args]`, 2);
  }

  ensureDependencies();
  if (cmd === 'bench-peers') {
    ensurePeerDependencies();
    // The peers are measured as installed packages, compiled: so is Baton (dist/).
    const b = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: 'inherit' });
    if (b.status !== 0) fail('build failed');
  }

  let redis = null;
  let redisUrl = process.env.REDIS_URL;
  if (redisUrl) {
    log(`using REDIS_URL from the environment (${redisUrl.replace(/\/\/[^@/]*@/, '//***@')})`);
  } else {
    const bin = ensureRedisServerBinary();
    redis = await startPrivateRedis(bin);
    redisUrl = redis.url;
    log(`started private redis-server pid ${redis.pid} at ${redisUrl}`);
  }

  // If we die abruptly (uncaught error, process.exit) do not leave Redis behind.
  process.on('exit', () => {
    try {
      redis?.kill();
    } catch {
      /* already gone */
    }
  });

  const [file, args] = build(extra);
  const child = spawn(file, args, {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, REDIS_URL: redisUrl },
  });

  const forward = (sig) => {
    try {
      child.kill(sig);
    } catch {
      /* child gone */
    }
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);

  const result = await new Promise((resolve) => {
    child.on('error', (err) => {
      log(`could not start ${file}: ${err.message}`);
      resolve({ code: 127, signal: null });
    });
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });

  if (redis) {
    await redis.stop();
    redis = null;
  }

  let exitCode = result.code ?? 1;
  if (result.code === null && result.signal) {
    exitCode = 128 + (os.constants.signals[result.signal] ?? 0);
  }
  process.exit(exitCode);
}

main().catch((err) => {
  log(`error: ${err?.stack ?? err}`);
  process.exit(1);
});
