import { z } from 'zod';
import type { Keys } from './keys.js';
import { runScript, type RedisLike } from './scripts.js';

/**
 * The machine registry in Redis: what every process publishes about the
 * machines it runs (so a client without the machines' code can validate what
 * it sends, and a view can tell when no live process runs a task's machine).
 * Records read back are untrusted (any process, any version wrote them):
 * they are parsed with zod, and a corrupt one is skipped, never thrown.
 */

/** A JSON Schema document (as zod 4's `z.toJSONSchema` writes it). */
export type JsonSchema = Record<string, unknown>;

const jsonSchema = z.record(z.string(), z.unknown());

/** What one process publishes about one version of one machine. */
export const machineRecordSchema = z.object({
  name: z.string().min(1),
  version: z.number().int().nonnegative(),
  /** JSON Schema of the spawn input; null when the machine has no input schema (any JSON is accepted). */
  input: jsonSchema.nullable(),
  /** A spawn without input is accepted (the schema takes `undefined`). */
  inputOptional: z.boolean(),
  /** JSON Schema per event type with a schema; null for a type whose schema JSON Schema cannot express (checked where the task runs). */
  events: z.record(z.string(), jsonSchema.nullable()),
  /** Event types without a schema are refused at `send`. */
  closed: z.boolean(),
  /** The statechart, for the web view (shape: MachineGraph of src/runtime/machine-graph.ts). */
  graph: z.unknown().optional(),
  /** Hash of the record's content: validators are compiled once per fingerprint. */
  fingerprint: z.string(),
});

/** One machine version in the registry. */
export type MachineRecord = z.infer<typeof machineRecordSchema>;

/** What one process publishes about itself. */
export const processRecordSchema = z.object({
  owner: z.string(),
  host: z.string(),
  pid: z.number(),
  /** Registry fields (`name@version`) of the machines it runs. */
  machines: z.array(z.string()),
  startedAt: z.number(),
  lastSeen: z.number(),
  /** It counts as live until then (a few heartbeats after `lastSeen`). */
  expiresAt: z.number(),
});

/** One process in the registry. */
export type ProcessRecord = z.infer<typeof processRecordSchema>;

/** The registry field of a machine version. */
export function machineField(name: string, version: number): string {
  return `${name}@${version}`;
}

/** Both registry hashes, parsed. */
export interface RegistryContents {
  machines: MachineRecord[];
  processes: ProcessRecord[];
  /** Fields that did not parse (written by something else), for logs. */
  corrupt: string[];
}

function parseAll<T>(hash: Record<string, string>, schema: z.ZodType<T>, corrupt: string[]): T[] {
  const out: T[] = [];
  for (const [field, json] of Object.entries(hash)) {
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch {
      corrupt.push(field);
      continue;
    }
    const r = schema.safeParse(value);
    if (r.success) out.push(r.data);
    else corrupt.push(field);
  }
  return out;
}

/** Reads and writes one prefix's machine registry. */
export class RegistryStore {
  constructor(
    readonly redis: RedisLike,
    readonly keys: Keys,
  ) {}

  /**
   * Publish (or refresh) a process and the machine records it runs (a process
   * that leaves publishes `expiresAt: now`). Returns how many of its machine
   * fields had no record before this call (after a lost registry, publish them again).
   */
  async publish(proc: ProcessRecord, records: MachineRecord[], now: number, pruneBefore: number): Promise<number> {
    const args: string[] = [proc.owner, JSON.stringify(proc), this.keys.registryChanged, String(Math.round(now)), String(Math.round(pruneBefore))];
    for (const r of records) args.push(machineField(r.name, r.version), JSON.stringify(r));
    const reply = await runScript<[number, number]>(this.redis, 'batonRegister', [this.keys.registryMachines, this.keys.registryProcs], args);
    return Number(reply[1] ?? 0);
  }

  /** Everything in the registry. */
  async read(): Promise<RegistryContents> {
    const [machines, processes] = await Promise.all([
      this.redis.hgetall(this.keys.registryMachines),
      this.redis.hgetall(this.keys.registryProcs),
    ]);
    const corrupt: string[] = [];
    return {
      machines: parseAll(machines, machineRecordSchema, corrupt),
      processes: parseAll(processes, processRecordSchema, corrupt),
      corrupt,
    };
  }
}
