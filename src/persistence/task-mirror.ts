import { asNode, assemble, groupSnapshot, partAddress, partsOfHash, PartError, type ActorParts } from './parts.js';
import { fieldsFromHash, lazyView, type Notice, type NoticeDelta, type TaskView, type ViewFields } from './view.js';

/** What a notice did to a mirror. */
export type MirrorStep = { kind: 'view'; view: TaskView } | { kind: 'old' } | { kind: 'gap' };

/**
 * A reader's copy of one task's state, kept current from change notices:
 * loaded from the state hash, then each notice's delta applied in seq order.
 * A notice that does not follow the last one applied (one was missed: pub/sub
 * is at most once) is a gap: the caller reads the hash again ({@link load}).
 * Each view holds the parts as they were at its commit (copy on write), so a
 * view read later still shows its own commit.
 */
export class TaskMirror {
  private actors = new Map<string, ActorParts>();
  private fields: ViewFields | undefined;
  /** Seq of the state mirrored; -1 before the first load. */
  seq = -1;

  constructor(readonly id: string) {}

  /** Status of the state mirrored (undefined before the first load). */
  get status(): string | undefined {
    return this.fields?.status;
  }

  /** Replace the mirror with the stored state (HGETALL); undefined when the task does not exist. */
  load(h: Record<string, string>): TaskView | undefined {
    if (!h.machine) {
      this.seq = -1;
      return undefined;
    }
    this.fields = fieldsFromHash(h);
    this.seq = this.fields.seq;
    try {
      this.actors = partsOfHash(h) ?? new Map();
    } catch {
      this.actors = new Map(); // unreadable parts: the view shows the fields (status, reason)
    }
    return this.view();
  }

  /** Apply one notice (see {@link MirrorStep}). */
  apply(n: Notice): MirrorStep {
    if (this.seq < 0) return { kind: 'gap' };
    if (n.base !== this.seq) return n.fields.seq <= this.seq ? { kind: 'old' } : { kind: 'gap' };
    if (n.snapshot) this.actors = groupSnapshot(n.snapshot);
    else if (n.delta) {
      try {
        this.actors = applyDelta(this.actors, n.delta);
      } catch (err) {
        if (err instanceof PartError) return { kind: 'gap' };
        throw err;
      }
    }
    this.fields = n.fields;
    this.seq = n.fields.seq;
    return { kind: 'view', view: this.view() };
  }

  /** The mirrored view (its snapshot assembled on first read). */
  view(): TaskView {
    const actors = this.actors;
    return lazyView(this.id, this.fields!, () => {
      try {
        return assemble(actors);
      } catch {
        return undefined;
      }
    });
  }
}

/** A new parts map with `d` applied (the actors it touches copied; the old map is left as it was). */
export function applyDelta(actors: ReadonlyMap<string, ActorParts>, d: NoticeDelta): Map<string, ActorParts> {
  const next = new Map(actors);
  const touched = new Set<string>();
  const at = (field: string): { a: ActorParts; key?: string; chunk?: number } | undefined => {
    const addr = partAddress(field);
    if (!addr) return undefined;
    let a = next.get(addr.path);
    if (!touched.has(addr.path)) {
      a = { node: a?.node, context: { ...(a?.context ?? {}) } };
      next.set(addr.path, a);
      touched.add(addr.path);
    }
    return { a: a!, key: addr.key, chunk: addr.chunk };
  };
  for (const field in d.s) {
    const t = at(field);
    if (!t) continue;
    const value = d.s[field];
    if (t.key === undefined) t.a.node = asNode(field, value);
    else if (t.chunk === undefined) t.a.context[t.key] = value;
    else {
      // Items appended to the array (the mirror holds it whole: chunks are joined as they come).
      const old = t.a.context[t.key];
      if (!Array.isArray(old) || !Array.isArray(value)) throw new PartError(`appended to ${field}, which the reader holds no array for`);
      t.a.context[t.key] = [...old, ...value];
    }
  }
  for (const field of d.x) {
    const t = at(field);
    if (!t || t.chunk !== undefined) continue; // a chunk dropped: its items are in the array already
    if (t.key === undefined) t.a.node = undefined;
    else delete t.a.context[t.key];
  }
  for (const path of touched) {
    const a = next.get(path)!;
    if (!a.node && Object.keys(a.context).length === 0) next.delete(path);
  }
  return next;
}
