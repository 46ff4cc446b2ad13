import { decodeTimers, type PersistedTimer } from './codec.js';
import { storedSnapshot } from './parts.js';

/** Lifecycle of a task as callers see it. */
export type TaskStatus = 'active' | 'done' | 'error' | 'stopped' | 'quarantined';

/** A child actor (parallel agent, invoked step) as seen in a task's view. */
export interface ChildView {
  /** The child's id within its parent. */
  id: string;
  /** XState status of the child: active, done, error or stopped. */
  status: string;
  /** The child's state value, for machine children. */
  value?: unknown;
  /** The child's context, for machine children. */
  context?: unknown;
  /** The child's output, once done. */
  output?: unknown;
  /** Name of the registered logic (`setup({ actors })`) the child runs. */
  src?: string;
  /** Grandchildren, for machine children. */
  children?: Record<string, ChildView>;
  /** For agent children (`fromAgent`): the agent's name. */
  agent?: string;
  /** For agent children: the deterministic BullMQ job id of the invocation. */
  jobId?: string;
  /** For child-task children (`fromTask`): the id of the child task (its own view, `get(task)`). */
  task?: string;
  /** For child-task children: the machine the child task runs. */
  machine?: string;
}

/** The committed state of a task, read from Redis. */
export interface TaskView {
  /** Task id. */
  id: string;
  /** Registered machine name. */
  machine: string;
  /** Machine version the snapshot was committed with. */
  version: number;
  /** Lifecycle status. */
  status: TaskStatus;
  /** Root state value (`snapshot.value`), undefined before the first commit. */
  value: unknown;
  /** Root context. */
  context: unknown;
  /** Child actors, keyed by id. */
  children: Record<string, ChildView>;
  /** Output of a done task. */
  output?: unknown;
  /** Error of a task in status `error` (`{ name, message }`). */
  error?: unknown;
  /**
   * Why the task is not running as it should: why it was quarantined, why its
   * spawn input was refused (status `error`), or (with `unserved`) that no
   * live process runs its machine.
   */
  reason?: string;
  /** True when no live process has run the task's machine for a while (see `reason`); it waits, nothing is lost. */
  unserved?: boolean;
  /** Id of the last mailbox entry the task applied (or refused). */
  cursor?: string;
  /**
   * The last events the task's process refused when it came to apply them
   * (checks only it can make, such as zod refinements), newest last.
   */
  rejections?: Rejection[];
  /** Sequence number of the last commit (0 before the first). */
  seq: number;
  /** Time of the last commit, ms since the epoch. */
  updatedAt: number;
  /** Time the task was spawned, ms since the epoch. */
  createdAt: number;
  /** For a child task (started by another task's `fromTask`): the parent's id. */
  parent?: string;
  /**
   * The latest progress report of each agent child (`progress(data)`), by
   * its child path joined with `/`: `{ jobId, agent, childPath, attempt, data, at }`.
   */
  progress?: Record<string, { jobId: string; agent: string; childPath: string[]; attempt?: number; data: unknown; at: number }>;
  /** Delayed events pending at the last commit. */
  timers: PersistedTimer[];
  /**
   * The decision the task waits for, when any: the first `context.awaiting`
   * found in the root or a machine child (the orchestration patterns set it).
   */
  awaiting?: { decision: string; question?: string; options: string[]; since: number; deadline?: number; [k: string]: unknown };
}

/** An event the task's process refused to apply. */
export interface Rejection {
  /** Mailbox entry id of the event. */
  entry: string;
  /** Its type, when it had one. */
  type?: string;
  /** Why it was refused. */
  reason: string;
  /** Commit seq that recorded the refusal. */
  seq: number;
  /** When, ms since the epoch. */
  at: number;
}

/** How many refusals a task's view keeps. */
export const REJECTIONS_KEPT = 10;

/** Committed fields a view is built from (besides the snapshot). */
export interface ViewFields {
  machine: string;
  version: number;
  status: string;
  seq: number;
  updatedAt: number;
  createdAt: number;
  reason?: string;
  timers?: PersistedTimer[];
  cursor?: string;
  rejections?: Rejection[];
  /** The parent task of a child task. */
  parent?: string;
  /** The latest progress report of each agent child. */
  progress?: TaskView['progress'];
}

type Obj = Record<string, unknown>;

/** The refusals list from its stored JSON; [] when absent or unreadable. */
export function decodeRejections(json: string | undefined): Rejection[] {
  if (!json) return [];
  try {
    const v = JSON.parse(json) as unknown;
    return Array.isArray(v) ? (v.filter((r) => r && typeof r === 'object' && typeof r.entry === 'string') as Rejection[]) : [];
  } catch {
    return [];
  }
}

function childViews(children: unknown): Record<string, ChildView> {
  const out: Record<string, ChildView> = {};
  if (!children || typeof children !== 'object') return out;
  for (const [id, entry] of Object.entries(children as Obj)) {
    const e = (entry ?? {}) as Obj;
    const snap = (e.snapshot ?? {}) as Obj;
    const view: ChildView = { id, status: String(snap.status ?? 'unknown') };
    if (typeof e.src === 'string') view.src = e.src;
    if ('value' in snap) view.value = snap.value;
    if ('context' in snap) view.context = snap.context;
    if (snap.output !== undefined) view.output = snap.output;
    if (typeof snap.agent === 'string') view.agent = snap.agent;
    if (typeof snap.jobId === 'string' && snap.jobId) view.jobId = snap.jobId;
    if (typeof snap.task === 'string' && snap.task) {
      view.task = snap.task;
      if (typeof snap.machine === 'string') view.machine = snap.machine;
    }
    if (snap.children && typeof snap.children === 'object' && Object.keys(snap.children).length) {
      view.children = childViews(snap.children);
    }
    out[id] = view;
  }
  return out;
}

function findAwaiting(snap: Obj | undefined, depth = 0): unknown {
  if (!snap || depth > 8 || snap.status !== 'active') return undefined;
  const ctx = snap.context as Obj | undefined;
  if (ctx && typeof ctx === 'object' && ctx.awaiting && typeof ctx.awaiting === 'object') return ctx.awaiting;
  for (const entry of Object.values((snap.children ?? {}) as Obj)) {
    const found = findAwaiting((entry as Obj | undefined)?.snapshot as Obj | undefined, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** Build a view from a parsed snapshot and the task's committed fields. */
export function buildView(id: string, fields: ViewFields, snapshot: Obj | undefined): TaskView {
  const view: TaskView = {
    id,
    machine: fields.machine,
    version: fields.version,
    status: fields.status as TaskStatus,
    value: snapshot?.value,
    context: snapshot?.context,
    children: childViews(snapshot?.children),
    seq: fields.seq,
    updatedAt: fields.updatedAt,
    createdAt: fields.createdAt,
    timers: fields.timers ?? [],
  };
  const awaiting = findAwaiting(snapshot);
  if (awaiting) view.awaiting = awaiting as TaskView['awaiting'];
  if (snapshot?.output !== undefined) view.output = snapshot.output;
  if (snapshot?.error !== undefined) view.error = snapshot.error;
  if (fields.reason) view.reason = fields.reason;
  if (fields.cursor !== undefined) view.cursor = fields.cursor;
  if (fields.rejections?.length) view.rejections = fields.rejections;
  if (fields.parent) view.parent = fields.parent;
  if (fields.progress) view.progress = fields.progress;
  return view;
}

/** The committed fields of a state hash (besides the parts). */
export function fieldsFromHash(h: Record<string, string>): ViewFields {
  let timers: PersistedTimer[] = [];
  try {
    timers = decodeTimers(h.timers);
  } catch {
    timers = [];
  }
  return {
    machine: h.machine ?? '',
    version: Number(h.version ?? 0),
    status: h.status ?? 'active',
    seq: Number(h.seq ?? 0),
    updatedAt: Number(h.updatedAt ?? 0),
    createdAt: Number(h.createdAt ?? 0),
    reason: h.reason,
    timers,
    cursor: h.cursor,
    rejections: decodeRejections(h.rejections),
    ...(h.parent ? { parent: h.parent } : {}),
    ...progressOf(h),
  };
}

/** The persisted snapshot assembled from a state hash (either format); undefined when absent or unreadable. */
export function snapshotOfHash(h: Record<string, string>): Obj | undefined {
  try {
    return storedSnapshot(h);
  } catch {
    return undefined; // a corrupt part still gets a view: status and reason say the rest
  }
}

/** The latest progress report of each agent child (the `g:<child path>` fields), when any. */
function progressOf(h: Record<string, string>): { progress?: TaskView['progress'] } {
  let out: TaskView['progress'];
  for (const f in h) {
    if (!f.startsWith('g:')) continue;
    try {
      (out ??= {})[f.slice(2)] = JSON.parse(h[f]!);
    } catch {
      // an unreadable report is left out
    }
  }
  return out ? { progress: out } : {};
}

/** Build a view from the state hash (HGETALL); undefined when the task does not exist. */
export function viewFromHash(id: string, h: Record<string, string>): TaskView | undefined {
  if (!h.machine) return undefined;
  return buildView(id, fieldsFromHash(h), snapshotOfHash(h));
}

/** The change a notice carries: parts set (parsed; an `a:` chunk's items are appended to its array) and parts deleted. */
export interface NoticeDelta {
  s: Record<string, unknown>;
  x: string[];
}

/** The fields a change notice carries in its head; `base` is the seq its delta applies to (seq - 1 for a commit). */
export type NoticeFields = Omit<ViewFields, 'timers'> & { base: number };

/** A notice that changes no part (a quarantine): its head, then this. */
const EMPTY_DELTA = '{"s":{},"x":[]}';

/** A change notice whose delta is empty (the head's fields change, no part). */
export function encodeNotice(id: string, f: NoticeFields, timersJson: string): string {
  return noticeHead(id, f, timersJson) + EMPTY_DELTA + '}';
}

/** Width of the head length written at the start of every notice (`{"h":       123,...`; JSON allows the spaces, not leading zeros). */
const HEAD_DIGITS = 10;
const HEAD_PREFIX = '{"h":';

/**
 * The change notice without its delta: the commit script appends the delta
 * it already received (and the closing brace), so the changed parts travel
 * to Redis once. The notice starts with the head's own length, so a reader
 * can parse the fields without the delta.
 */
export function noticeHead(id: string, f: NoticeFields, timersJson: string): string {
  const fields = JSON.stringify({ id, ...f });
  const rest = `,${fields.slice(1, -1)},"timers":${timersJson},"d":`;
  const length = HEAD_PREFIX.length + HEAD_DIGITS + rest.length;
  return `${HEAD_PREFIX}${String(length).padStart(HEAD_DIGITS, ' ')}${rest}`;
}

type Head = Obj & { id: string; timers?: PersistedTimer[]; snapshot?: Obj; d?: NoticeDelta };

/** A change notice, parsed: the committed fields, and the delta (or, from a format-1 writer, the whole snapshot). */
export interface Notice {
  id: string;
  fields: ViewFields;
  /** The seq the delta applies to. */
  base: number;
  delta?: NoticeDelta;
  /** A whole snapshot (notices of format-1 writers): replaces the state. */
  snapshot?: Obj;
}

/** Parse a change notice. */
export function parseNotice(message: string): Notice {
  let head: Head;
  const h = message.startsWith(HEAD_PREFIX) ? Number(message.slice(HEAD_PREFIX.length, HEAD_PREFIX.length + HEAD_DIGITS)) : NaN;
  let rest: string | undefined;
  if (h > 0 && h < message.length) {
    head = JSON.parse(`${message.slice(0, h)}null}`) as Head;
    rest = message.slice(h, -1);
  } else head = JSON.parse(message) as Head;
  const seq = Number(head.seq);
  const fields: ViewFields = {
    machine: String(head.machine),
    version: Number(head.version),
    status: String(head.status),
    seq,
    updatedAt: Number(head.updatedAt),
    createdAt: Number(head.createdAt),
    reason: typeof head.reason === 'string' ? head.reason : undefined,
    timers: head.timers,
    cursor: typeof head.cursor === 'string' ? head.cursor : undefined,
    rejections: Array.isArray(head.rejections) ? (head.rejections as Rejection[]) : undefined,
  };
  const base = typeof head.base === 'number' ? head.base : seq - 1;
  if ('d' in head) return { id: head.id, fields, base, delta: (rest !== undefined ? JSON.parse(rest) : head.d) as NoticeDelta };
  const snapshot = rest !== undefined ? (JSON.parse(rest) as Obj | null) : head.snapshot;
  return { id: head.id, fields, base, snapshot: snapshot ?? undefined };
}

/**
 * A view whose snapshot-dependent fields (value, context, children, output,
 * error, awaiting) are built on first read from `snapshot()`: a `waitFor` on
 * status reads only the head.
 */
export function lazyView(id: string, fields: ViewFields, snapshot: () => Obj | undefined): TaskView {
  const view = buildView(id, fields, undefined);
  let full: TaskView | undefined;
  const built = (): TaskView => (full ??= buildView(id, fields, snapshot()));
  for (const key of ['value', 'context', 'children', 'output', 'error', 'awaiting'] as const) {
    Object.defineProperty(view, key, {
      enumerable: true,
      configurable: true,
      get: () => built()[key],
      set: (v: unknown) => Object.defineProperty(view, key, { value: v, writable: true, enumerable: true, configurable: true }),
    });
  }
  return view;
}
