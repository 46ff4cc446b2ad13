import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { JsonSchema, MachineRecord } from '../persistence/registry-store.js';
import type { SchemaLike } from '../persistence/validate.js';
import { normaliseMachines, type MachineEntry, type TaskDefinition } from './definition.js';
import { machineGraph } from './machine-graph.js';

/**
 * The JSON Schema of what a caller may send for `schema`, from zod 4's own
 * export: the input side (`io: 'input'`: defaults optional, transforms by what
 * they take). What JSON Schema cannot say is left open rather than guessed:
 * refinements are not exported, unrepresentable types (dates, bigints) become
 * `{}`, and `z.coerce.*` accepts anything (zod coerces, a JSON Schema would
 * refuse). Those are checked again where the task runs. Undefined for a
 * schema that is not zod's (nothing a client could check).
 */
export function exportSchema(schema: SchemaLike | undefined): JsonSchema | undefined {
  if (!schema || typeof schema !== 'object' || !('_zod' in schema)) return undefined;
  try {
    return z.toJSONSchema(schema as unknown as z.ZodType, {
      io: 'input',
      unrepresentable: 'any',
      override: (ctx) => {
        const def = (ctx.zodSchema as { _zod?: { def?: { coerce?: boolean } } })._zod?.def;
        if (def?.coerce) for (const k of Object.keys(ctx.jsonSchema)) delete (ctx.jsonSchema as Record<string, unknown>)[k];
      },
    }) as JsonSchema;
  } catch {
    return undefined; // a schema zod cannot export (cycles without ids, …): checked where the task runs
  }
}

/** The registry record of one machine version: schemas, the closed flag and the statechart. */
export function machineRecord(name: string, def: TaskDefinition): MachineRecord {
  const events: Record<string, JsonSchema | null> = {};
  for (const [type, schema] of Object.entries(def.events ?? {})) events[type] = exportSchema(schema) ?? null;
  const input = def.input ? (exportSchema(def.input) ?? {}) : null;
  const inputOptional = !def.input || def.input.safeParse(undefined).success;
  const body = { name, version: def.version, input, inputOptional, events, closed: def.closed === true, graph: machineGraph(def.machine, name) };
  const fingerprint = createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 16);
  return { ...body, fingerprint };
}

/**
 * What a machine publishes in the registry, from its code: version, JSON
 * Schemas of its input and events, closed flag and statechart (a bare
 * machine or a {@link TaskDefinition}).
 */
export function describeMachine(name: string, entry: MachineEntry): MachineRecord {
  const def = normaliseMachines({ [name]: entry }).get(name)!;
  return machineRecord(name, def);
}
