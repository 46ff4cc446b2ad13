// Agent work, passivation and takeover on a local three-master Redis Cluster:
// the task scripts run in their task's slot, BullMQ (activations and agent
// queues) in its hash-tagged slot, the due set and index in theirs.
import { Cluster } from 'ioredis';
import type { InspectionEvent } from 'xstate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_RESULT } from '../src/actors/fromAgent.js';
import { Keys } from '../src/persistence/keys.js';
import { suiteAgents, suiteKeys, suiteMachines, type CallerContext } from './fixtures/agent-suite.js';
import { counter } from './fixtures/machines.js';
import { killAgentProcs, startAgentProc } from './helpers/agent-procs.js';
import { startCluster, uniquePrefix, waitUntil, type ClusterHandle } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

let cluster: ClusterHandle;
let redis: Cluster;

beforeAll(async () => {
  cluster = await startCluster(3);
  redis = new Cluster(cluster.nodes);
}, 60_000);
const { runtime, client } = useBaton({
  kill: killAgentProcs,
  connection: () => ({ cluster: cluster.nodes }),
  runtime: { leaseMs: 1000, machines: { ...suiteMachines, counter } },
});
afterAll(async () => {
  redis?.disconnect();
  await cluster?.stop();
});

/** Cluster node (host:port) serving `key`. */
async function nodeOf(key: string): Promise<string> {
  const slot = (await redis.cluster('KEYSLOT', key)) as number;
  return redis.slots[slot]?.[0] ?? '?';
}

type Counted = { count: number; seen: string[] };

describe('Redis Cluster: agents, passivation, takeover', () => {
  it('runs an agent invocation through the hash-tagged queue and completes the task', async () => {
    const prefix = uniquePrefix('cl-agent');
    const agents = suiteAgents(redis, prefix);
    await redis.set(suiteKeys(prefix).gate, '1');
    const rt = await runtime(prefix, { agents: { gated: agents.gated!, flaky: agents.flaky! } });
    const c = client(prefix);
    // Tasks on different masters than the queue.
    const ids = ['ca-1', 'ca-2', 'ca-3', 'ca-4', 'ca-5', 'ca-6'];
    await Promise.all(ids.map((id) => rt.spawn('gatedTask', { id, input: { text: id } })));
    for (const id of ids) {
      const v = await c.waitFor(id, (v) => v.status !== 'active', { timeout: 15_000 });
      expect(v.value, id).toBe('done');
      expect((v.context as CallerContext).result, id).toEqual({ text: `${id}!` });
      expect((await c.history(id)).filter((h) => h.event.type === AGENT_RESULT), id).toHaveLength(1);
    }
    expect(await redis.llen(suiteKeys(prefix).runs('gated'))).toBe(ids.length);
    const nodes = new Set(await Promise.all(ids.map((id) => nodeOf(new Keys(prefix).task(id).state))));
    expect(nodes.size).toBeGreaterThan(1);

    // Retries and onError too.
    const f = await rt.spawn('flakyTask', { id: 'ca-flaky' });
    const failed = await f.waitFor((v) => v.status !== 'active', { timeout: 15_000 });
    expect(failed.value).toBe('failed');
    expect((failed.context as CallerContext).error?.message).toBe('flaky failure #3');
    expect(await redis.llen(suiteKeys(prefix).runs('flaky'))).toBe(3);
  });

  it('passivates an idle task and re-activates it on its next event', async () => {
    const prefix = uniquePrefix('cl-passivate');
    const id = 'cp-1';
    const rt = await runtime(prefix, { idleMs: 200 });
    const c = client(prefix);
    await rt.spawn('counter', { id });
    await c.send(id, { type: 'inc', n: 'a' });
    const first = await c.waitFor(id, (v) => (v.context as Counted).count === 1, { timeout: 5000 });
    await waitUntil(() => rt.heldCount === 0, { timeout: 5000, message: 'passivation' });
    expect(await redis.exists(new Keys(prefix).task(id).lease)).toBe(0);
    expect((await c.get(id))?.seq).toBe(first.seq);

    await c.send(id, { type: 'inc', n: 'b' });
    const v = await c.waitFor(id, (v) => (v.context as Counted).count === 2, { timeout: 10_000 });
    expect(v.context).toEqual({ count: 2, seen: ['a', 'b'] });
    expect(v.seq).toBe(first.seq + 1);
  });

  it('a killed runtime process’s task is taken over by the test-process runtime', async () => {
    const prefix = uniquePrefix('cl-takeover');
    const id = 'ct-1';
    const keys = new Keys(prefix).task(id);
    const restored: string[] = [];
    const rt = await runtime(prefix, {
      idleMs: 0,
      inspect: (ev: InspectionEvent) => {
        if (ev.type === '@xstate.actor' && !(ev.actorRef as { _parent?: unknown })._parent) restored.push((ev.actorRef as { id?: string }).id ?? '');
      },
    });
    const c = client(prefix);
    const child = await startAgentProc({ prefix, leaseMs: 1000, cluster: cluster.nodes, spawn: { machine: 'counter', id } });
    await c.send(id, { type: 'inc', n: '1' });
    await c.send(id, { type: 'inc', n: '2' });
    await c.waitFor(id, (v) => (v.context as Counted).count === 2, { timeout: 10_000 });
    expect(await redis.get(keys.lease)).toBe(child.owner);
    expect(restored).toEqual([]);

    await child.kill('SIGKILL');
    await c.send(id, { type: 'inc', n: '3' }); // lands while the dead process still holds the lease
    const v = await c.waitFor(id, (v) => (v.context as Counted).count === 3, { timeout: 15_000 });
    expect(v.context).toEqual({ count: 3, seen: ['1', '2', '3'] });
    expect(restored).toEqual([id]);
    expect(await redis.get(keys.lease)).toBe(rt.self);
    await c.send(id, { type: 'finish' });
    expect((await c.waitFor(id, (v) => v.status !== 'active', { timeout: 10_000 })).output).toEqual({ count: 3 });
  });
});
