// Tests for the shared test helpers in test/helpers.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ping,
  redisCommand,
  runChild,
  startCluster,
  startRedis,
  uniquePrefix,
  waitUntil,
  type ClusterHandle,
  type RedisServerHandle,
} from './helpers/index.ts';

const servers: RedisServerHandle[] = [];
const clusters: ClusterHandle[] = [];
const clients: Array<Redis | Cluster> = [];
const tmpDirs: string[] = [];

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all([...servers.map((s) => s.stop()), ...clusters.map((c) => c.stop())]);
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

function client(url: string): Redis {
  const c = new Redis(url, { maxRetriesPerRequest: 1 });
  clients.push(c);
  return c;
}

describe('startRedis', () => {
  it('keeps AOF data across kill -9 and restart on the same port', async () => {
    const server = await startRedis({ appendonly: true, appendfsync: 'always' });
    servers.push(server);
    expect(await ping(server.port)).toBe(true);
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);

    const key = `${uniquePrefix('aof')}:k`;
    const before = client(server.url);
    expect(await before.set(key, 'durable')).toBe('OK');
    before.disconnect();

    const oldPid = server.pid;
    await server.kill();
    expect(await ping(server.port, 200)).toBe(false);

    await server.restart();
    expect(server.pid).not.toBe(oldPid);
    const after = client(server.url);
    expect(await after.get(key)).toBe('durable');
  });

  it('pause() makes PING time out and resume() brings it back', async () => {
    const server = await startRedis();
    servers.push(server);
    expect(await ping(server.port)).toBe(true);

    server.pause();
    await expect(redisCommand(server.port, ['PING'], 300)).rejects.toThrow(/timed out/);

    server.resume();
    await waitUntil(() => ping(server.port, 200), { timeout: 5000, message: 'PING after resume' });
  });

  it('stop() is graceful, idempotent and removes the data dir', async () => {
    const server = await startRedis({ args: ['--maxmemory', '64mb'] });
    const reply = await redisCommand(server.port, ['CONFIG', 'GET', 'maxmemory']);
    expect(reply).toEqual(['maxmemory', String(64 * 1024 * 1024)]);
    await server.stop();
    await server.stop();
    expect(await ping(server.port, 200)).toBe(false);
    await expect(server.restart()).rejects.toThrow(/stopped/);
  });
});

describe('startCluster', () => {
  it('reaches cluster_state:ok and serves keys from several slots', async () => {
    const cluster = await startCluster(3);
    clusters.push(cluster);
    expect(cluster.nodes).toHaveLength(3);

    for (const n of cluster.nodes) {
      const info = await redisCommand(n.port, ['CLUSTER', 'INFO']);
      expect(String(info)).toContain('cluster_state:ok');
    }

    const c = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } });
    clients.push(c);
    const prefix = uniquePrefix('cluster');
    const keys = Array.from({ length: 20 }, (_, i) => `${prefix}:${i}`);
    for (const k of keys) expect(await c.set(k, `v-${k}`)).toBe('OK');
    for (const k of keys) expect(await c.get(k)).toBe(`v-${k}`);

    const slots = new Set<number>();
    for (const k of keys) slots.add(Number(await redisCommand(cluster.nodes[0]!.port, ['CLUSTER', 'KEYSLOT', k])));
    expect(slots.size).toBeGreaterThan(1);

    // The keys really are spread over more than one master.
    const perNode = await Promise.all(cluster.nodes.map((n) => redisCommand(n.port, ['DBSIZE'])));
    expect(perNode.filter((n) => Number(n) > 0).length).toBeGreaterThan(1);
  });
});

describe('waitUntil', () => {
  it('returns the first truthy value', async () => {
    let n = 0;
    await expect(waitUntil(() => (++n >= 3 ? n : 0))).resolves.toBe(3);
  });

  it('times out with the message and the last value or error', async () => {
    await expect(waitUntil(() => 0, { timeout: 50, message: 'never' })).rejects.toThrow(/never.*last value: 0/);
    await expect(
      waitUntil(
        () => {
          throw new Error('boom');
        },
        { timeout: 50 },
      ),
    ).rejects.toThrow(/last error: Error: boom/);
    await expect(waitUntil(() => new Promise<boolean>(() => {}), { timeout: 50 })).rejects.toThrow(/never completed/);
  });
});

describe('runChild', () => {
  it('collects lines, parses JSON lines and kills the real node process', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'baton-child-'));
    tmpDirs.push(dir);
    const file = path.join(dir, 'child.ts');
    writeFileSync(
      file,
      [
        "const n: number = Number(process.env.N ?? '0');",
        "console.log('hello ' + process.argv[2]);",
        "console.error('on stderr');",
        "console.log(JSON.stringify({ event: 'ready', n, pid: process.pid }));",
        'setInterval(() => {}, 1000);',
      ].join('\n'),
    );
    const child = runChild(file, { env: { N: '7' }, args: ['world'] });
    expect(await child.waitForLine('hello')).toBe('hello world');
    expect(await child.waitForLine(/stderr/)).toBe('on stderr');
    const ready = await child.waitForJson<{ event: string; n: number; pid: number }>((o) => o.event === 'ready');
    expect(ready).toEqual({ event: 'ready', n: 7, pid: child.pid });

    await child.kill();
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await expect(child.waitForLine('never printed', 5000)).rejects.toThrow(/exited/);
  });
});

describe('uniquePrefix', () => {
  it('has no cluster-significant characters', () => {
    const p = uniquePrefix('a:b{c}');
    expect(p).toMatch(/^t-a-b-c--[0-9a-f]{8}$/);
    expect(uniquePrefix('x')).not.toBe(uniquePrefix('x'));
  });
});
