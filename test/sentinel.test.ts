// Redis high availability through Sentinel: a private master, its replica and
// three Sentinels on loopback (test/helpers/redis-server.ts). Baton connects
// by a redis-sentinel:// URL, follows a failover by itself, and with
// `durability.replicas` acts on a write only once a replica holds it.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_RESULT } from '../src/actors/fromAgent.js';
import { ErrorCode, NotReplicatedError, type Runtime } from '../src/index.js';
import { Keys } from '../src/persistence/keys.js';
import { suiteAgents, suiteKeys, suiteMachines, type CallerContext } from './fixtures/agent-suite.js';
import { counter } from './fixtures/machines.js';
import { uniquePrefix, waitUntil } from './helpers/index.js';
import { redisCommand, startSentinelGroup, type SentinelGroupHandle } from './helpers/redis-server.js';
import { useBaton } from './helpers/setup.js';

describe('Redis Sentinel', () => {
  let group: SentinelGroupHandle;
  const { runtime, client } = useBaton({ connection: () => group.url });
  /** A counter task held by a runtime of `prefix` with `replicas: 1`, which applied one event `n`. */
  async function heldCounter(prefix: string, id: string, n: string) {
    const rt = await runtime(prefix, { machines: { counter }, leaseMs: 1000, durability: { replicas: 1, timeoutMs: 300 } });
    const t = await rt.spawn('counter', { id });
    await t.send({ type: 'inc', n });
    return t;
  }

  /** Run `fn` with the replica SIGSTOPped (it acknowledges nothing), and resume it whatever happens. */
  async function replicaPaused<T>(fn: () => Promise<T>): Promise<T> {
    group.replica.pause();
    try {
      return await fn();
    } finally {
      group.replica.resume();
    }
  }

  beforeAll(async () => {
    group = await startSentinelGroup(3);
  }, 60_000);
  afterAll(async () => {
    await group?.stop();
  });

  it('spawn, send and resume on a Sentinel-managed master, by a redis-sentinel:// URL', async () => {
    const prefix = uniquePrefix('sentinel');
    let rt: Runtime = await runtime(prefix, { machines: { counter }, leaseMs: 1000 });
    const t = await rt.spawn('counter', { id: 's1' });
    for (let i = 0; i < 5; i++) await t.send({ type: 'inc', n: `a${i}` });
    await t.waitFor((v) => v.seq === 6, { timeout: 5000 });
    await rt.close();
    // Another runtime takes the task back from what the master (found through the Sentinels) holds.
    rt = await runtime(prefix, { machines: { counter }, leaseMs: 1000 });
    for (let i = 0; i < 3; i++) await rt.send('s1', { type: 'inc', n: `b${i}` });
    await rt.send('s1', { type: 'finish' });
    const v = await rt.waitFor('s1', (x) => x.status === 'done', { timeout: 10_000 });
    expect(v.context).toEqual({ count: 8, seen: ['a0', 'a1', 'a2', 'a3', 'a4', 'b0', 'b1', 'b2'] });
    // The replica holds the same task (what a failover would promote).
    const onReplica = client(prefix, { connection: group.replica.url });
    const replicaSeq = await waitUntil(async () => {
      const seen = await onReplica.get('s1');
      return seen?.status === 'done' ? seen.seq : undefined;
    }, { timeout: 5000, message: 'the replica has the finished task' });
    expect(replicaSeq).toBe(v.seq);
  }, 60_000);

  it('with durability.replicas 1, a send to a master whose replica does not answer rejects with NOT_REPLICATED', async () => {
    const prefix = uniquePrefix('sentinel-wait');
    const c = client(prefix, { machines: { counter }, durability: { replicas: 1, timeoutMs: 300 } });
    await c.spawn('counter', { id: 'w1' });
    await c.send('w1', { type: 'inc', n: 'kept' });
    await replicaPaused(async () => {
      const err = await c.send('w1', { type: 'inc', n: 'unsure' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(NotReplicatedError);
      expect((err as NotReplicatedError).code).toBe(ErrorCode.NotReplicated);
      expect((err as Error).message).toMatch(/0 of the 1 replica\(s\) asked for acknowledged it within 300 ms/);
    });
    // Once the replica is back, sends resolve again.
    await c.send('w1', { type: 'inc', n: 'after' });
  }, 30_000);

  it('with durability.replicas 1, a retry that finds the earlier try (same idempotency key, same task id) resolves only once that try is replicated', async () => {
    const prefix = uniquePrefix('sentinel-dup');
    const durability = { replicas: 1, timeoutMs: 300 };
    // Two clients, two connections: WAIT counts only its own connection's writes, and the retry comes over the other.
    const first = client(prefix, { machines: { counter }, durability });
    const retry = client(prefix, { machines: { counter }, durability });
    await first.spawn('counter', { id: 'd1' });
    await replicaPaused(async () => {
      await expect(first.send('d1', { type: 'inc', n: 'x' }, { idempotencyKey: 'd1-x' })).rejects.toBeInstanceOf(NotReplicatedError);
      // The master has the key; its entry is not on the replica, so "duplicate" must not be an acknowledgement yet.
      await expect(retry.send('d1', { type: 'inc', n: 'x' }, { idempotencyKey: 'd1-x' })).rejects.toBeInstanceOf(NotReplicatedError);
      await expect(first.spawn('counter', { id: 'd2' })).rejects.toBeInstanceOf(NotReplicatedError);
      // Likewise the retry of a spawn (TASK_EXISTS inside): the task exists on the master only.
      await expect(retry.spawn('counter', { id: 'd2' })).rejects.toBeInstanceOf(NotReplicatedError);
    });
    expect(await retry.send('d1', { type: 'inc', n: 'x' }, { idempotencyKey: 'd1-x' })).toMatchObject({ duplicate: true });
    // The retry of the same spawn finds its task (now replicated) and finishes the job.
    expect((await retry.spawn('counter', { id: 'd2' })).id).toBe('d2');
  }, 30_000);

  it('with durability.replicas 1, a send to a task held in this process whose commit is not replicated rejects with NOT_REPLICATED; the task goes on once the replica is back', async () => {
    const t = await heldCounter(uniquePrefix('sentinel-local'), 'l1', 'kept');
    // Held here: the commit that applies the event appends it; its WAIT fails, the host lets the task go,
    // and the send's fallback through the mailbox (same token) is not replicated either.
    const err = await replicaPaused(() =>
      t.send({ type: 'inc', n: 'unsure' }).then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    expect(err).toBeInstanceOf(NotReplicatedError);
    // The task is resumed from what Redis kept and serves again.
    await t.send({ type: 'inc', n: 'after' }, { idempotencyKey: 'l1-after' });
    await t.send({ type: 'finish' }, { idempotencyKey: 'l1-finish' });
    const v = await t.waitFor((x) => x.status === 'done', { timeout: 20_000 });
    const seen = (v.context as { seen: string[] }).seen;
    // The unsure event may or may not have been kept: once at most, in its place.
    expect(seen.filter((n) => n !== 'unsure')).toEqual(['kept', 'after']);
    expect(seen.filter((n) => n === 'unsure').length).toBeLessThanOrEqual(1);
    if (seen.includes('unsure')) expect(seen).toEqual(['kept', 'unsure', 'after']);
  }, 40_000);

  it('with durability.replicas 1, a commit is announced only once replicated: a follower never hears of a step the replica does not hold', async () => {
    const prefix = uniquePrefix('sentinel-notice');
    const t = await heldCounter(prefix, 'n1', 'a');
    const sentinels = group.sentinels.map((port) => ({ host: '127.0.0.1', port }));
    const conn = new Redis({ sentinels, name: group.name });
    const sub = new Redis({ sentinels, name: group.name });
    try {
      const k = new Keys(prefix).task('n1');
      const heard: number[] = [];
      sub.on('message', (_channel: string, m: string) => {
        const seq = /"seq":(\d+)/.exec(m);
        if (seq) heard.push(Number(seq[1]));
      });
      await sub.subscribe(k.changes);
      const unsure = await replicaPaused(async () => {
        await expect(t.send({ type: 'inc', n: 'unsure' })).rejects.toBeInstanceOf(NotReplicatedError);
        return Number(await conn.hget(k.state, 'seq')); // on the master, not on the replica
      });
      expect(unsure).toBeGreaterThan(0);
      await t.send({ type: 'inc', n: 'after' }, { idempotencyKey: 'n1-after' });
      // The later, replicated commit is announced; the earlier one, which the replica did not hold, never was.
      await waitUntil(() => heard.some((s) => s > unsure), { timeout: 10_000, message: `a notice after seq ${unsure}` });
      expect(heard).not.toContain(unsure);
    } finally {
      conn.disconnect();
      sub.disconnect();
    }
  }, 30_000);

  it('with durability.replicas 1, an agent outcome that is not replicated is delivered again, not run again', async () => {
    const prefix = uniquePrefix('sentinel-agent');
    const durability = { replicas: 1, timeoutMs: 300 };
    const conn = new Redis({ sentinels: group.sentinels.map((port) => ({ host: '127.0.0.1', port })), name: group.name });
    try {
      const agents = suiteAgents(conn, prefix);
      const k = suiteKeys(prefix);
      const logs: string[] = [];
      // The holder has no agents, so the invocation goes through the queue to the other runtime.
      const holder = await runtime(prefix, { machines: suiteMachines, agents: {}, durability });
      await runtime(prefix, { machines: {}, agents: { gated: agents.gated! }, durability, log: (msg) => logs.push(msg) });
      await holder.spawn('gatedTask', { id: 'ag1', input: { text: 'hi' } });
      await waitUntil(async () => (await conn.llen(k.runs('gated'))) === 1, { timeout: 10_000, message: 'the agent started' });
      await replicaPaused(async () => {
        await conn.set(k.gate, '1'); // the agent finishes; its outcome's append is not replicated
        await waitUntil(() => logs.includes('agent outcome delivery failed, retrying'), { timeout: 10_000, message: 'the delivery is retried' });
      });
      const v = await holder.waitFor('ag1', (x) => x.status !== 'active', { timeout: 15_000 });
      expect(v.value).toBe('done');
      expect((v.context as CallerContext).result).toEqual({ text: 'hi!' });
      // Executed once: a failed delivery is not a failed attempt.
      expect(await conn.lrange(k.runs('gated'), 0, -1)).toHaveLength(1);
      expect((await holder.history('ag1')).filter((h) => h.event.type === AGENT_RESULT)).toHaveLength(1);
    } finally {
      conn.disconnect();
    }
  }, 40_000);

  it('a Sentinel connection told to disconnect while it resolves the master (what the failover detector does on +switch-master) connects again', async () => {
    const prefix = uniquePrefix('sentinel-race');
    const c = client(prefix, { machines: { counter }, connectTimeoutMs: 3000 });
    await c.spawn('counter', { id: 'r1' });
    const conn = c.store.redis as Redis;
    // ioredis's connector and socket (members its types call private).
    const inside = conn as unknown as { connector: { disconnect(): void }; stream: { destroy(): void } };
    let ended = false;
    conn.once('end', () => (ended = true));
    // The connection drops; as it reconnects through the Sentinels, its connector is told to disconnect.
    conn.once('connecting', () => inside.connector.disconnect());
    inside.stream.destroy();
    await waitUntil(() => ended, { timeout: 5000, message: 'the connect fails and the connection ends (the ioredis race)' });
    // Connected again: a call goes through.
    await c.send('r1', { type: 'inc', n: 'after' });
    expect(conn.status).toBe('ready');
  }, 30_000);

  it('a Sentinel connection closed on purpose while it reconnects stays closed', async () => {
    const c = client(uniquePrefix('sentinel-close'), { machines: { counter } });
    await c.list();
    const conn = c.store.redis as Redis;
    const inside = conn as unknown as { stream: { destroy(): void } };
    let ended = false;
    conn.once('end', () => (ended = true));
    conn.once('connecting', () => conn.disconnect());
    inside.stream.destroy();
    await waitUntil(() => ended, { timeout: 5000, message: 'the connection ends' });
    // Nothing to wait on for a reconnect that must not come: give the 50 ms re-connect six times over.
    await new Promise((r) => setTimeout(r, 300));
    expect(conn.status).toBe('end');
  }, 30_000);

  it('a failover mid-task: the master is killed, Sentinel promotes the replica, the runtime follows and the task finishes with every acknowledged event once', async () => {
    const prefix = uniquePrefix('sentinel-failover');
    const rt = await runtime(prefix, { machines: { counter }, leaseMs: 2000, durability: { replicas: 1, timeoutMs: 1000 } });
    const t = await rt.spawn('counter', { id: 'f1' });
    const acked: string[] = [];
    for (let i = 0; i < 10; i++) {
      await t.send({ type: 'inc', n: `e${i}` });
      acked.push(`e${i}`);
    }
    const oldMaster = await group.masterPort();
    expect(oldMaster).toBe(group.master.port);
    await group.master.kill('SIGKILL');
    // Sentinel promotes the replica; the old master comes back and is made a replica of the new one
    // (until then `replicas: 1` cannot be met: a send fails with NOT_REPLICATED and is resent).
    await waitUntil(async () => (await group.masterPort()) === group.replica.port, { timeout: 30_000, interval: 100, message: 'Sentinel promotes the replica' });
    await group.master.restart();
    // Sends during the failover either resolve (replicated on the new master) or fail; a failed one is resent
    // under its idempotency key, so it is applied once either way.
    for (let i = 10; i < 20; i++) {
      const n = `e${i}`;
      await waitUntil(
        async () => {
          try {
            await rt.send('f1', { type: 'inc', n }, { idempotencyKey: `f1-${n}` });
            return true;
          } catch {
            return false;
          }
        },
        { timeout: 30_000, interval: 100, message: `send ${n} after the failover` },
      );
      acked.push(n);
    }
    await rt.send('f1', { type: 'finish' }, { idempotencyKey: 'f1-finish' });
    const v = await rt.waitFor('f1', (x) => x.status === 'done', { timeout: 30_000 });
    expect(v.context).toEqual({ count: acked.length, seen: acked });
    // The old master is a replica now (the group is not reused after this test).
    const info = await waitUntil(async () => {
      const r = await redisCommand(group.master.port, ['INFO', 'replication']);
      return typeof r === 'string' && r.includes('role:slave') ? r : undefined;
    }, { timeout: 10_000, message: 'the old master is a replica' });
    expect(info).toContain(`master_port:${group.replica.port}`);
  }, 90_000);
});
