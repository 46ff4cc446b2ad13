import type { AnyActorLogic } from 'xstate';
import { zodRules, type EventRules, type SchemaLike } from '../persistence/validate.js';

/**
 * A machine registered with Baton, with what the runtime needs around it.
 *
 * @example
 * const research = defineTask(researchMachine, {
 *   version: 2,
 *   migrate: (snapshot, from) => (from === 1 ? { ...snapshot, context: { ...snapshot.context, scope: 'all' } } : snapshot),
 *   input: z.object({ topic: z.string() }),
 *   events: { 'user.update': z.object({ type: z.literal('user.update'), scope: z.string() }) },
 * });
 */
export interface TaskDefinition<TMachine extends AnyActorLogic = AnyActorLogic> {
  /** The XState machine. Register every child logic in `setup({ actors })` so it persists. */
  machine: TMachine;
  /**
   * Version stamped on every committed snapshot.
   * @default 1
   */
  version: number;
  /** Upgrades a snapshot committed by an older version; runs on restore. */
  migrate?: (snapshot: Record<string, unknown>, fromVersion: number) => Record<string, unknown>;
  /** Schema of the spawn input, checked at `spawn`. */
  input?: SchemaLike;
  /** Schemas per event type, checked at `send` and again before the event is applied. */
  events?: Record<string, SchemaLike>;
  /**
   * Refuse event types that have no schema in `events`: `send` throws
   * `INVALID_EVENT` instead of the task committing a step that changes nothing.
   * @default false (any event type is accepted; those without a schema are not checked)
   */
  closed?: boolean;
}

/** Options of {@link defineTask}. */
export type TaskDefinitionOptions = Partial<Omit<TaskDefinition, 'machine'>>;

/** Wrap a machine with a version, a migration and schemas. */
export function defineTask<TMachine extends AnyActorLogic>(
  machine: TMachine,
  options: TaskDefinitionOptions = {},
): TaskDefinition<TMachine> {
  return { ...options, machine, version: options.version ?? 1 } as TaskDefinition<TMachine>;
}

/** What `machines` accepts: a bare machine or a {@link TaskDefinition}. */
export type MachineEntry = AnyActorLogic | TaskDefinition;

function isDefinition(entry: MachineEntry): entry is TaskDefinition {
  return typeof entry === 'object' && entry !== null && 'machine' in entry && !('transition' in entry);
}

/** Normalise a `machines` map into definitions. */
export function normaliseMachines(machines: Record<string, MachineEntry> | undefined): Map<string, TaskDefinition> {
  const out = new Map<string, TaskDefinition>();
  for (const [name, entry] of Object.entries(machines ?? {})) {
    out.set(name, isDefinition(entry) ? { ...entry, version: entry.version ?? 1 } : { machine: entry, version: 1 });
  }
  return out;
}

const rulesCache = new WeakMap<TaskDefinition, EventRules>();

/** The event rules of a definition (its zod schemas and `closed`), built once per definition. */
export function definitionRules(def: TaskDefinition): EventRules {
  let rules = rulesCache.get(def);
  if (!rules) {
    rules = zodRules(def.events, def.closed === true);
    rulesCache.set(def, rules);
  }
  return rules;
}
