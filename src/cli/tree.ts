import type { TaskView } from '../index.js';

/** A task in {@link taskTree} order, with how deep it sits (0 for a root). */
export interface TreeRow {
  view: TaskView;
  depth: number;
}

/** Child tasks in the order they were started: by creation time, then by id (`fan.1.t2` before `fan.1.t10`). */
function startedOrder(a: TaskView, b: TaskView): number {
  return a.createdAt - b.createdAt || a.id.localeCompare(b.id, 'en', { numeric: true });
}

/**
 * Tasks as a tree: each root (a task without a parent, or whose parent is not
 * among `views`) in the order given, followed by its child tasks (in the order
 * they were started) and theirs, depth first. Every view appears once.
 */
export function taskTree(views: TaskView[]): TreeRow[] {
  const ids = new Set(views.map((v) => v.id));
  const below = new Map<string, TaskView[]>();
  for (const v of views) {
    if (!v.parent || !ids.has(v.parent)) continue;
    const list = below.get(v.parent);
    if (list) list.push(v);
    else below.set(v.parent, [v]);
  }
  const out: TreeRow[] = [];
  const seen = new Set<string>();
  const visit = (v: TaskView, depth: number) => {
    if (seen.has(v.id)) return;
    seen.add(v.id);
    out.push({ view: v, depth });
    for (const child of [...(below.get(v.id) ?? [])].sort(startedOrder)) visit(child, depth + 1);
  };
  for (const v of views) if (!v.parent || !ids.has(v.parent)) visit(v, 0);
  // A parent loop has no root to start from (ids make one impossible, but a view is data): list what is left as roots.
  for (const v of views) visit(v, 0);
  return out;
}
