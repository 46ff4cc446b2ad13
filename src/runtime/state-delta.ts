import type { AnyActorRef } from 'xstate';
import { encodeJson } from '../persistence/codec.js';
import { childPath, chunkField, contextField, isPartField, nodeField, type NodePart } from '../persistence/parts.js';
import { childMeta, childrenOf, logicKind, persistedNode, persistValue } from './xstate-internals.js';

/**
 * What one commit changes in a task's stored parts (see persistence/parts.ts),
 * flat for the commit script: `set` field, JSON, field, JSON, …; `del` fields.
 */
export interface Delta {
  set: string[];
  del: string[];
}

/** Chunks of appended items a context key may collect before its array is written whole again. */
const MAX_CHUNKS = 32;

/** What the last commit wrote of one actor. */
interface Known {
  /** The actor's snapshot object then: XState hands out a new one on every transition, so identity tells. */
  snap: unknown;
  /** Its node part's JSON. */
  node?: string;
  /** Its context object then, and each key's value (by reference: `assign` keeps unchanged values). */
  ctx?: unknown;
  keys?: Map<string, unknown>;
  /** How many chunks of appended items each array key has stored (an array that only grew is appended to). */
  chunks?: Map<string, number>;
  /** Its place among its siblings (children only). */
  o?: number;
}

/**
 * The delta encoder of one held task: walks the actor tree on every capture
 * and emits only the parts whose actor snapshot, node or context key changed
 * since the last capture. An actor left unchanged costs an identity check.
 * Context values are compared by reference, as XState's rule that context is
 * never mutated allows: a value changed in place is written only when its key
 * is assigned again.
 */
export class StateDelta {
  private readonly known = new Map<string, Known>();
  /** The last place handed to a child: a new child goes after every other. */
  private ordinal = 0;
  /** What differs between the restored actor and the stored parts: written by the first delta. */
  private initial: Delta | undefined;

  /**
   * `stored`: the task's state hash as read at restore (its part fields are
   * compared with the restored `actor`, so the first delta writes exactly
   * what differs: everything for a task never committed in parts (format 1,
   * or new), what a migration changed, and deletes parts no actor has).
   */
  constructor(stored: Record<string, string>, actor: AnyActorRef) {
    const d: Delta = { set: [], del: [] };
    const seen = new Set<string>();
    this.walk(actor, '', d, seen, stored);
    const live = new Set<string>();
    for (const [path, k] of this.known) for (const f of fieldsOf(path, k)) live.add(f);
    for (const f in stored) if (isPartField(f) && !live.has(f)) d.del.push(f);
    this.initial = d;
  }

  /** The parts that changed since the last call (the first call: also what differed from the stored state at restore). */
  take(root: AnyActorRef): Delta {
    const d: Delta = { set: [], del: [] };
    const seen = new Set<string>();
    this.walk(root, '', d, seen);
    if (seen.size < this.known.size) {
      for (const [path, k] of this.known) {
        if (seen.has(path)) continue;
        d.del.push(...fieldsOf(path, k));
        this.known.delete(path);
      }
    }
    if (!this.initial) return d;
    const first = this.initial;
    this.initial = undefined;
    return mergeDelta(first, d);
  }

  /** Record the actor at `path` (and below); emit into `d` what changed, or with `stored`, what differs from it. */
  private walk(ref: AnyActorRef, path: string, d: Delta, seen: Set<string>, stored?: Record<string, string>): void {
    seen.add(path);
    const snap = ref.getSnapshot() as { context?: unknown };
    let k = this.known.get(path);
    const machine = path === '' || logicKind(ref) === 'machine';
    if (!k || k.snap !== snap) {
      if (!k) this.known.set(path, (k = { snap, o: path === '' ? undefined : this.place(stored?.[nodeField(path)]) }));
      k.snap = snap;
      let json: string;
      if (machine) {
        const node: NodePart = { s: persistedNode(ref), x: 1 };
        if (path !== '') {
          node.m = childMeta(ref);
          node.o = k.o;
        }
        const ctx = snap.context;
        if (ctx && typeof ctx === 'object' && !Array.isArray(ctx)) this.context(path, ctx as Record<string, unknown>, k, d, stored);
        else node.c = persistValue(ctx);
        json = encodeJson(node);
      } else json = encodeJson({ s: ref.getPersistedSnapshot(), m: childMeta(ref), o: k.o });
      if (json !== (stored ? stored[nodeField(path)] : k.node)) d.set.push(nodeField(path), json);
      k.node = json;
    }
    if (!machine) return;
    const kids = childrenOf(ref);
    for (const id in kids) this.walk(kids[id]!, childPath(path, id), d, seen, stored);
  }

  /** A new child's place: the one it is stored with (at restore), else after every other. */
  private place(storedNode: string | undefined): number {
    let o: unknown;
    try {
      o = storedNode ? (JSON.parse(storedNode) as { o?: unknown }).o : undefined;
    } catch {
      o = undefined;
    }
    if (typeof o === 'number' && Number.isFinite(o)) {
      this.ordinal = Math.max(this.ordinal, o);
      return o;
    }
    return ++this.ordinal;
  }

  private context(path: string, ctx: Record<string, unknown>, k: Known, d: Delta, stored?: Record<string, string>): void {
    if (k.ctx === ctx) return;
    const prev = k.keys;
    const prevChunks = k.chunks;
    const keys = new Map<string, unknown>();
    const chunks = new Map<string, number>();
    for (const key in ctx) {
      const v = ctx[key];
      if (v === undefined) continue;
      keys.set(key, v);
      const field = contextField(path, key);
      if (stored) {
        const json = encodeJson(persistValue(v));
        const was = storedValue(stored, path, key);
        if (was.json === json) {
          if (was.chunks) chunks.set(key, was.chunks);
        } else {
          d.set.push(field, json);
          for (let n = 1; n <= was.chunks; n++) d.del.push(chunkField(path, key, n));
        }
        continue;
      }
      const had = prevChunks?.get(key) ?? 0;
      const old = prev?.get(key);
      if (old === v && prev!.has(key)) {
        if (had) chunks.set(key, had);
        continue;
      }
      if (Array.isArray(v) && Array.isArray(old) && had < MAX_CHUNKS && grew(old, v)) {
        if (v.length === old.length) {
          if (had) chunks.set(key, had);
          continue;
        }
        d.set.push(chunkField(path, key, had + 1), encodeJson(persistValue(v.slice(old.length))));
        chunks.set(key, had + 1);
        continue;
      }
      d.set.push(field, encodeJson(persistValue(v)));
      for (let n = 1; n <= had; n++) d.del.push(chunkField(path, key, n));
    }
    if (prev) {
      for (const key of prev.keys()) {
        if (keys.has(key)) continue;
        d.del.push(contextField(path, key));
        for (let n = 1; n <= (prevChunks?.get(key) ?? 0); n++) d.del.push(chunkField(path, key, n));
      }
    }
    k.ctx = ctx;
    k.keys = keys;
    k.chunks = chunks;
  }
}

/** Every part field an actor's known state stands for (its node, its context keys and their chunks). */
function fieldsOf(path: string, k: Known): string[] {
  const out = [nodeField(path)];
  for (const key of k.keys?.keys() ?? []) {
    out.push(contextField(path, key));
    for (let n = 1; n <= (k.chunks?.get(key) ?? 0); n++) out.push(chunkField(path, key, n));
  }
  return out;
}

/** The JSON a stored context key stands for (its field, with its appended chunks joined) and how many chunks it has. */
function storedValue(stored: Record<string, string>, path: string, key: string): { json: string | undefined; chunks: number } {
  let json = stored[contextField(path, key)];
  let n = 0;
  for (;;) {
    const chunk = stored[chunkField(path, key, n + 1)];
    if (chunk === undefined) break;
    n++;
    const base = json ?? '[]';
    const items = chunk.slice(1, -1);
    json = items === '' ? base : base === '[]' ? chunk : `${base.slice(0, -1)},${items}]`;
  }
  return { json, chunks: n };
}

/**
 * One delta doing what `a` then `b` do (a cascade of transitions captured as
 * one commit): a later set or delete of a field wins.
 */
export function mergeDelta(a: Delta, b: Delta): Delta {
  if (a.set.length + a.del.length === 0) return b;
  if (b.set.length + b.del.length === 0) return a;
  const set = new Map<string, string>();
  const del = new Set<string>(a.del);
  for (let i = 0; i < a.set.length; i += 2) set.set(a.set[i]!, a.set[i + 1]!);
  for (let i = 0; i < b.set.length; i += 2) {
    const f = b.set[i]!;
    set.delete(f); // re-inserted last: the order of sets is the order they apply in (a chunk after its array)
    set.set(f, b.set[i + 1]!);
    del.delete(f);
  }
  for (const f of b.del) {
    set.delete(f);
    del.add(f);
  }
  return { set: [...set].flat(), del: [...del] };
}

/** True when `next` starts with every element of `old` (by reference): it only grew. */
function grew(old: unknown[], next: unknown[]): boolean {
  if (next.length < old.length) return false;
  for (let i = 0; i < old.length; i++) if (next[i] !== old[i]) return false;
  return true;
}
