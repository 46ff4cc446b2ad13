// Statechart drawing: the server's state tree (src/runtime/machine-graph.ts)
// laid out by ELK (elkjs, compound nodes for nested and parallel states) and
// drawn as SVG. Each state is <g class="node" data-path="a.b">; highlight()
// marks the active ones with the class "active" (and data-active="true").

import { collapse, countNodes, expandedPaths } from './collapse.js';

const SVG = 'http://www.w3.org/2000/svg';
const CHAR = 7.4;
const LINE = 15;
const elk = new window.ELK();
const layouts = new Map();

/** Key paths named by a state value: { a: { b: 'c' } } -> ['a', 'a.b', 'a.b.c']. */
export function statePaths(value, prefix = '') {
  if (value === undefined || value === null) return [];
  const join = (k) => (prefix ? `${prefix}.${k}` : k);
  if (typeof value !== 'object') return [join(String(value))];
  return Object.entries(value).flatMap(([k, v]) => [join(k), ...statePaths(v, join(k))]);
}

function nodeId(path) {
  return path === '' ? 'n:root' : `n:${path}`;
}

function subtitle(node) {
  return [...node.invoke.map((i) => `invoke ${i.src}`), ...(node.collapsed ? [`+${node.collapsed} states`] : [])];
}

function toElk(node) {
  const lines = subtitle(node);
  const labelWidth = Math.max(node.key.length * (CHAR + 0.6), ...lines.map((l) => l.length * 6.4)) + 28;
  if (node.children.length === 0) {
    return { id: nodeId(node.path), width: Math.max(84, labelWidth), height: 32 + lines.length * LINE, node };
  }
  const children = node.children.map(toElk);
  const edges = [];
  if (node.initial && node.type !== 'parallel') {
    children.push({ id: `i:${node.path}`, width: 12, height: 12, initial: true });
    edges.push({ id: `ie:${node.path}`, sources: [`i:${node.path}`], targets: [nodeId(node.initial)], initialEdge: true });
  }
  return {
    id: nodeId(node.path),
    node,
    children,
    edges,
    layoutOptions: {
      'elk.padding': `[top=${30 + lines.length * LINE},left=14,bottom=14,right=14]`,
      'elk.nodeSize.minimum': `(${labelWidth}, 40)`,
      'elk.nodeSize.constraints': 'MINIMUM_SIZE',
    },
  };
}

function collectEdges(elkNode, out) {
  for (const e of elkNode.edges ?? []) out.push(e);
  for (const c of elkNode.children ?? []) collectEdges(c, out);
  return out;
}

export async function layout(graph) {
  const rootElk = toElk(graph.root);
  const initialEdges = collectEdges(rootElk, []);
  const strip = (n) => {
    delete n.edges;
    (n.children ?? []).forEach(strip);
  };
  strip(rootElk);
  const edges = [
    ...initialEdges,
    ...graph.edges.map((e) => ({
      id: e.id,
      sources: [nodeId(e.source)],
      targets: [nodeId(e.target)],
      labels: [{ text: e.label, width: e.label.length * 6.3 + 8, height: 14 }],
      kind: e.kind,
    })),
  ];
  return elk.layout({
    id: 'top',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.json.edgeCoords': 'ROOT',
      'elk.json.shapeCoords': 'ROOT',
      'elk.layered.spacing.nodeNodeBetweenLayers': '36',
      'elk.spacing.nodeNode': '22',
      'elk.spacing.edgeLabel': '4',
      'elk.edgeRouting': 'POLYLINE',
      'elk.padding': '[top=8,left=8,bottom=8,right=8]',
    },
    children: [rootElk],
    edges,
  });
}

function el(name, attrs = {}, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

function drawNode(n, layer) {
  if (n.initial) {
    el('circle', { class: 'initial', cx: n.x + 6, cy: n.y + 6, r: 5 }, layer);
    return;
  }
  const node = n.node;
  const g = el('g', { class: `node ${node.type}${node.path === '' ? ' root' : ''}${node.collapsed ? ' collapsed' : ''}`, 'data-path': node.path, 'data-key': node.key }, layer);
  const title = el('title', {}, g);
  title.textContent = [node.path || node.key, ...subtitle(node), ...node.internal.map((i) => `on ${i}`)].join('\n');
  el('rect', { x: n.x, y: n.y, width: n.width, height: n.height, rx: 9 }, g);
  if (node.type === 'final') el('rect', { class: 'inner', x: n.x + 3, y: n.y + 3, width: n.width - 6, height: n.height - 6, rx: 7 }, g);
  const leaf = !n.children || n.children.length === 0;
  const label = el('text', { class: 'label', x: leaf ? n.x + n.width / 2 : n.x + 12, y: n.y + 20, 'text-anchor': leaf ? 'middle' : 'start' }, g);
  label.textContent = node.key;
  subtitle(node).forEach((line, i) => {
    const t = el('text', { class: 'sub', x: leaf ? n.x + n.width / 2 : n.x + 12, y: n.y + 20 + LINE * (i + 1), 'text-anchor': leaf ? 'middle' : 'start' }, g);
    t.textContent = line;
  });
  for (const c of n.children ?? []) drawNode(c, layer);
}

function drawEdge(e, layer, arrow) {
  const cls = e.initialEdge ? 'edge initial-edge' : `edge ${e.kind}`;
  const g = el('g', { class: cls, 'data-edge': e.id }, layer);
  for (const s of e.sections ?? []) {
    const pts = [s.startPoint, ...(s.bendPoints ?? []), s.endPoint];
    el('path', { d: pts.map((p, i) => `${i ? 'L' : 'M'}${p.x},${p.y}`).join(' '), 'marker-end': `url(#${arrow})` }, g);
  }
  for (const l of e.labels ?? []) {
    el('rect', { class: 'label-bg', x: l.x - 2, y: l.y - 1, width: l.width, height: l.height + 2, rx: 3 }, g);
    const t = el('text', { class: 'edge-label', x: l.x + 2, y: l.y + 11 }, g);
    t.textContent = l.text;
  }
}

function draw(container, laidOut, name) {
  // Drawn at its size; the stylesheet scales it down to fit its panel (max-width / max-height, the viewBox keeps
  // the proportions) unless the panel is switched to actual size (then it scrolls).
  const svg = el('svg', {
    class: 'statechart',
    'data-graph': name,
    viewBox: `0 0 ${laidOut.width} ${laidOut.height}`,
    width: laidOut.width,
    height: laidOut.height,
    preserveAspectRatio: 'xMinYMin meet',
  });
  const defs = el('defs', {}, svg);
  const arrow = `arrow-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const marker = el('marker', { id: arrow, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
  el('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }, marker);
  const nodes = el('g', { class: 'nodes' }, svg);
  for (const c of laidOut.children) drawNode(c, nodes);
  const edges = el('g', { class: 'edges' }, svg);
  for (const e of laidOut.edges) drawEdge(e, edges, arrow);
  container.replaceChildren(svg);
  return svg;
}

/**
 * Show `graph` in `container` with the states of `value` highlighted. Big
 * graphs (over 30 states) draw inactive compound states collapsed, so the
 * drawing is laid out again (and cached) when the active compound states
 * change. `name` goes to the svg's data-graph ('root', 'child:review').
 */
export async function showDiagram(container, graph, key, name, value, visited) {
  const active = new Set(statePaths(value));
  const big = countNodes(graph.root) > 30;
  const expanded = big ? expandedPaths(graph, active) : [];
  const sig = `${key}|${big ? expanded.join(',') : '*'}`;
  if (container.dataset.sig !== sig) {
    if (container.pending?.sig !== sig) {
      if (!layouts.has(sig)) layouts.set(sig, layout(big ? collapse(graph, expanded) : graph));
      const pending = { sig };
      pending.promise = layouts.get(sig).then((laidOut) => {
        if (container.pending !== pending) return;
        draw(container, laidOut, name);
        container.dataset.sig = sig;
        container.pending = undefined;
      });
      container.pending = pending;
    }
    await container.pending.promise;
    if (container.dataset.sig !== sig) return undefined; // superseded by a newer state
  }
  const svg = container.querySelector('svg.statechart');
  if (svg) highlight(svg, value, visited);
  return svg;
}

/** Mark the states of `value` active (class "active", data-active="true") and those in `visited` as visited. */
export function highlight(svg, value, visited = new Set()) {
  const active = new Set(statePaths(value));
  for (const g of svg.querySelectorAll('g.node')) {
    const path = g.getAttribute('data-path');
    const on = active.has(path);
    g.classList.toggle('active', on);
    g.setAttribute('data-active', on ? 'true' : 'false');
    g.classList.toggle('visited', !on && visited.has(path));
  }
  // Keep the deepest active state in view in a wide diagram.
  const box = svg.parentElement;
  const deepest = [...svg.querySelectorAll('g.node.active')].pop();
  if (box && deepest && box.scrollWidth > box.clientWidth) {
    const r = deepest.querySelector('rect');
    const x = Number(r.getAttribute('x'));
    const w = Number(r.getAttribute('width'));
    if (x < box.scrollLeft || x + w > box.scrollLeft + box.clientWidth) box.scrollLeft = Math.max(0, x - box.clientWidth / 3);
  }
}
