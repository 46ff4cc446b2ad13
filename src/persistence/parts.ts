/**
 * A task's stored state in parts (format 2): each actor of the tree in its
 * own field of the state hash, and each top-level key of a machine actor's
 * context in a field of its own, so a commit rewrites only what changed.
 *
 *   n:<path>        the actor: `{ "s": its persisted snapshot (a machine's
 *                   without context and children), "x": 1 for a machine,
 *                   "ck": its context keys in order,
 *                   "m": { src, systemId, syncSnapshot } and "o": its place
 *                   among its siblings (children only) }`
 *   x:<path>:<key>  one key of a machine actor's context (JSON)
 *   a:<path>:<key>:<n>  items appended to that key's array since it was last
 *                   written whole (JSON array), n = 1, 2, …: an array that only
 *                   grows costs its new items; after a few dozen chunks the
 *                   next commit writes it whole again and drops them
 *
 * `<path>` is the child ids from the root, joined by `/` ('' is the root),
 * each id with `%`, `/` and `:` percent-escaped. A machine's children are
 * the nodes one level below it, in the order of their `o`: no part lists
 * them, so adding or removing one child writes that child's parts only.
 * The persisted snapshot
 * XState restores from is {@link assemble}d from the parts; format 1 (one
 * `snapshot` field) is still read, and a task's first commit after it
 * rewrites the task in parts.
 */

/** The `format` field of a state hash written in parts. */
export const PARTS_FORMAT = '2';

/** Escape one child id for a path. */
function esc(id: string): string {
  return /[%/:]/.test(id) ? id.replace(/%/g, '%25').replace(/\//g, '%2F').replace(/:/g, '%3A') : id;
}

function unesc(s: string): string {
  return s.includes('%') ? s.replace(/%2F/g, '/').replace(/%3A/g, ':').replace(/%25/g, '%') : s;
}

/** The path key of child `id` under `parent` ('' is the root). */
export function childPath(parent: string, id: string): string {
  return parent === '' ? esc(id) : `${parent}/${esc(id)}`;
}

/** The child ids of a path key. */
export function pathIds(path: string): string[] {
  return path === '' ? [] : path.split('/').map(unesc);
}

/** Field of an actor's node part. */
export function nodeField(path: string): string {
  return `n:${path}`;
}

/** Field of one key of a machine actor's context. */
export function contextField(path: string, key: string): string {
  return `x:${path}:${key}`;
}

/** Field of the `n`th chunk of items appended to a context key's array. */
export function chunkField(path: string, key: string, n: number): string {
  return `a:${path}:${key}:${n}`;
}

/** True for a field that holds a part of the actor tree. */
export function isPartField(field: string): boolean {
  return field.startsWith('n:') || field.startsWith('x:') || field.startsWith('a:');
}

/** A stored node part, parsed. */
export interface NodePart {
  /** The actor's persisted snapshot (machines: without context and children). */
  s: Record<string, unknown>;
  /** 1 for a machine actor: its context is in `x:` parts, its children are the nodes below it. */
  x?: 1;
  /** How the parent refers to this child. */
  m?: { src?: unknown; systemId?: unknown; syncSnapshot?: unknown };
  /** The child's place among its siblings (they are assembled in this order). */
  o?: number;
  /** A machine's context keys in their order (a hash keeps no order); keys not listed follow, as stored. */
  ck?: string[];
  /** A machine context that is not a plain object, stored whole. */
  c?: unknown;
}

/** One actor's parts, parsed. */
export interface ActorParts {
  node?: NodePart;
  context: Record<string, unknown>;
}

/** A part could not be read: the task is quarantined with this reason. */
export class PartError extends Error {}

/** Parse one part's JSON, naming the field when it is corrupt. */
export function parsePart(field: string, json: string): unknown {
  try {
    return JSON.parse(json);
  } catch (err) {
    throw new PartError(`snapshot is not valid JSON: its part ${JSON.stringify(field)} (${(err as Error).message})`);
  }
}

/** Where a part field belongs: its actor's path, the context key for `x:` and `a:` fields, and an `a:` field's chunk number. */
export function partAddress(field: string): { path: string; key?: string; chunk?: number } | undefined {
  if (field.startsWith('n:')) return { path: field.slice(2) };
  const chunk = field.startsWith('a:');
  if (!chunk && !field.startsWith('x:')) return undefined;
  const rest = field.slice(2);
  const at = rest.indexOf(':');
  if (at < 0) return undefined;
  if (!chunk) return { path: rest.slice(0, at), key: rest.slice(at + 1) };
  const last = rest.lastIndexOf(':');
  const n = Number(rest.slice(last + 1));
  return last > at && Number.isInteger(n) && n > 0 ? { path: rest.slice(0, at), key: rest.slice(at + 1, last), chunk: n } : undefined;
}

/** Group a state hash's parts by actor (parsing each); throws {@link PartError}. */
export function groupParts(fields: Record<string, string>): Map<string, ActorParts> {
  return groupValues(fields, parsePart);
}

/** Group parts (field → value, parsed by `parse`) by actor, appended chunks joined to their arrays; throws {@link PartError}. */
export function groupValues<T>(fields: Record<string, T>, parse: (field: string, value: T) => unknown): Map<string, ActorParts> {
  const actors = new Map<string, ActorParts>();
  let chunks: Array<{ field: string; path: string; key: string; n: number; items: unknown }> | undefined;
  for (const field in fields) {
    const a = partAddress(field);
    if (!a) continue;
    let actor = actors.get(a.path);
    if (!actor) actors.set(a.path, (actor = { context: {} }));
    const value = parse(field, fields[field]!);
    if (a.key === undefined) actor.node = asNode(field, value);
    else if (a.chunk === undefined) actor.context[a.key] = value;
    else (chunks ??= []).push({ field, path: a.path, key: a.key, n: a.chunk, items: value });
  }
  if (chunks) {
    chunks.sort((x, y) => x.n - y.n);
    for (const c of chunks) {
      const ctx = actors.get(c.path)!.context;
      const base = ctx[c.key] ?? [];
      if (!Array.isArray(base) || !Array.isArray(c.items)) throw new PartError(`stored part ${JSON.stringify(c.field)} appends to something that is not an array`);
      ctx[c.key] = base.concat(c.items);
    }
  }
  return actors;
}

/** A node part's parsed value, checked. */
export function asNode(field: string, value: unknown): NodePart {
  if (!value || typeof value !== 'object' || !('s' in value) || !(value as NodePart).s || typeof (value as NodePart).s !== 'object') {
    throw new PartError(`stored part ${JSON.stringify(field)} is not an actor node`);
  }
  return value as NodePart;
}

/**
 * The parts of a task's state hash, by actor: format 2's parts, or format 1's
 * one snapshot split the same way. Undefined when it has neither (spawned,
 * not yet committed). Throws {@link PartError} for a part that cannot be read.
 */
export function partsOfHash(h: Record<string, string>): Map<string, ActorParts> | undefined {
  if (h.format === PARTS_FORMAT) return h['n:'] === undefined ? undefined : groupParts(h);
  if (!h.snapshot) return undefined;
  let snap: unknown;
  try {
    snap = JSON.parse(h.snapshot);
  } catch (err) {
    throw new PartError(`snapshot is not valid JSON (${(err as Error).message})`);
  }
  if (!snap || typeof snap !== 'object' || Array.isArray(snap)) throw new PartError('snapshot is not an object');
  return groupSnapshot(snap as Record<string, unknown>);
}

/** A whole persisted snapshot (format 1's, or a format-1 writer's notice) as parts, by actor. */
export function groupSnapshot(snapshot: Record<string, unknown>): Map<string, ActorParts> {
  return groupValues(splitSnapshot(snapshot, (v) => v), (_f, v) => v);
}

/**
 * The persisted snapshot a state hash holds (either format), or undefined
 * when it has none yet; throws {@link PartError} for a part that cannot be read.
 */
export function storedSnapshot(h: Record<string, string>): Record<string, unknown> | undefined {
  const parts = partsOfHash(h);
  return parts ? assemble(parts) : undefined;
}

/**
 * The persisted snapshot (as XState's `getPersistedSnapshot` makes it) from
 * the parts, or undefined when the root has none. A child listed by its
 * parent whose node is missing throws {@link PartError}.
 */
export function assemble(actors: ReadonlyMap<string, ActorParts>): Record<string, unknown> | undefined {
  if (!actors.get('')?.node) return undefined;
  const below = new Map<string, string[]>();
  for (const path of actors.keys()) {
    if (path === '') continue;
    const parent = parentPath(path);
    const list = below.get(parent);
    if (list) list.push(path);
    else below.set(parent, [path]);
  }
  return build(actors, below, '', 0);
}

/** The path of an actor's parent ('' for the root's children). */
export function parentPath(path: string): string {
  const at = path.lastIndexOf('/');
  return at < 0 ? '' : path.slice(0, at);
}

function build(actors: ReadonlyMap<string, ActorParts>, below: Map<string, string[]>, path: string, depth: number): Record<string, unknown> {
  const a = actors.get(path);
  if (!a?.node) throw new PartError(`the stored state lacks the actor at ${JSON.stringify(pathIds(path).join('/'))}`);
  if (depth > 256) throw new PartError('the stored actor tree is deeper than 256 levels');
  const n = a.node;
  if (n.x !== 1) return n.s;
  const children: Record<string, unknown> = {};
  const kids = (below.get(path) ?? []).map((p) => ({ p, o: actors.get(p)?.node?.o ?? 0 })).sort((x, y) => x.o - y.o);
  for (const { p } of kids) {
    const m = actors.get(p)?.node?.m ?? {};
    const ids = pathIds(p);
    children[ids[ids.length - 1]!] = { snapshot: build(actors, below, p, depth + 1), src: m.src, systemId: m.systemId, syncSnapshot: m.syncSnapshot };
  }
  return { ...n.s, context: 'c' in n ? n.c : inOrder(a.context, n.ck), children };
}

/** `ctx` with its keys in the order `keys` gives (keys it lists that are absent skipped, others after). */
function inOrder(ctx: Record<string, unknown>, keys: string[] | undefined): Record<string, unknown> {
  if (!keys) return ctx;
  const out: Record<string, unknown> = {};
  for (const k of keys) if (k in ctx) out[k] = ctx[k];
  for (const k in ctx) if (!(k in out)) out[k] = ctx[k];
  return out;
}

/**
 * The parts of a whole persisted snapshot (format 1's `snapshot` field, or
 * a migrated one), as field → JSON. Children whose snapshot is a machine's
 * (it has `children`) are split further.
 */
export function splitSnapshot<T>(snapshot: Record<string, unknown>, encode: (v: unknown) => T): Record<string, T> {
  const out: Record<string, T> = {};
  split(snapshot, '', undefined, undefined, encode, out);
  return out;
}

function split<T>(snap: Record<string, unknown>, path: string, meta: NodePart['m'], o: number | undefined, encode: (v: unknown) => T, out: Record<string, T>): void {
  const kids = snap.children && typeof snap.children === 'object' ? (snap.children as Record<string, { snapshot?: Record<string, unknown>; src?: unknown; systemId?: unknown; syncSnapshot?: unknown }>) : undefined;
  const place = meta ? { m: meta, o } : {};
  if (!kids) {
    out[nodeField(path)] = encode({ s: snap, ...place });
    return;
  }
  const { context, children: _c, ...rest } = snap;
  const node: NodePart = { s: rest, x: 1, ...place };
  if (context && typeof context === 'object' && !Array.isArray(context)) {
    node.ck = [];
    for (const key in context as Record<string, unknown>) {
      const v = (context as Record<string, unknown>)[key];
      if (v === undefined) continue;
      out[contextField(path, key)] = encode(v);
      node.ck.push(key);
    }
  } else node.c = context;
  out[nodeField(path)] = encode(node);
  Object.keys(kids).forEach((id, i) => {
    const c = kids[id] ?? {};
    split(c.snapshot ?? {}, childPath(path, id), { src: c.src, systemId: c.systemId, syncSnapshot: c.syncSnapshot }, i + 1, encode, out);
  });
}
