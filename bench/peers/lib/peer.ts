/** What every peer harness implements, and the registry of peers. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PEERS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = path.resolve(PEERS_DIR, '..', '..');

/** Everything a harness needs to find its infrastructure; passed to hosts and crash children. */
export interface PeerCtx {
  runId: string;
  /** Registry name of the peer (see PEERS). */
  peer: string;
  redisUrl: string;
  /** Key prefix (Redis) or name scope owned by this peer in this run. */
  prefix: string;
  /** PostgreSQL database of this peer in this run (DBOS, LangGraph). */
  pgUrl?: string;
  /** Restate server started by the host. */
  restate?: { ingress: string; admin: string; crashPort: number };
  /** Failure-detection timeout (ms) for peers whose default is ≥ 5 s (Baton lease and agent lock, BullMQ lock). */
  failoverMs: number;
  /** Worker concurrency where the peer has one (Baton agents, BullMQ workers). */
  concurrency: number;
}

/** A peer in a benchmark host process (workloads A and C). */
export interface Peer {
  /** How it is configured (durability, timeouts), for the report. */
  readonly config: string;
  setup(): Promise<void>;
  /** Workload A: one seven-step task, end to end; resolves with its results. */
  runTask(taskId: string): Promise<unknown>;
  /** Workload C: two agents in parallel, compared and reconciled; resolves with the record. */
  runParallel(taskId: string): Promise<unknown>;
  teardown(): Promise<void>;
  /** Observations worth reporting (e.g. commits per task), asked for once at the end. */
  notes?(): string[];
  /** Helper processes (pids) to kill should the host die (e.g. restate-server). */
  helperPids?(): number[];
}

/** A peer's worker in a crash child (workload B). */
export interface CrashWorker {
  /** Start the worker and the task; the process then runs until it is killed in step 4. */
  start(taskId: string): Promise<void>;
  /** Start a fresh worker, call `ready()` once it is up, wait for the task to complete; resolves with its results. */
  resume(taskId: string, ready: () => void): Promise<unknown>;
  close(): Promise<void>;
}

export interface PeerModule {
  createPeer(ctx: PeerCtx): Peer;
  createCrashWorker(ctx: PeerCtx): CrashWorker;
}

export interface PeerInfo {
  name: string;
  label: string;
  /** Harness file under bench/peers/peers/. */
  file: string;
  /** Packages whose versions are reported. */
  packages: string[];
  /** Infrastructure it needs from the orchestrator. */
  needs: Array<'pg' | 'restate'>;
  /** True for Baton's own rows. */
  baton?: boolean;
  /** Durable: keeps state across a crash with a resume of its own (the floor has none). */
  durable: boolean;
}

export const PEERS: PeerInfo[] = [
  { name: 'baton', label: 'Baton (fromAgent steps)', file: 'baton.ts', packages: ['xstate', 'bullmq', 'ioredis'], needs: [], baton: true, durable: true },
  { name: 'baton-promise', label: 'Baton (fromPromise steps)', file: 'baton.ts', packages: ['xstate', 'ioredis'], needs: [], baton: true, durable: true },
  { name: 'dbos', label: 'DBOS Transact', file: 'dbos.ts', packages: ['@dbos-inc/dbos-sdk', 'pg'], needs: ['pg'], durable: true },
  { name: 'restate', label: 'Restate', file: 'restate.ts', packages: ['@restatedev/restate-sdk', '@restatedev/restate-server'], needs: ['restate'], durable: true },
  {
    name: 'langgraph',
    label: 'LangGraph + PostgresSaver',
    file: 'langgraph.ts',
    packages: ['@langchain/langgraph', '@langchain/langgraph-checkpoint-postgres', '@langchain/core'],
    needs: ['pg'],
    durable: true,
  },
  { name: 'bullmq', label: 'BullMQ job chain (hand-rolled)', file: 'bullmq-chain.ts', packages: ['bullmq', 'ioredis'], needs: [], durable: true },
  { name: 'floor', label: 'floor: one Redis SET per step', file: 'floor.ts', packages: ['ioredis'], needs: [], durable: false },
];

export function peerInfo(name: string): PeerInfo {
  const p = PEERS.find((x) => x.name === name);
  if (!p) throw new Error(`unknown peer '${name}' (known: ${PEERS.map((x) => x.name).join(', ')})`);
  return p;
}

/** Installed version of a package: bench/peers' own node_modules first, then the project's. */
export function installedVersion(pkg: string): string {
  for (const base of [path.join(PEERS_DIR, 'node_modules'), path.join(ROOT, 'node_modules')]) {
    try {
      return (JSON.parse(readFileSync(path.join(base, pkg, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      /* next */
    }
  }
  return 'not installed';
}

/** The context handed to a host or crash child through the environment. */
export function ctxFromEnv(): PeerCtx {
  const raw = process.env.PEERS_CTX;
  if (!raw) throw new Error('PEERS_CTX is not set (hosts and crash children are started by bench/peers/index.ts)');
  return JSON.parse(raw) as PeerCtx;
}

export async function loadPeer(name: string): Promise<PeerModule> {
  const info = peerInfo(name);
  return (await import(`../peers/${info.file}`)) as PeerModule;
}
