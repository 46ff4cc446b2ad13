import type { AnyActorRef } from 'xstate';
import { encodeJson } from '../persistence/codec.js';
import { childPath, contextField, isPartField, nodeField, type NodePart } from '../persistence/parts.js';
import { childMeta, childrenOf, logicKind, persistedNode, persistValue } from './xstate-internals.js';

/**
 * What one commit changes in a task's stored parts (see persistence/parts.ts),
 * flat for the commit script: `set` field, JSON, …; `app` field, the JSON of
 * the items appended (without brackets), the array's stored length, …; `del`
 * fields.
 */
export interface Delta {
  set: string[];
  app: string[];
  del: string[];
}

/** What the last commit wrote of one actor. */
interface Known {
  /** The actor's snapshot object then: XState hands out a new one on every transition, so identity tells. */
  snap: unknown;
  /** Its node part's JSON. */
  node?: string;
  /** Its context object then, and each key's value (by reference: `assign` keeps unchanged values). */
  ctx?: unknown;
  keys?: Map<string, unknown>;
  /** Lengths written of array values (an array that only grew is appended to). */
  lens?: Map<string, number>;
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
    const d: Delta = { set: [], app: [], del: [] };
    const seen = new Set<string>();
    this.walk(actor, '', d, seen, stored);
    const live = new Set<string>();
    for (const [path, k] of this.known) {
      live.add(nodeField(path));
      for (const key of k.keys?.keys() ?? []) live.add(contextField(path, key));
    }
    for (const f in stored) if (isPartField(f) && !live.has(f)) d.del.push(f);
    this.initial = d;
  }

  /** The parts that changed since the last call (the first call: also what differed from the stored state at restore). */
  take(root: AnyActorRef): Delta {
    const d: Delta = { set: [], app: [], del: [] };
    const seen = new Set<string>();
    this.walk(root, '', d, seen);
    if (seen.size < this.known.size) {
      for (const [path, k] of this.known) {
        if (seen.has(path)) continue;
        d.del.push(nodeField(path));
        for (const key of k.keys?.keys() ?? []) d.del.push(contextField(path, key));
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
    const prevLens = k.lens;
    const keys = new Map<string, unknown>();
    const lens = new Map<string, number>();
    for (const key in ctx) {
      const v = ctx[key];
      if (v === undefined) continue;
      keys.set(key, v);
      const isArray = Array.isArray(v);
      if (isArray) lens.set(key, v.length);
      const field = contextField(path, key);
      if (stored) {
        const json = encodeJson(persistValue(v));
        if (stored[field] !== json) d.set.push(field, json);
        continue;
      }
      const old = prev?.get(key);
      if (old === v && prev!.has(key)) continue;
      if (isArray && Array.isArray(old) && prevLens?.get(key) === old.length && grew(old, v)) {
        if (v.length > old.length) d.app.push(field, encodeJson(persistValue(v.slice(old.length))).slice(1, -1), String(old.length));
      } else d.set.push(field, encodeJson(persistValue(v)));
    }
    if (prev) for (const key of prev.keys()) if (!keys.has(key)) d.del.push(contextField(path, key));
    k.ctx = ctx;
    k.keys = keys;
    k.lens = lens;
  }
}

/**
 * One delta doing what `a` then `b` do (a cascade of transitions captured as
 * one commit): a later set wins, an append after a set extends it.
 */
export function mergeDelta(a: Delta, b: Delta): Delta {
  if (a.set.length + a.app.length + a.del.length === 0) return b;
  if (b.set.length + b.app.length + b.del.length === 0) return a;
  const set = new Map<string, string>();
  const app = new Map<string, [items: string, len: string]>();
  const del = new Set<string>(a.del);
  for (let i = 0; i < a.set.length; i += 2) set.set(a.set[i]!, a.set[i + 1]!);
  for (let i = 0; i < a.app.length; i += 3) app.set(a.app[i]!, [a.app[i + 1]!, a.app[i + 2]!]);
  for (let i = 0; i < b.set.length; i += 2) {
    const f = b.set[i]!;
    set.set(f, b.set[i + 1]!);
    app.delete(f);
    del.delete(f);
  }
  for (let i = 0; i < b.app.length; i += 3) {
    const f = b.app[i]!;
    const items = b.app[i + 1]!;
    const s = set.get(f);
    const p = app.get(f);
    if (s !== undefined) set.set(f, s === '[]' ? `[${items}]` : `${s.slice(0, -1)},${items}]`);
    else if (p) app.set(f, [`${p[0]},${items}`, p[1]]);
    else app.set(f, [items, b.app[i + 2]!]);
  }
  for (const f of b.del) {
    set.delete(f);
    app.delete(f);
    del.add(f);
  }
  return { set: [...set].flat(), app: [...app].flatMap(([f, [items, len]]) => [f, items, len]), del: [...del] };
}

/** True when `next` starts with every element of `old` (by reference): it only grew. */
function grew(old: unknown[], next: unknown[]): boolean {
  if (next.length < old.length) return false;
  for (let i = 0; i < old.length; i++) if (next[i] !== old[i]) return false;
  return true;
}
