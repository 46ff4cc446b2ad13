/** Run options, all from the environment (see bench/peers/README.md). */
export interface Config {
  rounds: number;
  singleRuns: number;
  batchTasks: number;
  concurrency: number;
  parallelRuns: number;
  crashTrials: number;
  warmup: number;
  failoverMs: number;
  only: string[] | undefined;
  workloads: Set<'A' | 'B' | 'C'>;
  maxLoad: number;
  loadWaitS: number;
  pgUrl: string;
  crashTimeoutMs: number;
  /** Turn Redis's AOF on with this fsync policy for the run (unset: leave Redis as it is). */
  redisAppendfsync: string | undefined;
}

function num(name: string, dflt: number, min = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min) throw new Error(`${name} must be a number >= ${min} (got '${raw}')`);
  return v;
}

export function loadConfig(): Config {
  const only = process.env.PEERS_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
  const workloads = new Set(
    (process.env.PEERS_WORKLOADS ?? 'A,B,C')
      .split(',')
      .map((s) => s.trim().toUpperCase())
      .filter(Boolean),
  );
  for (const w of workloads) if (!['A', 'B', 'C'].includes(w)) throw new Error(`PEERS_WORKLOADS: unknown workload '${w}'`);
  return {
    rounds: num('PEERS_ROUNDS', 5, 1),
    singleRuns: num('PEERS_SINGLE_RUNS', 25, 1),
    batchTasks: num('PEERS_BATCH_TASKS', 200, 1),
    concurrency: num('PEERS_CONCURRENCY', 20, 1),
    parallelRuns: num('PEERS_PARALLEL_RUNS', 25, 1),
    crashTrials: num('PEERS_CRASH_TRIALS', 5, 0),
    warmup: num('PEERS_WARMUP', 20, 0),
    failoverMs: num('PEERS_FAILOVER_MS', 1000, 100),
    only: only?.length ? only : undefined,
    workloads: workloads as Set<'A' | 'B' | 'C'>,
    maxLoad: num('PEERS_MAX_LOAD', 1.0, 0),
    loadWaitS: num('PEERS_LOAD_WAIT_S', 180, 0),
    pgUrl: process.env.PEERS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    crashTimeoutMs: num('PEERS_CRASH_TIMEOUT_MS', 60_000, 1000),
    redisAppendfsync: process.env.PEERS_REDIS_APPENDFSYNC || undefined,
  };
}

/** How many of `total` fall in round r of R (spread evenly, summing to total). */
export function share(total: number, r: number, rounds: number): number {
  return Math.floor((total * (r + 1)) / rounds) - Math.floor((total * r) / rounds);
}
