import type { AnyActorRef } from 'xstate';
import { encodeJson } from '../persistence/codec.js';
import { childPath, chunkField, contextField, isPartField, nodeField, type NodePart } from '../persistence/parts.js';
import { grew, mergeDelta, Ops, sameNode, storedValue, type Chunks, type Delta, type MachineFields } from './delta-ops.js';
import { childMeta, childrenOf, logicKind, persistedNode, persistValue } from './xstate-internals.js';

export { mergeDelta, type Delta } from './delta-ops.js';

/**
 * When an array that only grows is written whole again (its chunks dropped):
 * once its chunks hold more bytes than the array last written whole (so the
 * rewrite costs at most what the appends did: amortised, each byte is written
 * about twice), and at most every {@link MAX_CHUNKS} appends.
 */
const MIN_CHUNKS = 32;
const MAX_CHUNKS = 1024;

/** What the last commit wrote of one actor. */
interface Known {
  ref: AnyActorRef;
  path: string;
  /** A machine's children: id → path. */
  kids?: Map<string, string>;
  /** The children object they were last reconciled with (XState replaces it only when a child comes or goes). */
  kidsOf?: unknown;
  /** The actor's snapshot object then: XState hands out a new one on every transition, so identity tells. */
  snap: unknown;
  /** Its node part's JSON. */
  node?: string;
  /** Its context object then, and each key's value (by reference: `assign` keeps unchanged values). */
  ctx?: unknown;
  keys?: Map<string, unknown>;
  /** Per array key: the chunks of appended items stored since it was written whole, their bytes and that whole write's. */
  chunks?: Map<string, Chunks>;
  /** Its place among its siblings (children only). */
  o?: number;
}

/**
 * The delta encoder of one held task: on every capture it looks at the
 * actors XState reported as moved (or, without that list, walks the tree)
 * and emits only the parts whose actor snapshot, node or context key changed
 * since the last capture. An actor looked at and unchanged costs an identity
 * check.
 * Context values are compared by reference, as XState's rule that context is
 * never mutated allows: a value changed in place is written only when its key
 * is assigned again.
 */
export class StateDelta {
  private readonly known = new Map<string, Known>();
  private readonly byRef = new Map<AnyActorRef, Known>();
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
    const d = new Ops();
    const seen = new Set<string>();
    this.walk(actor, '', d, seen, stored);
    const live = new Set<string>();
    for (const [path, k] of this.known) for (const f of fieldsOf(path, k)) live.add(f);
    for (const f in stored) if (isPartField(f) && !live.has(f)) d.del(f);
    this.initial = d.delta();
  }

  /**
   * The parts that changed since the last call (the first call: also what
   * differed from the stored state at restore). `dirty`: the actors whose
   * snapshot changed meanwhile (XState's `@xstate.snapshot` inspection
   * events), so only they are looked at; without it, the whole tree is walked.
   */
  take(root: AnyActorRef, dirty?: ReadonlySet<AnyActorRef>): Delta {
    const d = new Ops();
    if (dirty && !this.initial) {
      this.visit(root, '', d);
      this.reconcile(this.known.get('')!, d);
      for (const ref of dirty) {
        const k = this.byRef.get(ref);
        if (!k || k.path === '') continue; // new (reached from its parent), or the root (done)
        this.visit(ref, k.path, d);
        if (k.kids) this.reconcile(k, d);
      }
      return d.delta();
    }
    const seen = new Set<string>();
    this.walk(root, '', d, seen);
    if (seen.size < this.known.size) for (const [path, k] of this.known) if (!seen.has(path)) this.forget(k, d);
    if (!this.initial) return d.delta();
    const first = this.initial;
    this.initial = undefined;
    return mergeDelta(first, d.delta());
  }

  /** Record the actor at `path` and everything below it; emit into `d` what changed, or with `stored`, what differs from it. */
  private walk(ref: AnyActorRef, path: string, d: Ops, seen: Set<string>, stored?: Record<string, string>): void {
    seen.add(path);
    const k = this.visit(ref, path, d, stored);
    if (!k.kids) return;
    const kids = childrenOf(ref);
    k.kids.clear();
    k.kidsOf = kids;
    for (const id in kids) {
      const p = childPath(path, id);
      k.kids.set(id, p);
      const was = this.known.get(p);
      if (was && was.ref !== kids[id]) this.forget(was, d); // another actor under the same id
      this.walk(kids[id]!, p, d, seen, stored);
    }
  }

  /** A machine's children against what is known of them: new ones walked, gone ones forgotten (their parts deleted). */
  private reconcile(k: Known, d: Ops): void {
    const kids = childrenOf(k.ref) ?? {};
    if (kids === k.kidsOf) return;
    k.kidsOf = kids;
    const known = k.kids!;
    for (const [id, p] of known) {
      const was = this.known.get(p);
      if (!kids[id] || was?.ref !== kids[id]) {
        if (was) this.forget(was, d);
        known.delete(id);
      }
    }
    for (const id in kids) {
      if (known.has(id)) continue;
      const p = childPath(k.path, id);
      known.set(id, p);
      this.walk(kids[id]!, p, d, new Set());
    }
  }

  /** An actor left the tree: delete its parts and its descendants'. */
  private forget(k: Known, d: Ops): void {
    if (this.known.get(k.path) !== k) return;
    for (const f of fieldsOf(k.path, k)) d.del(f);
    this.known.delete(k.path);
    this.byRef.delete(k.ref);
    for (const p of k.kids?.values() ?? []) {
      const c = this.known.get(p);
      if (c) this.forget(c, d);
    }
  }

  /** Record one actor (not its children); emit its node and context keys that changed. */
  private visit(ref: AnyActorRef, path: string, d: Ops, stored?: Record<string, string>): Known {
    const snap = ref.getSnapshot() as { context?: unknown };
    let k = this.known.get(path);
    const machine = path === '' || logicKind(ref) === 'machine';
    if (k && k.ref !== ref) {
      this.byRef.delete(k.ref);
      k.ref = ref;
      this.byRef.set(ref, k);
    }
    if (!k || k.snap !== snap) {
      if (!k) {
        k = { ref, path, snap, o: path === '' ? undefined : this.place(stored?.[nodeField(path)]), kids: machine ? new Map() : undefined };
        this.known.set(path, k);
        this.byRef.set(ref, k);
      }
      const was = k.snap as MachineFields | undefined;
      k.snap = snap;
      let json: string;
      if (machine && k.node !== undefined && !stored && sameNode(was, snap as MachineFields)) {
        // Only the context (or the children) moved: the node is what it was.
        const ctx = snap.context;
        if (ctx && typeof ctx === 'object' && !Array.isArray(ctx)) {
          this.context(path, ctx as Record<string, unknown>, k, d);
          return k;
        }
      }
      if (machine) {
        const node: NodePart = { s: persistedNode(ref), x: 1 };
        if (path !== '') {
          node.m = childMeta(ref);
          node.o = k.o;
        }
        const ctx = snap.context;
        if (ctx && typeof ctx === 'object' && !Array.isArray(ctx)) {
          this.context(path, ctx as Record<string, unknown>, k, d, stored);
          node.ck = [...k.keys!.keys()];
        } else node.c = persistValue(ctx);
        json = encodeJson(node);
      } else json = encodeJson({ s: ref.getPersistedSnapshot(), m: childMeta(ref), o: k.o });
      if (json !== (stored ? stored[nodeField(path)] : k.node)) d.set(nodeField(path), json);
      k.node = json;
    }
    return k;
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

  private context(path: string, ctx: Record<string, unknown>, k: Known, d: Ops, stored?: Record<string, string>): void {
    if (k.ctx === ctx) return;
    const prev = k.keys;
    const prevChunks = k.chunks;
    const keys = new Map<string, unknown>();
    const chunks = new Map<string, Chunks>();
    for (const key in ctx) {
      const v = ctx[key];
      if (v === undefined) continue;
      keys.set(key, v);
      const field = contextField(path, key);
      if (stored) {
        const json = encodeJson(persistValue(v));
        const was = storedValue(stored, path, key);
        if (was.json === json) {
          if (Array.isArray(v)) chunks.set(key, was.chunks);
        } else {
          d.set(field, json);
          for (let n = 1; n <= was.chunks.n; n++) d.del(chunkField(path, key, n));
          if (Array.isArray(v)) chunks.set(key, { n: 0, bytes: 0, base: json.length });
        }
        continue;
      }
      const had = prevChunks?.get(key);
      const old = prev?.get(key);
      if (old === v && prev!.has(key)) {
        if (had) chunks.set(key, had);
        continue;
      }
      if (Array.isArray(v) && Array.isArray(old) && had && !(had.n >= MAX_CHUNKS || (had.n >= MIN_CHUNKS && had.bytes > had.base)) && grew(old, v)) {
        if (v.length === old.length) {
          chunks.set(key, had);
          continue;
        }
        const items = encodeJson(persistValue(v.slice(old.length)));
        d.set(chunkField(path, key, had.n + 1), items);
        chunks.set(key, { n: had.n + 1, bytes: had.bytes + items.length, base: had.base });
        continue;
      }
      const json = encodeJson(persistValue(v));
      d.set(field, json);
      for (let n = 1; n <= (had?.n ?? 0); n++) d.del(chunkField(path, key, n));
      if (Array.isArray(v)) chunks.set(key, { n: 0, bytes: 0, base: json.length });
    }
    if (prev) {
      for (const key of prev.keys()) {
        if (keys.has(key)) continue;
        d.del(contextField(path, key));
        for (let n = 1; n <= (prevChunks?.get(key)?.n ?? 0); n++) d.del(chunkField(path, key, n));
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
    for (let n = 1; n <= (k.chunks?.get(key)?.n ?? 0); n++) out.push(chunkField(path, key, n));
  }
  return out;
}

