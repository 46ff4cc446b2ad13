// Where a fault run's Redis lives: one private redis-server (every fault
// but the failover), a master with one replica and three Sentinels, or a
// Redis Cluster of three masters with one replica each. The two replicated
// kinds link the replica of the master the run kills through a LinkProxy,
// so the failover can cut replication first: the loss a failover causes
// (writes the master acknowledged and never passed on) shows only then.
import { Cluster, Redis } from 'ioredis';
import { redisCommand, startCluster, startRedis, startSentinelGroup, type ClusterHandle, type RedisServerHandle, type SentinelGroupHandle } from '../helpers/redis-server.ts';
import { rawConnection, type CheckConnection } from './checker.js';
import { LinkProxy } from './proxy.js';

const HOST = '127.0.0.1';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export type Topology = 'single' | 'sentinel' | 'cluster';

/** What a failover measured, ms since the epoch. */
export interface FailoverTimings {
  cutAt: number;
  killAt: number;
  /** The replica took the master's place (Sentinel names it; the cluster gives it the slots). */
  promotedAt: number;
  /** The first commit of a task on the new master (its seq rose above what it held at the kill). */
  firstCommitAt?: number;
  /** The old master, restarted empty, is a replica of the new one, in sync. */
  rejoinedAt: number;
  /** The first send() to a task of the failed master acknowledged after the kill (filled in from the senders' log). */
  firstAckAt?: number;
}

/** A failover's timings and the state keys of the tasks the failed master held. */
export interface FailoverResult {
  timings: FailoverTimings;
  affected: string[];
}

export interface Deployment {
  topology: Topology;
  /** Baton's `connection` for workers and clients (JSON-serialisable). */
  connection: string | Record<string, unknown>;
  /** The same, for the test's raw reads and the checker. */
  raw: CheckConnection;
  describe: string;
  /** The one server (single): the Redis faults act on it. */
  server?: RedisServerHandle;
  /**
   * The test's reads while the run goes on (seq samples, statuses): what a
   * failover would keep, so from the replica that will be promoted when there is one.
   */
  reader(): Redis | Cluster;
  /**
   * Cut the victim's replication link, wait `cutMs`, SIGKILL the master, wait
   * for the promotion, restart the old master empty and wait until it is a
   * replica in sync. `keys` are the tasks' state keys (to time the first commit).
   */
  failover(cutMs: number, keys: string[]): Promise<FailoverResult>;
  stop(): Promise<void>;
}

function infoFields(info: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of String(info).split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`failover: ${what} did not happen within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Whether the server on `port` is a replica of `masterPort`, in sync. */
async function replicaOf(port: number, masterPort: number): Promise<boolean> {
  const f = infoFields(await redisCommand(port, ['INFO', 'replication'], 1000));
  return f.role === 'slave' && f.master_port === String(masterPort) && f.master_link_status === 'up';
}

/**
 * Polls `keys`' seq on the server at `port` (the replica about to be
 * promoted) until one rises above what it held when the poll began: the
 * first commit on the new master. READONLY lets a cluster replica answer.
 */
function firstCommit(port: number, keys: string[], cluster: boolean, timeoutMs = 90_000): { done: Promise<number | undefined>; stop: () => void } {
  const conn = new Redis({ host: HOST, port, maxRetriesPerRequest: 1, enableAutoPipelining: true, lazyConnect: true });
  conn.on('error', () => undefined);
  let stopped = false;
  const read = async () => (await Promise.all(keys.map((k) => conn.hget(k, 'seq')))).map((v) => Number(v ?? 0));
  const done = (async () => {
    try {
      await conn.connect();
      if (cluster) await conn.call('READONLY');
      const base = await read();
      const deadline = Date.now() + timeoutMs;
      while (!stopped && Date.now() < deadline) {
        const now = await read().catch(() => undefined);
        if (now?.some((v, i) => v > base[i]!)) return Date.now();
        await sleep(10);
      }
      return undefined;
    } finally {
      conn.disconnect();
    }
  })();
  return { done, stop: () => (stopped = true) };
}

/** One private redis-server (the deployment of every fault run but the failover). */
export async function singleServer(aof?: false | 'always' | 'everysec'): Promise<Deployment> {
  const server = await startRedis(aof ? { appendonly: true, appendfsync: aof } : {});
  return {
    topology: 'single',
    connection: server.url,
    raw: server.url,
    describe: `redis ${server.url}${aof ? ` (AOF ${aof})` : ''}`,
    server,
    reader: () => rawConnection(server.url, 3) as Redis,
    failover: () => Promise.reject(new Error('a single server has no replica to fail over to')),
    stop: () => server.stop(),
  };
}

/**
 * A master, its replica (linked through a LinkProxy) and three Sentinels.
 * Sentinel's failover-timeout is long, so it does not "fix" the replica's
 * link to the proxy's address during the run.
 */
export async function sentinelGroup(): Promise<Deployment> {
  let proxy: LinkProxy | undefined;
  const group: SentinelGroupHandle = await startSentinelGroup(3, {
    failoverTimeoutMs: 120_000,
    link: async (masterPort) => (proxy = await new LinkProxy({ host: HOST, port: masterPort }).start()).port,
  });
  const sentinels = group.sentinels.map((port) => ({ host: HOST, port }));
  const connection = { sentinels, name: group.name };
  return {
    topology: 'sentinel',
    connection,
    raw: connection,
    describe: `Sentinel group ${group.name}: master ${group.master.port}, replica ${group.replica.port} (linked through proxy ${proxy!.port}), Sentinels ${group.sentinels.join(', ')}`,
    reader: () => rawConnection(group.replica.url, 3) as Redis,
    async failover(cutMs, keys) {
      if (!(await replicaOf(group.replica.port, proxy!.port))) throw new Error('the replica is not linked through the proxy: a cut would not cut');
      const cutAt = Date.now();
      proxy!.cut();
      await sleep(cutMs);
      const commit = firstCommit(group.replica.port, keys, false);
      const killAt = Date.now();
      await group.master.kill('SIGKILL');
      const promotedAt = await until('Sentinel promoting the replica', 30_000, async () => (await group.masterPort()) === group.replica.port && Date.now());
      // The old master comes back empty only once every Sentinel names the new one: a Sentinel still naming the old
      // address would send clients to an empty master (ioredis's role check passes: it says it is a master).
      await until('every Sentinel naming the new master', 30_000, async () => (await group.views()).every((p) => p === group.replica.port));
      await group.master.restart();
      // Sentinel makes it a replica of the new one (after ~8 s, SENTINEL_PUBLISH_PERIOD × 4).
      const rejoinedAt = await until('the old master rejoining as a replica', 60_000, async () => (await replicaOf(group.master.port, group.replica.port)) && Date.now()).catch(async (err: Error) => {
        const roles = await Promise.all([group.master.port, group.replica.port].map((p) => redisCommand(p, ['ROLE']).catch((e: Error) => e.message)));
        throw new Error(`${err.message}; Sentinels name ${(await group.views()).join(', ')}; ROLE of old and new master: ${JSON.stringify(roles)}\n${group.logs(15).join('\n')}`);
      });
      const firstCommitAt = await commit.done;
      return { timings: { cutAt, killAt, promotedAt, firstCommitAt, rejoinedAt }, affected: keys };
    },
    async stop() {
      await group.stop();
      await proxy?.stop();
    },
  };
}

/** The master node (port) serving `slot`, and its replicas, from CLUSTER SHARDS-like CLUSTER SLOTS. */
async function slotOwners(port: number): Promise<Array<{ from: number; to: number; master: number; replicas: number[] }>> {
  const slots = (await redisCommand(port, ['CLUSTER', 'SLOTS'])) as Array<[number, number, [string, number, string], ...Array<[string, number, string]>]>;
  return slots.map(([from, to, master, ...replicas]) => ({ from, to, master: Number(master[1]), replicas: replicas.map((r) => Number(r[1])) }));
}

/**
 * A Redis Cluster of three masters with one replica each. The victim (the
 * master the failover kills) announces a LinkProxy's port, so its replica and
 * every client reach it through the proxy; the cut drops only the replication
 * link. The victim is a master that serves none of `avoidKeys`' slots: the
 * run's record of agent executions (the test's, not Baton's) and the BullMQ
 * queues' hash tag (their lock renewals would otherwise go through the proxy,
 * in the busy test process, and lapse; the Sentinel run fails the queues over).
 */
export async function clusterWithReplicas(avoidKeys: string[]): Promise<Deployment> {
  const cluster: ClusterHandle = await startCluster(3, { replicas: 1 });
  try {
    return await clusterDeployment(cluster, avoidKeys);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

async function clusterDeployment(cluster: ClusterHandle, avoidKeys: string[]): Promise<Deployment> {
  const anyPort = cluster.nodes[0]!.port;
  const avoidSlots = await Promise.all(avoidKeys.map(async (k) => Number(await redisCommand(anyPort, ['CLUSTER', 'KEYSLOT', k]))));
  const shards = await slotOwners(anyPort);
  const byMaster = new Map<number, { slots: Array<[number, number]>; replicas: number[] }>();
  for (const s of shards) {
    const e = byMaster.get(s.master) ?? { slots: [], replicas: s.replicas };
    e.slots.push([s.from, s.to]);
    byMaster.set(s.master, e);
  }
  const found = [...byMaster].find(([, e]) => !e.slots.some(([a, b]) => avoidSlots.some((x) => x >= a && x <= b)) && e.replicas.length === 1);
  if (!found) throw new Error(`no master of the cluster is free of the slots ${avoidSlots.join(', ')}`);
  const [victimPort, victim] = found;
  const heirPort = victim.replicas[0]!;
  const server = (port: number) => cluster.servers.find((s) => s.port === port)!;
  const proxy = await new LinkProxy({ host: HOST, port: victimPort }).start();
  await redisCommand(victimPort, ['CONFIG', 'SET', 'cluster-announce-bus-port', String(victimPort + 10000)]);
  await redisCommand(victimPort, ['CONFIG', 'SET', 'cluster-announce-port', String(proxy.port)]);
  // The replica follows its master's new address (cluster gossip), so it replicates through the proxy.
  await until('the replica linking through the proxy', 30_000, () => replicaOf(heirPort, proxy.port));
  const nodes = cluster.nodes.map((n) => ({ host: n.host, port: n.port }));
  const inShard = (slot: number) => victim.slots.some(([a, b]) => slot >= a && slot <= b);
  return {
    topology: 'cluster',
    connection: { cluster: nodes },
    raw: { cluster: nodes },
    describe: `Redis Cluster ${nodes.map((n) => n.port).join(', ')}; victim master ${victimPort} (announced through proxy ${proxy.port}), its replica ${heirPort}`,
    reader: () => new Cluster(nodes, { scaleReads: 'slave', enableAutoPipelining: true, redisOptions: { maxRetriesPerRequest: 3 } }),
    async failover(cutMs, keys) {
      if (!(await replicaOf(heirPort, proxy.port))) throw new Error('the replica is not linked through the proxy: a cut would not cut');
      const slots = await Promise.all(keys.map(async (k) => Number(await redisCommand(heirPort, ['CLUSTER', 'KEYSLOT', k]))));
      const shardKeys = keys.filter((_, i) => inShard(slots[i]!));
      const cutAt = Date.now();
      proxy.cut('replication');
      await sleep(cutMs);
      const commit = firstCommit(heirPort, shardKeys, true);
      const killAt = Date.now();
      await server(victimPort).kill('SIGKILL');
      const promotedAt = await until('the cluster promoting the replica', 30_000, async () => {
        const owners = await slotOwners(heirPort);
        return owners.some((s) => s.master === heirPort) && Date.now();
      });
      // Back empty, with its nodes.conf: it learns it lost its slots and replicates from the new master.
      await server(victimPort).restart();
      const rejoinedAt = await until('the old master rejoining as a replica', 60_000, async () => (await replicaOf(victimPort, heirPort)) && Date.now());
      const firstCommitAt = await commit.done;
      return { timings: { cutAt, killAt, promotedAt, firstCommitAt, rejoinedAt }, affected: shardKeys };
    },
    async stop() {
      await cluster.stop();
      await proxy.stop();
    },
  };
}
