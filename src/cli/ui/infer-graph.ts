import type { HistoryEntry } from '../../index.js';
import { describeEvent, type GraphEdge, type GraphNode, type MachineGraph } from '../../index.js';

/** The key paths a state value names, leaves last: `{ a: { b: 'c' } }` → ['a', 'a.b', 'a.b.c']. */
export function statePaths(value: unknown, prefix = ''): string[] {
  if (value === undefined || value === null) return [];
  const join = (k: string) => (prefix ? `${prefix}.${k}` : k);
  if (typeof value === 'string') return [join(value)];
  if (typeof value !== 'object') return [join(String(value))];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => [join(k), ...statePaths(v, join(k))]);
}

/** The deepest paths of a state value (the active leaves). */
export function leafPaths(value: unknown): string[] {
  const all = statePaths(value);
  return all.filter((p) => !all.some((q) => q.startsWith(`${p}.`)));
}

/**
 * Without the machine's definition, draw what the task has shown: every
 * state named in its history and current value, and one edge per distinct
 * (from leaf, to leaf, event) seen in its commits.
 */
export function inferGraph(machine: string, history: HistoryEntry[], current: unknown): MachineGraph {
  const root: GraphNode = { path: '', key: machine, type: 'compound', invoke: [], internal: [], events: [], children: [] };
  const byPath = new Map<string, GraphNode>([['', root]]);
  const ensure = (path: string): GraphNode => {
    const found = byPath.get(path);
    if (found) return found;
    const dot = path.lastIndexOf('.');
    const parent = ensure(dot < 0 ? '' : path.slice(0, dot));
    const node: GraphNode = { path, key: dot < 0 ? path : path.slice(dot + 1), type: 'atomic', invoke: [], internal: [], events: [], children: [] };
    if (parent.type === 'atomic') parent.type = 'compound';
    parent.children.push(node);
    byPath.set(path, node);
    return node;
  };
  const edges: GraphEdge[] = [];
  const seen = new Set<string>();
  for (const h of history) {
    for (const p of [...statePaths(h.from), ...statePaths(h.to)]) ensure(p);
    if (h.from === undefined) {
      const first = leafPaths(h.to)[0]?.split('.')[0];
      if (first && !root.initial) root.initial = first;
      continue;
    }
    const from = leafPaths(h.from);
    const to = leafPaths(h.to);
    const left = from.filter((p) => !to.includes(p));
    const entered = to.filter((p) => !from.includes(p));
    const { label, kind } = describeEvent(h.event.type);
    for (const s of left) {
      for (const t of entered) {
        const key = `${s}>${t}>${label}`;
        if (seen.has(key)) continue;
        seen.add(key);
        edges.push({ id: `e${edges.length}`, source: s, target: t, label, kind });
      }
    }
  }
  for (const p of statePaths(current)) ensure(p);
  return { id: machine, source: 'history', root, edges, actors: {} };
}
