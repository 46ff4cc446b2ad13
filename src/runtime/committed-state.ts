import { checkSnapshot, decodeTimers, type PersistedTimer } from '../persistence/codec.js';
import { storedSnapshot } from '../persistence/parts.js';
import type { StateFields } from '../persistence/task-store.js';
import { describeIssues } from '../persistence/validate.js';
import type { TaskDefinition } from './definition.js';

/** What a restore starts from: the committed snapshot (migrated to the current version), its timers and the spawn input. */
export interface CommittedState {
  snapshot?: Record<string, unknown>;
  timers: PersistedTimer[];
  input: unknown;
}

/**
 * Decode a task's committed fields for the machine this process runs. Throws
 * an Error whose message is the readable quarantine reason: corrupt JSON, a
 * corrupt timer table, a snapshot from a newer version, or an older one with
 * no `migrate`.
 */
export function decodeCommitted(fields: StateFields, def: TaskDefinition, machineName: string): CommittedState {
  let snapshot: Record<string, unknown> | undefined;
  let timers: PersistedTimer[] = [];
  const seq = Number(fields.seq ?? 0);
  if (!Number.isInteger(seq) || seq < 0) throw new Error(`committed seq ${JSON.stringify(fields.seq)} is not a whole number`);
  if (fields.cursor !== undefined && !/^\d+-\d+$/.test(fields.cursor)) throw new Error(`mailbox cursor ${JSON.stringify(fields.cursor)} is not a stream id`);
  if (fields.version !== undefined && !/^\d+$/.test(fields.version)) throw new Error(`machine version ${JSON.stringify(fields.version)} is not a whole number`);
  const stored = storedSnapshot(fields);
  // Only a task never committed starts from its input; a committed one without its snapshot has lost its state.
  if (seq > 0 && !stored) throw new Error(`commit ${seq} has no snapshot`);
  if (stored) {
    snapshot = checkSnapshot(stored);
    try {
      timers = decodeTimers(fields.timers);
    } catch (err) {
      throw new Error(`the pending-timer table is corrupt (${(err as Error).message})`);
    }
    const from = Number(fields.version ?? def.version);
    if (from > def.version) {
      throw new Error(`snapshot was committed by version ${from} of '${machineName}', newer than this process's version ${def.version}`);
    }
    if (from < def.version) {
      if (!def.migrate) throw new Error(`snapshot is version ${from} of '${machineName}' and no migrate() upgrades it to ${def.version}`);
      snapshot = def.migrate(snapshot, from);
    }
  }
  let input: unknown;
  try {
    input = fields.input ? JSON.parse(fields.input) : undefined;
  } catch {
    throw new Error('stored spawn input is not valid JSON');
  }
  // A task's first start parses its input with the machine's own schema: defaults and transforms apply
  // here, and what the sender could not check (refinements, from a client that knew only the JSON Schema).
  if (!snapshot && def.input) input = parseInput(def, input);
  return { snapshot, timers, input };
}

/** The spawn input failed the machine's schema where the task runs: the task ends in `error` and never runs. */
export class InputRefusedError extends Error {}

function parseInput(def: TaskDefinition, stored: unknown): unknown {
  const schema = def.input!;
  let r = schema.safeParse(stored);
  // No input is stored as null: a schema that takes undefined but not null meant "optional".
  if (!r.success && stored === null) {
    const absent = schema.safeParse(undefined);
    if (absent.success) r = absent;
  }
  if (r.success) return r.data;
  throw new InputRefusedError(`spawn input does not match the machine's schema: ${describeIssues(r.error.issues)}`);
}

/** A readable message from whatever an actor failed with. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (err && typeof err === 'object' && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}
