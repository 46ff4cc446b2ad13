// Commits that cost what changed (format 2): a task at real size (1 MB of
// context, 1,000 children) commits only its delta, survives a SIGKILL with
// an identical view, sends notices that do not grow with it; a reader that
// misses notices resyncs; a corrupt part quarantines only its task; any
// retained commit's tree can be rebuilt; the same on Redis Cluster.
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createRuntime, type TaskView } from '../src/index.js';
import { Keys } from '../src/persistence/keys.js';
import { bigTask, type BigContext } from './fixtures/big.js';
import { startCluster, startRedis, uniquePrefix, waitUntil, type ClusterHandle, type ChildHandle } from './helpers/index.js';
import { redisUrl } from './helpers/redis-url.js';
import { startRuntimeChild } from './helpers/runtime-child.js';
import { useBaton } from './helpers/setup.js';
import { readStoredParts } from './helpers/stored.js';

const started = new Set<ChildHandle>();
const baton = useBaton({ kill: async () => Promise.all([...started].map((c) => c.kill('SIGKILL'))) });
const { redis } = baton;
const ctx = (v: TaskView | undefined) => v?.context as BigContext;

function startBig(prefix: string, spawn?: { id: string; input: unknown }) {
  return startRuntimeChild('test/procs/big-runtime.ts', {
    env: { REDIS_URL: redisUrl(), BATON_PREFIX: prefix, BATON_LEASE_MS: '500' },
    spawn: spawn ? { machine: 'bigTask', ...spawn } : undefined,
    owner: (pid) => `big-${pid}`,
    timeoutMs: 30_000,
    started,
  });
}

/** Bytes of the last history entry: what the last commit replaced (its undo) and its event. */
async function lastEntryBytes(prefix: string, id: string): Promise<number> {
  return Buffer.byteLength((await redis.lrange(new Keys(prefix).task(id).history, -1, -1))[0] ?? '');
}

describe('a task with 1 MB of context and 1,000 children', () => {
  it('commits deltas, is SIGKILLed, restores in another process with an identical view and continues', async () => {
    const prefix = uniquePrefix('delta-big');
    const id = 'big';
    const first = await startBig(prefix, { id, input: { kids: 1000, blobBytes: 1_000_000 } });
    const client = baton.client(prefix);
    await client.waitFor(id, (v) => v.seq >= 1, { timeoutMs: 20_000 });
    for (const i of [3, 500, 999]) await client.send(id, { type: 'poke', i, note: `n${i}` });
    for (const text of ['a', 'b', 'c']) await client.send(id, { type: 'note', text });
    await client.send(id, { type: 'drop', i: 7 });
    await client.send(id, { type: 'add', i: 1000 });
    const before = await client.waitFor(id, (v) => v.children.k1000 !== undefined && !v.children.k7, { timeoutMs: 20_000 });
    expect(ctx(before)).toMatchObject({ n: 3, items: ['a', 'b', 'c'] });
    expect(ctx(before).blob).toHaveLength(1_000_000);
    expect(Object.keys(before.children)).toHaveLength(1000);
    expect(before.children.k500?.context).toEqual({ i: 500, hits: 1, notes: ['n500'] });
    // What each of those commits replaced is small: none rewrote the blob or the other children.
    expect(await lastEntryBytes(prefix, id)).toBeLessThan(2000);
    const persistedBefore = await client.persisted(id);

    await first.kill('SIGKILL');
    const second = await startBig(prefix);
    await client.send(id, { type: 'poke', i: 500, note: 'after' });
    const after = await client.waitFor(id, (v) => ctx(v).n === 4, { timeoutMs: 30_000 });
    expect(second.held()).toContain(id);
    // Identical but for what the new event changed.
    expect(ctx(after)).toEqual({ ...ctx(before), n: 4 });
    expect(after.children.k500?.context).toEqual({ i: 500, hits: 2, notes: ['n500', 'after'] });
    expect({ ...after.children, k500: before.children.k500 }).toEqual(before.children);
    expect(after.value).toEqual(before.value);
    const persistedAfter = (await client.persisted(id)) as { children: Record<string, unknown> };
    expect({ ...persistedAfter, context: undefined, children: { ...persistedAfter.children, k500: null } }).toEqual({
      ...persistedBefore,
      context: undefined,
      children: { ...(persistedBefore as { children: Record<string, unknown> }).children, k500: null },
    });
    expect(await lastEntryBytes(prefix, id)).toBeLessThan(2000);
  }, 90_000);
});

describe('change notices', () => {
  it('a notice carries the delta: its size does not grow with the context or the number of children', async () => {
    const prefix = uniquePrefix('delta-notice');
    const rt = await baton.runtime(prefix, { machines: { bigTask } });
    const keys = new Keys(prefix);
    const tasks = { tiny: { kids: 1, blobBytes: 100 }, huge: { kids: 1000, blobBytes: 1_000_000 } };
    for (const [id, input] of Object.entries(tasks)) await rt.spawn('bigTask', { id, input });
    const sub = new Redis(redisUrl());
    baton.track(async () => sub.disconnect());
    const bytes: Record<string, number[]> = { tiny: [], huge: [] };
    sub.on('message', (channel: string, message: string) => bytes[channel === keys.task('tiny').changes ? 'tiny' : 'huge']!.push(Buffer.byteLength(message)));
    await sub.subscribe(keys.task('tiny').changes, keys.task('huge').changes);
    for (const id of Object.keys(tasks)) {
      await rt.send(id, { type: 'note', text: 'the same words' });
      await rt.send(id, { type: 'poke', i: 0, note: 'the same note' });
    }
    await waitUntil(() => bytes.tiny!.length === 2 && bytes.huge!.length === 2, { timeout: 10_000, message: 'two notices per task' });
    // The same event makes the same notice, byte for byte in size (ids of equal length), on either task.
    expect(bytes.huge).toEqual(bytes.tiny);
    expect(Math.max(...bytes.huge!)).toBeLessThan(1024);
    // And what a reader rebuilds from them is the stored state.
    const watched = await rt.watch('huge');
    await rt.send('huge', { type: 'note', text: 'more' });
    await waitUntil(() => (watched.getSnapshot().context.view?.seq ?? 0) >= 4, { timeout: 10_000, message: 'the watch to follow' });
    expect(JSON.parse(JSON.stringify(watched.getSnapshot().context.view))).toEqual(JSON.parse(JSON.stringify(await rt.get('huge'))));
    watched.close();
  }, 60_000);

  it('a subscriber that misses notices (its connection dropped) resyncs from the stored state', async () => {
    const server = await startRedis();
    const prefix = uniquePrefix('delta-resync');
    const rt = await createRuntime({ connection: server.url, prefix, machines: { bigTask } });
    const client = createClient({ connection: server.url, prefix });
    // Closed in order (the runtime and client before their server), after the test.
    baton.track(async () => {
      await Promise.allSettled([rt.close(), client.close()]);
      await server.stop();
    });
    const id = 'r';
    await rt.spawn('bigTask', { id, input: { kids: 2, blobBytes: 10 } });
    const seen: TaskView[] = [];
    const off = await client.subscribeReady(id, (v) => seen.push(v));
    baton.track(async () => off());
    await rt.send(id, { type: 'note', text: 'n0' });
    await waitUntil(() => seen.length === 1, { timeout: 5000, message: 'the first notice' });
    // Drop every pub/sub connection of this server: notices published before they resubscribe are lost.
    const admin = new Redis(server.url);
    baton.track(async () => admin.disconnect());
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await Promise.all(Array.from({ length: 30 }, (_, i) => rt.send(id, { type: 'note', text: `n${i + 1}` })));
    const last = (await client.get(id))!;
    await waitUntil(() => seen.at(-1)?.seq === last.seq, { timeout: 10_000, message: 'the subscriber to catch up' });
    const seqs = seen.map((v) => v.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    // Some commits were never heard (the drop), yet the view reached is the stored one.
    expect(seqs.length).toBeLessThan(last.seq - seqs[0]! + 1);
    expect(ctx(seen.at(-1)).items).toHaveLength(31);
    expect(JSON.parse(JSON.stringify(seen.at(-1)))).toEqual(JSON.parse(JSON.stringify(last)));
  }, 30_000);
});

describe('a corrupted part', () => {
  it('quarantines its task, naming the part, while the same process runs the others', async () => {
    const prefix = uniquePrefix('delta-corrupt');
    const keys = new Keys(prefix);
    const a = await createRuntime({ connection: redisUrl(), prefix, machines: { bigTask }, leaseMs: 500 });
    for (const id of ['bad', 'good']) {
      await a.spawn('bigTask', { id, input: { kids: 3, blobBytes: 10 } });
      await a.send(id, { type: 'poke', i: 1 }, { wait: 'applied' });
    }
    await a.close();
    await redis.hset(keys.task('bad').state, 'x:k1:hits', '{"not json');
    const partsBefore = await readStoredParts(redis, keys.task('bad').state);
    const b = await baton.runtime(prefix, { machines: { bigTask }, leaseMs: 500 });
    await b.send('bad', { type: 'poke', i: 1 });
    await b.send('good', { type: 'poke', i: 1 });
    const bad = await b.waitFor('bad', (v) => v.status !== 'active', { timeoutMs: 10_000 });
    expect(bad.status).toBe('quarantined');
    expect(bad.reason).toMatch(/part "x:k1:hits"/);
    expect(await readStoredParts(redis, keys.task('bad').state)).toEqual(partsBefore);
    const good = await b.waitFor('good', (v) => ctx(v).n === 2, { timeoutMs: 10_000 });
    expect(good.children.k1?.context).toMatchObject({ hits: 2 });
  }, 30_000);
});

describe('the history rebuilds any retained commit', () => {
  it('persisted(id, { seq }) is the tree as it was at that commit; older than the cap is NOT_RETAINED', async () => {
    const prefix = uniquePrefix('delta-history');
    const rt = await baton.runtime(prefix, { machines: { bigTask }, historyLimit: 6 });
    const id = 'h';
    await rt.spawn('bigTask', { id, input: { kids: 2, blobBytes: 50 } });
    await rt.waitFor(id, (v) => v.seq >= 1);
    const at = new Map<number, unknown>([[1, await rt.persisted(id)]]);
    const events = [
      { type: 'note', text: 'a' },
      { type: 'poke', i: 1, note: 'x' },
      { type: 'drop', i: 0 },
      { type: 'add', i: 5 },
      { type: 'note', text: 'b' },
      { type: 'poke', i: 5 },
      { type: 'note', text: 'c' },
    ];
    for (const e of events) {
      await rt.send(id, e, { wait: 'applied' });
      const v = (await rt.get(id))!;
      at.set(v.seq, await rt.persisted(id));
    }
    const current = (await rt.get(id))!.seq;
    expect(current).toBe(8);
    // The history keeps 6 entries (seqs 3-8): each undoes its commit, so commits 2 to 8 can be rebuilt.
    for (let seq = 2; seq <= current; seq++) expect(await rt.persisted(id, { seq }), `seq ${seq}`).toEqual(at.get(seq));
    await expect(rt.persisted(id, { seq: 1 })).rejects.toMatchObject({ code: 'NOT_RETAINED' });
    await expect(rt.persisted(id, { seq: 99 })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });
});

describe('on a local Redis Cluster', () => {
  let cluster: ClusterHandle;
  beforeAll(async () => {
    cluster = await startCluster(3);
  }, 60_000);
  afterAll(async () => cluster?.stop());

  it('deltas commit, restore in another runtime, follow through notices and rebuild past commits', async () => {
    const prefix = uniquePrefix('delta-cluster');
    const connection = { cluster: cluster.nodes };
    const a = await createRuntime({ connection, prefix, machines: { bigTask }, leaseMs: 500 });
    const client = baton.track(createClient({ connection, prefix }));
    const ids = ['c1', 'c2', 'c3', 'c4'];
    for (const id of ids) await a.spawn('bigTask', { id, input: { kids: 50, blobBytes: 100_000 } });
    const watched = await client.watch('c1');
    for (const id of ids) {
      await a.send(id, { type: 'poke', i: 7, note: id });
      await a.send(id, { type: 'note', text: id });
    }
    await waitUntil(() => watched.getSnapshot().context.view?.seq === 3, { timeout: 10_000, message: 'the watch to follow c1' });
    const before = await Promise.all(ids.map((id) => client.get(id)));
    await a.close();
    const b = baton.track(await createRuntime({ connection, prefix, machines: { bigTask }, leaseMs: 500 }));
    for (const id of ids) await b.send(id, { type: 'poke', i: 7 });
    const after = await Promise.all(ids.map((id) => client.waitFor(id, (v) => ctx(v).n === 2, { timeoutMs: 15_000 })));
    after.forEach((v, j) => {
      const was = before[j]!;
      expect(ctx(v)).toEqual({ ...ctx(was), n: 2 });
      expect(v.children.k7?.context).toEqual({ i: 7, hits: 2, notes: [ids[j]] });
      expect({ ...v.children, k7: undefined }).toEqual({ ...was.children, k7: undefined });
    });
    await waitUntil(() => watched.getSnapshot().context.view?.seq === 4, { timeout: 10_000, message: 'the watch to follow the new holder' });
    expect(JSON.parse(JSON.stringify(watched.getSnapshot().context.view))).toEqual(JSON.parse(JSON.stringify(after[0])));
    watched.close();
    expect(((await client.persisted('c2', { seq: 2 })) as { context: BigContext }).context).toMatchObject({ n: 1, items: [] });
  }, 90_000);

  it('a task of 1 MB and 1,000 children restores with an identical view; a corrupt part quarantines only its task; a follower that missed notices resyncs', async () => {
    const prefix = uniquePrefix('delta-cluster-big');
    const connection = { cluster: cluster.nodes };
    const keys = new Keys(prefix);
    const a = await createRuntime({ connection, prefix, machines: { bigTask }, leaseMs: 500 });
    const client = baton.track(createClient({ connection, prefix }));
    await a.spawn('bigTask', { id: 'huge', input: { kids: 1000, blobBytes: 1_000_000 } });
    for (const id of ['bad', 'good']) await a.spawn('bigTask', { id, input: { kids: 3, blobBytes: 10 } });
    for (const id of ['huge', 'bad', 'good']) await a.send(id, { type: 'poke', i: 1, note: id }, { wait: 'applied' });
    const before = (await client.get('huge'))!;
    await a.close();

    const raw = new Cluster(cluster.nodes);
    baton.track(async () => raw.disconnect());
    await raw.hset(keys.task('bad').state, 'x:k1:hits', '{"not json');
    const b = baton.track(await createRuntime({ connection, prefix, machines: { bigTask }, leaseMs: 500 }));
    const seen: TaskView[] = [];
    const sub = client.subscribe('good', (v) => seen.push(v));
    await sub.ready;
    baton.track(async () => sub());
    for (const id of ['huge', 'bad', 'good']) await b.send(id, { type: 'poke', i: 1 });
    const huge = await client.waitFor('huge', (v) => ctx(v).n === 2, { timeoutMs: 30_000 });
    expect(ctx(huge)).toEqual({ ...ctx(before), n: 2 });
    expect({ ...huge.children, k1: undefined }).toEqual({ ...before.children, k1: undefined });
    expect(huge.children.k1?.context).toEqual({ i: 1, hits: 2, notes: ['huge'] });
    const bad = await client.waitFor('bad', (v) => v.status !== 'active', { timeoutMs: 10_000 });
    expect(bad.status).toBe('quarantined');
    expect(bad.reason).toMatch(/part "x:k1:hits"/);
    await waitUntil(() => seen.some((v) => ctx(v).n === 2), { timeout: 10_000, message: 'the follower to see the good task move' });

    // Drop the pub/sub connections of every master; commits made meanwhile are not heard, the follower resyncs.
    await Promise.all(cluster.nodes.map(async (n) => {
      const c = new Redis(n.port, n.host);
      try {
        await c.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      } finally {
        c.disconnect();
      }
    }));
    await Promise.all(Array.from({ length: 20 }, (_, i) => b.send('good', { type: 'note', text: `n${i}` })));
    const last = (await client.get('good'))!;
    await waitUntil(() => seen.at(-1)?.seq === last.seq, { timeout: 15_000, message: 'the follower to catch up' });
    expect(ctx(seen.at(-1)).items).toHaveLength(20);
    expect(JSON.parse(JSON.stringify(seen.at(-1)))).toEqual(JSON.parse(JSON.stringify(last)));
  }, 120_000);
});
