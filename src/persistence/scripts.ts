import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';

/** A Redis connection Baton can run its scripts on: a single node or a cluster. */
export type RedisLike = Redis | Cluster;

/** Return codes of Baton's Lua scripts (see each script's header). */
export const ScriptCode = {
  Ok: 1,
  Duplicate: 2,
  NotFound: -1,
  Exists: -2,
  NotRunning: -3,
  Held: -4,
  Fenced: -5,
  SeqConflict: -6,
  Pending: -7,
  Stale: -8,
  Gone: -9,
} as const;

const SCRIPTS = {
  batonSpawn: { file: 'spawn-5.lua', keys: 5 },
  batonSend: { file: 'send-5.lua', keys: 5 },
  batonAcquire: { file: 'acquire-3.lua', keys: 3 },
  batonCommit: { file: 'commit-7.lua', keys: 7 },
  batonRelease: { file: 'release-4.lua', keys: 4 },
  batonQuarantine: { file: 'quarantine-3.lua', keys: 3 },
  batonRenew: { file: 'renew-1.lua', keys: 1 },
  batonClaimDue: { file: 'claim-due-1.lua', keys: 1 },
  batonClearDue: { file: 'clear-due-1.lua', keys: 1 },
  batonRegister: { file: 'register-2.lua', keys: 2 },
  batonStream: { file: 'stream-3.lua', keys: 3 },
  batonProgress: { file: 'progress-1.lua', keys: 1 },
} as const;

/** Name of one of Baton's scripts. */
export type ScriptName = keyof typeof SCRIPTS;

const sources = new Map<ScriptName, string>();

/** The Lua source of a script (read once from `lua/`). */
export function scriptSource(name: ScriptName): string {
  let src = sources.get(name);
  if (src === undefined) {
    src = readFileSync(new URL(`./lua/${SCRIPTS[name].file}`, import.meta.url), 'utf8');
    sources.set(name, src);
  }
  return src;
}

const defined = new WeakSet<object>();

/** Register Baton's scripts on a connection (EVALSHA with automatic EVAL fallback). */
export function defineScripts(redis: RedisLike): void {
  if (defined.has(redis)) return;
  for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
    redis.defineCommand(name, { numberOfKeys: SCRIPTS[name].keys, lua: scriptSource(name) });
  }
  defined.add(redis);
}

type ScriptArg = string | number;

/** Run one of Baton's scripts. The connection must have gone through {@link defineScripts}. */
export function runScript<T = unknown>(redis: RedisLike, name: ScriptName, keys: string[], args: ScriptArg[]): Promise<T> {
  const fn = (redis as unknown as Record<string, (...a: ScriptArg[]) => Promise<T>>)[name];
  if (!fn) throw new Error(`script ${name} is not defined on this connection`);
  return fn.call(redis, ...keys, ...args);
}
