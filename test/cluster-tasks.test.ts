// Child tasks, sends between tasks and durable streams on a local three-master Redis Cluster:
// a parent and its children, and two tasks that ping-pong, live in different
// slots, so every spawn, outcome and send is a write of its own slot after
// the commit that decided it.
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createRuntime, type Runtime } from '../src/index.js';
import { Keys } from '../src/persistence/keys.js';
import { taskMachines } from './fixtures/task-machines.js';
import { talk } from './fixtures/stream-machines.js';
import { startCluster, uniquePrefix, waitUntil, type ClusterHandle } from './helpers/index.js';
import { killAllRuntimeProcs, startRuntimeProc } from './helpers/runtime-proc.js';
import { sendAcrossCrash } from './helpers/send-across-crash.js';

describe('child tasks on Redis Cluster', () => {
  let cluster: ClusterHandle;
  const runtimes: Runtime[] = [];
  beforeAll(async () => {
    cluster = await startCluster(3);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(runtimes.map((r) => r.close()));
    await cluster?.stop();
  });

  it('a fan-out over two runtimes, and 1,000 ping-pongs, across slots', async () => {
    const prefix = uniquePrefix('cluster-tasks');
    const connection = { cluster: cluster.nodes };
    const square = async ({ input }: { input: { n: number } }) => ({ sq: input.n * input.n });
    for (let i = 0; i < 2; i++) runtimes.push(await createRuntime({ connection, prefix, machines: taskMachines(20), agents: { square }, leaseMs: 1000 }));
    const client = createClient({ connection, prefix });
    try {
      await client.spawn('fanout', { id: 'cfan' });
      const parent = await client.waitFor('cfan', (v) => v.status !== 'active', { timeout: 30_000 });
      const out = parent.output as { results: Record<string, { sq: number }>; errors: Record<string, unknown> };
      expect(out.errors).toEqual({});
      expect(Object.keys(out.results)).toHaveLength(20);
      const kids = await client.list({ parent: 'cfan' });
      expect(kids).toHaveLength(20);
      expect(kids.every((k) => k.status === 'done')).toBe(true);

      await client.spawn('ponger', { id: 'cpong' });
      await client.spawn('pinger', { id: 'cping', input: { peer: 'cpong', max: 1000 } });
      const ping = await client.waitFor('cping', (v) => v.status !== 'active', { timeout: 60_000 });
      expect(ping.output).toEqual({ n: 1000, outOfOrder: 0 });
      expect((await client.get('cpong'))!.context).toEqual({ seen: 1000, outOfOrder: 0, from: 'cping' });

      // The tasks really are in different slots.
      const keys = new Keys(prefix);
      const slots = new Set(['cfan', kids[0]!.id, 'cping', 'cpong'].map((id) => slotOf(keys.task(id).state)));
      expect(slots.size).toBe(4);
    } finally {
      await client.close();
    }
  }, 120_000);

  it('100 child tasks over two worker processes, one SIGKILLed mid-run: each child done once, the parent gets all 100', async () => {
    const prefix = uniquePrefix('cluster-tasks-crash');
    const env = { FANOUT: '100', SQUARE_MS: '40', BATON_AGENT_LOCK_MS: '1000', BATON_ACTIVATION_CONCURRENCY: '1', BATON_CLUSTER: JSON.stringify(cluster.nodes) };
    const [a, b] = await Promise.all([startRuntimeProc({ prefix, env, leaseMs: 1000 }), startRuntimeProc({ prefix, env, leaseMs: 1000 })]);
    const client = createClient({ connection: { cluster: cluster.nodes }, prefix });
    try {
      await client.spawn('fanout', { id: 'kfan' });
      const doneKids = async () => (await client.list({ parent: 'kfan' })).filter((k) => k.status === 'done').length;
      await waitUntil(async () => a.held().some((id) => id.startsWith('kfan.')) && b.held().some((id) => id.startsWith('kfan.')) && (await doneKids()) >= 20, {
        timeout: 30_000,
        message: 'both workers running children, 20 done',
      });
      expect(await doneKids()).toBeLessThan(100);
      await a.kill('SIGKILL');
      const parent = await client.waitFor('kfan', (v) => v.status !== 'active', { timeout: 60_000 });
      const out = parent.output as { results: Record<string, { n: number; sq: number }>; errors: Record<string, unknown> };
      expect(out.errors).toEqual({});
      for (let i = 0; i < 100; i++) expect(out.results[i]).toEqual({ n: i, sq: i * i });
      const kids = await client.list({ parent: 'kfan' });
      expect(kids).toHaveLength(100);
      for (const k of kids) expect((await client.history(k.id)).filter((e) => e.to === 'done')).toHaveLength(1);
      expect((await client.history('kfan', { limit: 10_000 })).filter((e) => e.event.type === 'baton.task.done')).toHaveLength(100);
    } finally {
      await client.close();
      await killAllRuntimeProcs();
    }
  }, 120_000);

  it('a durable stream on the Cluster: written, replayed and followed in its task slot', async () => {
    const prefix = uniquePrefix('cluster-stream');
    const connection = { cluster: cluster.nodes };
    const words = Array.from({ length: 50 }, (_, i) => `w${i}`);
    const talker = async ({ input, stream }: { input: { words: string[] }; stream: { write(c: unknown): Promise<string> } }) => {
      for (const w of input.words) await stream.write(w);
      return {};
    };
    const rt = await createRuntime({ connection, prefix, machines: { talk }, agents: { talker }, leaseMs: 1000 });
    runtimes.push(rt);
    const client = createClient({ connection, prefix });
    try {
      await client.spawn('talk', { id: 'cs', input: { words } });
      const live: unknown[] = [];
      for await (const item of client.stream('cs')) if (item.kind === 'chunk') live.push(item.data);
      expect(live).toEqual(words);
      const replay: unknown[] = [];
      for await (const item of client.stream('cs', { from: 'start' })) if (item.kind === 'chunk') replay.push(item.data);
      expect(replay).toEqual(words);
    } finally {
      await client.close();
    }
  }, 60_000);

  it('a send whose sender is SIGKILLed right after its commit is delivered once, across slots', async () => {
    const prefix = uniquePrefix('cluster-send-crash');
    const client = createClient({ connection: { cluster: cluster.nodes }, prefix });
    const redis = new Cluster(cluster.nodes);
    try {
      await sendAcrossCrash(prefix, client, redis, { BATON_CLUSTER: JSON.stringify(cluster.nodes) });
    } finally {
      redis.disconnect();
      await client.close();
      await killAllRuntimeProcs();
    }
  }, 60_000);
});

/** The cluster slot of a key (CRC16 of its hash tag, as Redis computes it). */
function slotOf(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const tag = open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const ch of Buffer.from(tag)) {
    crc ^= ch << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
