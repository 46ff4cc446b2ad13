import { InvalidOptionsError } from '../errors.js';
import type { ClientOptions } from './client-api.js';
import { systemClock, type Clock } from './clock.js';
import type { Durability } from '../persistence/replication.js';

/** A client's options with every default applied (each default's reason is on {@link ClientOptions}). */
export interface ResolvedClientOptions {
  prefix: string;
  maxEventBytes: number;
  maxInputBytes: number;
  idempotencyWindowSec: number;
  unservedAfterMs: number;
  connectTimeoutMs: number;
  durability: Durability;
  clock: Clock;
  /** Where losing and regaining Redis is told. */
  notify: (message: string) => void;
}

/** A positive whole number of `what`, or the default; anything else is `INVALID_OPTIONS`. */
export function positive(what: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) throw new InvalidOptionsError(`${what} must be a number of at least ${min}, got ${JSON.stringify(value)}`);
  return value;
}

/** Apply the defaults and check the options of a client (a runtime's too). */
export function resolveClientOptions(o: ClientOptions): ResolvedClientOptions {
  const prefix = o.prefix ?? 'baton';
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9_.:-]{1,100}$/.test(prefix)) {
    throw new InvalidOptionsError(`prefix ${JSON.stringify(prefix)} is invalid: use 1-100 letters, digits, '_', '.', ':' and '-'`);
  }
  return {
    prefix,
    maxEventBytes: positive('maxEventBytes', o.maxEventBytes, 256 * 1024),
    maxInputBytes: positive('maxInputBytes', o.maxInputBytes, 1024 * 1024),
    idempotencyWindowSec: positive('idempotencyWindowSec', o.idempotencyWindowSec, 86_400),
    unservedAfterMs: positive('unservedAfterMs', o.unservedAfterMs, 10_000, 0),
    connectTimeoutMs: positive('connectTimeoutMs', o.connectTimeoutMs, 5000),
    durability: durabilityOf(o.durability),
    clock: o.clock ?? systemClock,
    notify: (m) => (o.log ? o.log(m) : console.error(`[baton] ${m}`)),
  };
}

function durabilityOf(d: ClientOptions['durability']): Durability {
  if (d === undefined) return { replicas: 0, timeoutMs: 1000 };
  if (d === null || typeof d !== 'object') throw new InvalidOptionsError(`durability must be { replicas, timeoutMs }, got ${JSON.stringify(d)}`);
  const replicas = positive('durability.replicas', d.replicas, 0, 0);
  if (!Number.isInteger(replicas)) throw new InvalidOptionsError(`durability.replicas must be a whole number of replicas, got ${replicas}`);
  return { replicas, timeoutMs: positive('durability.timeoutMs', d.timeoutMs, 1000) };
}
