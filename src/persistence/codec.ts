/**
 * Snapshot codec: how an XState persisted snapshot becomes the JSON stored in
 * Redis and back. Error objects survive as `{ name, message }` (plain
 * JSON.stringify turns them into `{}`).
 */

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message };
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/**
 * True when `v` holds something plain `JSON.stringify` would not write as
 * Baton does: an Error, a bigint, a `toJSON` method (its result may hold
 * either), or nesting deep enough to be a cycle.
 */
function needsReplacer(v: unknown, depth: number): boolean {
  if (typeof v !== 'object' || v === null) return typeof v === 'bigint';
  if (depth > 64 || v instanceof Error || typeof (v as { toJSON?: unknown }).toJSON === 'function') return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (needsReplacer(v[i], depth + 1)) return true;
    return false;
  }
  for (const k in v) if (needsReplacer((v as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

/**
 * Serialise a persisted snapshot (or any committed value) to JSON. Values
 * without Errors or bigints (nearly all) take V8's fast path: a replacer
 * function makes `JSON.stringify` call back into JS for every key (measured
 * ~40 % slower on a seven-step task's snapshot, and the top function of a
 * commit's CPU).
 */
export function encodeJson(value: unknown): string {
  return (needsReplacer(value, 0) ? JSON.stringify(value, replacer) : JSON.stringify(value)) ?? 'null';
}

/** A snapshot as XState persists it: throws when it lacks the status and value fields. */
export function checkSnapshot(snap: Record<string, unknown>): Record<string, unknown> {
  if (typeof snap.status !== 'string' || !('value' in snap)) {
    throw new Error('snapshot lacks XState status/value fields');
  }
  return snap;
}

/** A delayed event pending in the actor system, as committed with the snapshot. */
export interface PersistedTimer {
  /** Path of child ids from the root to the actor that scheduled it ([] is the root). */
  source: string[];
  /** Path of the actor the event is delivered to. */
  target: string[];
  /** The delayed event. */
  event: { type: string; [k: string]: unknown };
  /** XState's id for the delayed event (used to cancel it on state exit). */
  id: string;
  /** Wall-clock deadline, ms since the epoch, by the runtime's clock. */
  dueAt: number;
}

/** Parse the stored timer table; a corrupt table throws. */
export function decodeTimers(json: string | undefined): PersistedTimer[] {
  if (!json) return [];
  const parsed = JSON.parse(json) as unknown;
  if (!Array.isArray(parsed)) throw new Error('timer table is not an array');
  parsed.forEach((t: unknown, i) => {
    const e = t as Partial<PersistedTimer> | null;
    const ok =
      !!e && typeof e === 'object' && Array.isArray(e.source) && Array.isArray(e.target) && typeof e.id === 'string' && typeof e.dueAt === 'number' && !!e.event && typeof e.event.type === 'string';
    if (!ok) throw new Error(`timer table entry ${i} is not a timer (${JSON.stringify(t)?.slice(0, 120)})`);
  });
  return parsed as PersistedTimer[];
}
