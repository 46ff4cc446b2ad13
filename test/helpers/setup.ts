// What a test file opens against Redis (runtimes, clients, queues, a plain
// connection) and closes with the vitest hooks registered here, so no file
// repeats the closers list and its afterEach / afterAll.
//
//   const { redis, runtime, client, closers } = useBaton({ kill: killAgentProcs, runtime: { leaseMs: 500, machines } });
//
// Only the public API (src/index.ts) is used: nothing here depends on how the runtime works inside.
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach } from 'vitest';
import { createClient, createRuntime, type BatonClient, type ClientOptions, type ConnectionOption, type Runtime, type RuntimeOptions } from '../../src/index.js';
import { openAgentQueue, openQueue } from './queues.ts';
import { redisUrl } from './redis-url.ts';

/** Something to close when the file's tests are done: a function, or anything with close() (a runtime, a client). */
export type Closer = (() => Promise<unknown>) | { close(): Promise<unknown> };

export interface UseBatonOptions {
  /**
   * When what was opened is closed. 'each' (default): after every test, all at
   * once, failures ignored (the test's own outcome is what counts). 'all': once
   * after the file, all at once, a failure fails the file.
   */
  close?: 'each' | 'all';
  /**
   * Runs after every test, before anything is closed (with close 'each', in the
   * same hook): killAgentProcs or killAllRuntimeProcs, so child processes a test
   * started never outlive it.
   */
  kill?: () => Promise<unknown>;
  /** Redis of the runtimes and clients opened here; called for each. Default redisUrl(). */
  connection?: () => ConnectionOption;
  /** What runtime() starts from (its options go over these). */
  runtime?: Partial<RuntimeOptions>;
}

export interface BatonSetup {
  /** A plain connection to redisUrl(), opened on first use and disconnected after the file. */
  readonly redis: Redis;
  /** Closed as `close` says; a test adds its own (a subscription's off, a worker it made). */
  readonly closers: Closer[];
  /** Adds `c` to the closers and returns it. */
  track<T extends Closer>(c: T): T;
  /** createRuntime on `prefix` with the defaults, then `opts`; closed with the rest. */
  runtime(prefix: string, opts?: Partial<RuntimeOptions>): Promise<Runtime>;
  /** createClient on `prefix`, with `opts`; closed with the rest. */
  client(prefix: string, opts?: Partial<ClientOptions>): BatonClient;
  /** The BullMQ queue `name` of `prefix` (see openQueue); closed with the rest. */
  queue(prefix: string, name: string): Queue;
  /** The queue of agent `agent` (`agent-<agent>`); closed with the rest. */
  agentQueue(prefix: string, agent: string): Queue;
}

function closeOne(c: Closer): Promise<unknown> {
  return typeof c === 'function' ? c() : c.close();
}

/** Registers the hooks that close what the returned helpers open; call it at the top of a test file (or a describe). */
export function useBaton(opts: UseBatonOptions = {}): BatonSetup {
  const closers: Closer[] = [];
  const connection = opts.connection ?? redisUrl;
  let redis: Redis | undefined;

  if (opts.close === 'all') {
    if (opts.kill) afterEach(opts.kill);
    afterAll(async () => {
      await Promise.all(closers.splice(0).map(closeOne));
      redis?.disconnect();
    });
  } else {
    afterEach(async () => {
      await opts.kill?.();
      await Promise.all(closers.splice(0).map((c) => closeOne(c).catch(() => undefined)));
    });
    afterAll(() => redis?.disconnect());
  }

  const track = <T extends Closer>(c: T): T => {
    closers.push(c);
    return c;
  };
  const keep = ({ queue, close }: { queue: Queue; close: () => Promise<void> }): Queue => {
    closers.push(close);
    return queue;
  };

  return {
    get redis() {
      redis ??= new Redis(redisUrl());
      return redis;
    },
    closers,
    track,
    async runtime(prefix, options = {}) {
      return track(await createRuntime({ connection: connection(), prefix, ...opts.runtime, ...options }));
    },
    client(prefix, options = {}) {
      return track(createClient({ connection: connection(), prefix, ...options }));
    },
    queue: (prefix, name) => keep(openQueue(prefix, name)),
    agentQueue: (prefix, agent) => keep(openAgentQueue(prefix, agent)),
  };
}
