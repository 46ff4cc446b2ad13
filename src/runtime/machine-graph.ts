/**
 * A machine's state tree as plain JSON for the web view to lay out: nested
 * state nodes and the transitions between them, read from XState's state
 * nodes (`machine.root`). Node ids are key paths from the root (`''` is the
 * root, `review.asking` a nested state), the same paths a state value names.
 */

/** One state node. */
export interface GraphNode {
  /** Key path from the root, joined with '.'; '' for the root. */
  path: string;
  /** The state's key (the machine id for the root). */
  key: string;
  /** atomic, compound, parallel, final or history. */
  type: string;
  /** Path of the initial child, for compound states. */
  initial?: string;
  /** Actors invoked while in this state. */
  invoke: Array<{ id: string; src: string }>;
  /** Events handled here without leaving the state (targetless transitions). */
  internal: string[];
  /**
   * Event types a caller can send that this node handles (transitions of its
   * own, not `xstate.*` or delays; `*` for a wildcard). A state accepts the
   * events of its node and of every ancestor.
   */
  events: string[];
  /** Child states. */
  children: GraphNode[];
}

/** One transition. */
export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  /** Short label: the event type, `after 30s`, `done: review`, `always`, with `[guard]`. */
  label: string;
  kind: 'event' | 'after' | 'always' | 'done' | 'error';
}

/** The drawable statechart of a machine and of the machine actors it invokes. */
export interface MachineGraph {
  /** Machine id (or registered name). */
  id: string;
  /** 'definition' when read from the machine, 'history' when inferred from a task's commits. */
  source: 'definition' | 'history';
  root: GraphNode;
  edges: GraphEdge[];
  /** Graphs of machine actors registered in `setup({ actors })`, by src name. */
  actors: Record<string, MachineGraph>;
}

type AnyNode = {
  key: string;
  path: string[];
  type: string;
  states: Record<string, AnyNode>;
  initial?: { target?: AnyNode[] };
  invoke?: Array<{ id: string; src: unknown }>;
  transitions?: Map<string, AnyTransition[]>;
  always?: AnyTransition[];
};
type AnyTransition = { eventType: string; target?: AnyNode[]; guard?: unknown; delay?: unknown };

/** Human form of a delay in ms. */
export function formatDelay(delay: unknown): string {
  if (typeof delay !== 'number') return String(delay);
  if (delay % 3_600_000 === 0 && delay) return `${delay / 3_600_000}h`;
  if (delay % 60_000 === 0 && delay) return `${delay / 60_000}m`;
  if (delay % 1000 === 0 && delay) return `${delay / 1000}s`;
  return `${delay}ms`;
}

function guardName(guard: unknown): string {
  if (!guard) return '';
  if (typeof guard === 'string') return ` [${guard}]`;
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return ` [${(guard as { type: string }).type}]`;
  return ' [guard]';
}

/** Label and kind of a transition by its event type (`xstate.done.actor.x` → `done: x`, …). */
export function describeEvent(eventType: string, delay?: unknown): { label: string; kind: GraphEdge['kind'] } {
  if (eventType === '') return { label: 'always', kind: 'always' };
  if (eventType.startsWith('xstate.after.')) return { label: `after ${formatDelay(delay ?? eventType.split('.')[2])}`, kind: 'after' };
  if (eventType.startsWith('xstate.done.actor.')) return { label: `done: ${eventType.slice(18)}`, kind: 'done' };
  if (eventType.startsWith('xstate.error.actor.')) return { label: `error: ${eventType.slice(19)}`, kind: 'error' };
  if (eventType.startsWith('xstate.done.state.')) return { label: 'done', kind: 'done' };
  return { label: eventType, kind: 'event' };
}

function toNode(n: AnyNode, edges: GraphEdge[]): GraphNode {
  const path = n.path.join('.');
  const internal: string[] = [];
  const events: string[] = [];
  const invoke = (n.invoke ?? []).map((i) => ({ id: String(i.id), src: typeof i.src === 'string' ? i.src : 'inline' }));
  const add = (t: AnyTransition) => {
    const d = describeEvent(t.eventType, t.delay);
    if (d.kind === 'event' && t.eventType !== '' && !t.eventType.startsWith('xstate.') && !events.includes(t.eventType)) events.push(t.eventType);
    // Generated invoke ids ('0.machine.state') read better as the invoked src.
    const inv = d.kind === 'done' || d.kind === 'error' ? invoke.find((i) => d.label.endsWith(`: ${i.id}`)) : undefined;
    const label = (inv ? `${d.kind}: ${inv.src}` : d.label) + guardName(t.guard);
    if (!t.target || t.target.length === 0) {
      if (!internal.includes(label)) internal.push(label);
      return;
    }
    for (const target of t.target) edges.push({ id: `e${edges.length}`, source: path, target: target.path.join('.'), label, kind: d.kind });
  };
  for (const list of n.transitions?.values() ?? []) list.forEach(add);
  (n.always ?? []).forEach(add);
  const initial = n.initial?.target?.[0];
  return {
    path,
    key: n.key,
    type: n.type,
    ...(initial ? { initial: initial.path.join('.') } : {}),
    invoke,
    internal,
    events,
    children: Object.values(n.states ?? {}).map((s) => toNode(s, edges)),
  };
}

function isMachine(logic: unknown): logic is { root: AnyNode; id: string; implementations?: { actors?: Record<string, unknown> } } {
  return !!logic && typeof logic === 'object' && 'root' in logic && typeof (logic as { root?: unknown }).root === 'object';
}

/**
 * The graph of an XState machine (or a Baton task definition wrapping one),
 * with its machine actors; undefined for logic that is not a state machine.
 */
export function machineGraph(logic: unknown, name?: string, seen: Set<unknown> = new Set()): MachineGraph | undefined {
  const machine = logic && typeof logic === 'object' && 'machine' in logic && !('root' in logic) ? (logic as { machine: unknown }).machine : logic;
  if (!isMachine(machine) || seen.has(machine) || seen.size > 16) return undefined;
  seen.add(machine);
  const edges: GraphEdge[] = [];
  const root = toNode(machine.root, edges);
  const actors: Record<string, MachineGraph> = {};
  for (const [src, actor] of Object.entries(machine.implementations?.actors ?? {})) {
    const g = machineGraph(actor, src, seen);
    if (g) actors[src] = g;
  }
  return { id: name ?? machine.id, source: 'definition', root, edges, actors };
}
