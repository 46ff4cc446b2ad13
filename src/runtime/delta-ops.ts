import { chunkField, contextField } from '../persistence/parts.js';

/**
 * The small pieces of the delta encoder (state-delta.ts): the delta a commit
 * carries, how two are merged, the chunks of an array that only grows, and
 * the comparisons that tell a node or an array did not change.
 */

/**
 * What one commit changes in a task's stored parts (see persistence/parts.ts),
 * flat for the commit script: `set` field, JSON, field, JSON, …; `del` fields.
 */
export interface Delta {
  set: string[];
  del: string[];
}

/** The appended chunks of one array key (see {@link MAX_CHUNKS}). */
export interface Chunks {
  n: number;
  bytes: number;
  base: number;
}

/** The fields of a machine snapshot its node part holds (XState's `getPersistedSnapshot` keeps these besides context and children). */
export interface MachineFields {
  status?: unknown;
  value?: unknown;
  output?: unknown;
  error?: unknown;
  historyValue?: unknown;
}

/**
 * True when a machine's node part cannot have changed between two of its
 * snapshots: the same status, output, error and history (by reference) and
 * the same state value, when it is a string (an object value is rebuilt by
 * XState on every transition: those nodes are compared as JSON).
 */
export function sameNode(a: MachineFields | undefined, b: MachineFields): boolean {
  return !!a && typeof a.value === 'string' && a.value === b.value && a.status === b.status && a.output === b.output && a.error === b.error && a.historyValue === b.historyValue;
}

/** The JSON a stored context key stands for (its field, with its appended chunks joined) and its chunks. */
export function storedValue(stored: Record<string, string>, path: string, key: string): { json: string | undefined; chunks: Chunks } {
  let json = stored[contextField(path, key)];
  const chunks: Chunks = { n: 0, bytes: 0, base: json?.length ?? 2 };
  for (;;) {
    const chunk = stored[chunkField(path, key, chunks.n + 1)];
    if (chunk === undefined) break;
    chunks.n++;
    chunks.bytes += chunk.length;
    const base = json ?? '[]';
    const items = chunk.slice(1, -1);
    json = items === '' ? base : base === '[]' ? chunk : `${base.slice(0, -1)},${items}]`;
  }
  return { json, chunks };
}

/**
 * One delta doing what `a` then `b` do (a cascade of transitions captured as
 * one commit): a later set or delete of a field wins.
 */
export function mergeDelta(a: Delta, b: Delta): Delta {
  if (a.set.length + a.del.length === 0) return b;
  if (b.set.length + b.del.length === 0) return a;
  const ops = new Ops();
  for (const x of [a, b]) {
    for (let i = 0; i < x.set.length; i += 2) ops.set(x.set[i]!, x.set[i + 1]!);
    for (const f of x.del) ops.del(f);
  }
  return ops.delta();
}

/**
 * A delta being built, in the order its operations happen: a later set or
 * delete of a field replaces an earlier one (an actor that changed and then
 * left in one step is deleted; one replaced under the same id is written anew).
 */
export class Ops {
  private readonly sets = new Map<string, string>();
  private readonly dels = new Set<string>();

  set(field: string, json: string): void {
    this.dels.delete(field);
    this.sets.delete(field); // re-inserted last: sets apply in the order they were made (a chunk after its array)
    this.sets.set(field, json);
  }

  del(field: string): void {
    this.sets.delete(field);
    this.dels.add(field);
  }

  delta(): Delta {
    const set: string[] = [];
    for (const [f, v] of this.sets) set.push(f, v);
    return { set, del: [...this.dels] };
  }
}

/** True when `next` starts with every element of `old` (by reference): it only grew. */
export function grew(old: unknown[], next: unknown[]): boolean {
  if (next.length < old.length) return false;
  for (let i = 0; i < old.length; i++) if (next[i] !== old[i]) return false;
  return true;
}
