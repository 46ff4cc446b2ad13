// Big statecharts stay readable: compound states that are not active are drawn
// collapsed (one box, "+N states"), with the transitions into and out of them
// redirected to that box. The active path stays expanded.

/** Number of state nodes under (and including) `node`. */
export function countNodes(node) {
  return 1 + node.children.reduce((n, c) => n + countNodes(c), 0);
}

/** Compound paths the diagram keeps expanded: the root and the active compound states. */
export function expandedPaths(graph, active) {
  const out = [''];
  const walk = (n) => {
    for (const c of n.children) {
      if (c.children.length && active.has(c.path)) {
        out.push(c.path);
        walk(c);
      }
    }
  };
  walk(graph.root);
  return out;
}

/** A copy of `graph` with every compound state not in `expanded` collapsed. */
export function collapse(graph, expanded) {
  const keep = new Set(expanded);
  const visible = new Map(); // path -> the path drawn for it
  const copy = (n, shownAs) => {
    const own = shownAs ?? n.path;
    visible.set(n.path, own);
    if (shownAs !== undefined) {
      n.children.forEach((c) => copy(c, shownAs));
      return undefined;
    }
    if (n.children.length && !keep.has(n.path)) {
      n.children.forEach((c) => copy(c, n.path));
      return { ...n, children: [], initial: undefined, collapsed: countNodes(n) - 1 };
    }
    return { ...n, children: n.children.map((c) => copy(c)).filter(Boolean) };
  };
  const root = copy(graph.root);
  const seen = new Set();
  const edges = [];
  for (const e of graph.edges) {
    const source = visible.get(e.source) ?? e.source;
    const target = visible.get(e.target) ?? e.target;
    if (source === target && source !== e.source) continue; // inside a collapsed state
    const key = `${source}>${target}>${e.label}`;
    if (seen.has(key)) continue;
    seen.add(key);
    edges.push({ ...e, source, target });
  }
  return { ...graph, root, edges };
}
