// No silent hangs: a bad Redis URL is refused at once, an unreachable Redis is a
// typed error within `connectTimeoutMs` naming the address and the cause, and a
// runtime that loses Redis says so once and says when it is back.
import { execFile } from 'node:child_process';
import { describe, expect, it, vi } from 'vitest';
import { counter } from './fixtures/machines.js';
import { createClient, createRuntime, ErrorCode } from '../src/index.js';
import { freePort, REPO_ROOT, startRedis, waitUntil } from './helpers/index.js';

function baton(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/baton.mjs', ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr, ms: Date.now() - t0 }),
    );
  });
}

const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string; message: string }) => e);

describe('an unreachable Redis', () => {
  it('a URL that is not a Redis URL is INVALID_OPTIONS at once, naming it (and never its password)', () => {
    for (const url of ['http://foo', 'nonexistent.invalid', 'redis://', 'localhost:6379', 'redis//x']) {
      expect(() => createClient({ connection: url }), url).toThrow(expect.objectContaining({ code: ErrorCode.InvalidOptions }));
    }
    try {
      createClient({ connection: 'http://user:secret@foo' });
    } catch (err) {
      expect((err as Error).message).toContain('http://user:***@foo');
      expect((err as Error).message).not.toContain('secret');
    }
  });

  it('a client call and createRuntime fail with REDIS_UNREACHABLE within connectTimeoutMs, naming host, port and cause', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const client = createClient({ connection: url, connectTimeoutMs: 400, log: () => undefined });
    const t0 = Date.now();
    const err = (await codeOf(client.get('x'))) as { code?: string; message: string };
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(err.code).toBe(ErrorCode.RedisUnreachable);
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).toMatch(/ECONNREFUSED/);
    for (const call of [() => client.spawn('x'), () => client.send('t', { type: 'e' }), () => client.list()]) {
      expect(((await codeOf(call())) as { code?: string }).code).toBe(ErrorCode.RedisUnreachable);
    }
    // Many calls waiting at once share one pair of listeners on the connection (no MaxListeners warning).
    const ready = client.store.redis.listenerCount('ready');
    const many = Array.from({ length: 50 }, (_, i) => codeOf(client.get(`m${i}`)));
    expect(client.store.redis.listenerCount('ready') - ready).toBeLessThanOrEqual(2);
    expect(new Set((await Promise.all(many)).map((e) => (e as { code?: string }).code))).toEqual(new Set([ErrorCode.RedisUnreachable]));
    await client.close();

    const rt = (await codeOf(createRuntime({ connection: url, machines: { counter }, connectTimeoutMs: 400, log: () => undefined }))) as { code?: string };
    expect(rt.code).toBe(ErrorCode.RedisUnreachable);
    // An unresolvable host says so too.
    const dns = createClient({ connection: 'redis://nonexistent.invalid:6379', connectTimeoutMs: 400, log: () => undefined });
    const e2 = (await codeOf(dns.get('x'))) as { code?: string; message: string };
    expect(e2.code).toBe(ErrorCode.RedisUnreachable);
    expect(e2.message).toMatch(/nonexistent\.invalid/);
    await dns.close();
  });

  it('the CLI prints one line with the code within seconds, and refuses a bad URL at once', async () => {
    const port = await freePort();
    const down = await baton(['ps', '--redis', `redis://127.0.0.1:${port}`]);
    expect(down.code).toBe(1);
    expect(down.ms).toBeLessThan(15_000); // the default connectTimeoutMs is 5 s
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    expect(down.stderr).toContain(`127.0.0.1:${port}`);
    expect(down.stderr).toContain('[REDIS_UNREACHABLE]');
    const bad = await baton(['send', 'x', '{"type":"a"}', '--redis', 'http://foo']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('[INVALID_OPTIONS]');
    expect(bad.stderr).toContain('http://foo');
  });

  it('a runtime that loses Redis says so once, keeps retrying, says when it is back, and carries on', async () => {
    const server = await startRedis();
    const said: string[] = [];
    const rt = await createRuntime({ connection: server.url, prefix: 'lost', machines: { counter }, leaseMs: 2000, log: (m) => said.push(m) });
    try {
      const task = await rt.spawn('counter', { id: 'c' });
      await task.waitFor((v) => v.seq >= 1);
      let failures = 0;
      rt.store.redis.on('error', () => failures++);
      await server.kill('SIGKILL');
      await waitUntil(() => said.some((m) => m.startsWith('lost Redis')), { timeout: 10_000 });
      // Several reconnect attempts fail meanwhile; it is said once.
      await waitUntil(() => failures >= 3, { timeout: 10_000, message: 'three failed reconnects' });
      await server.restart();
      await waitUntil(() => said.some((m) => m.includes('is back after')), { timeout: 15_000 });
      expect(said.filter((m) => m.startsWith('lost Redis'))).toHaveLength(1);
      expect(said.find((m) => m.startsWith('lost Redis'))).toContain(`127.0.0.1:${server.port}`);
      // The restarted Redis is empty (no AOF): a new task runs there.
      const again = await rt.spawn('counter', { id: 'c2' });
      await again.send({ type: 'inc', n: '1' });
      expect((await again.waitFor((v) => (v.context as { count: number }).count === 1, { timeout: 10_000 })).seq).toBe(2);
    } finally {
      await rt.close();
      await server.stop();
    }
  });

  for (const away of ['killed', 'paused'] as const) {
    it(`a runtime and a client close while Redis is ${away}: they wait connectTimeoutMs for it, say so, and drop what was left`, async () => {
      const server = await startRedis();
      const said: string[] = [];
      const options = { connection: server.url, prefix: 'gone', machines: { counter }, connectTimeoutMs: 500 };
      const rt = await createRuntime({ ...options, log: (m: string) => void said.push(m) });
      const client = createClient({ ...options, log: () => undefined });
      try {
        const task = await rt.spawn('counter', { id: 'g' });
        await client.send('g', { type: 'inc', n: '1' });
        await task.waitFor((v) => v.seq >= 2);
        if (away === 'killed') await server.kill('SIGKILL');
        else server.pause();
        // Both waited for Redis for good before: BullMQ's workers, the registry's goodbye, the releases, the QUITs.
        const t0 = Date.now();
        await rt.close();
        await client.close();
        expect(Date.now() - t0).toBeLessThan(15_000);
        // The runtime had a lease to release and a registry entry to take back: it says it gave up on them.
        expect(said.filter((m) => m.startsWith('closing without Redis'))).toHaveLength(1);
        expect(rt.heldCount).toBe(0);
      } finally {
        if (away === 'paused') server.resume();
        await server.stop();
      }
    });
  }

  it("a client whose Redis goes away prints nothing raw while it reconnects (BullMQ's queues have a listener)", async () => {
    const server = await startRedis();
    const printed: unknown[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void printed.push(args));
    const client = createClient({ connection: server.url, prefix: 'noise', machines: { counter }, log: () => undefined });
    try {
      await client.spawn('counter', { id: 'n1' }); // opens the client's activation queue
      let failures = 0;
      client.store.redis.on('error', () => failures++);
      await server.kill('SIGKILL');
      await waitUntil(() => failures >= 3, { timeout: 10_000, message: 'three failed reconnects' });
      expect(printed).toEqual([]);
      await server.restart();
    } finally {
      spy.mockRestore();
      await client.close();
      await server.stop();
    }
  });

  it('a send to a known task while Redis is away rejects with REDIS_UNREACHABLE and leaves no unhandled rejection behind', async () => {
    const server = await startRedis();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const client = createClient({ connection: server.url, prefix: 'away', machines: { counter }, connectTimeoutMs: 300, log: () => undefined });
    try {
      await client.spawn('counter', { id: 'a1' });
      await client.send('a1', { type: 'inc', n: 'x' }); // the task's rules are known now: the next send takes the fast path
      await server.kill('SIGKILL');
      await waitUntil(() => !client.store.redis.status.startsWith('ready'), { timeout: 5000, message: 'the client sees Redis gone' });
      const err = (await codeOf(client.send('a1', { type: 'inc', n: 'y' }))) as { code?: string };
      expect(err.code).toBe(ErrorCode.RedisUnreachable);
      // A wait made and dropped by the send would have timed out first (it started first): its rejection is in by now.
      await new Promise<void>((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await server.restart();
      await client.close();
      await server.stop();
    }
  });
});
