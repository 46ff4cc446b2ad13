// The Baton web view: task list (polled), one task at a time with live updates
// over Server-Sent Events (/api/tasks/:id/stream), decisions answered with
// { type: 'decision', decision, choice, by: 'ui' }.
import { countNodes } from './collapse.js';
import { showDiagram, statePaths } from './diagram.js';
import { eventFormsHtml, sentText, wireEventForms } from './forms.js';
import { awaitingHtml, childrenHtml, decisionsHtml, esc, headerHtml, historyHtml, jsonText, rejectionsHtml, relative, stateLabel, timersHtml } from './panels.js';

const $ = (id) => document.getElementById(id);
const state = { tasks: [], selected: undefined, detail: undefined, graph: undefined, history: [], stream: undefined, progress: {}, childBoxes: new Map(), token: 0, formsSig: '' };

async function api(path, init) {
  const res = await fetch(path, init);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${body.error ?? res.statusText}${body.code ? ` [${body.code}]` : ''}`);
  return body;
}

const post = (path, body) => api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

// ---------------------------------------------------------------- task list

async function refreshList() {
  const q = new URLSearchParams({ status: $('filter-status').value, machine: $('filter-machine').value });
  try {
    state.tasks = await api(`/api/tasks?${q}`);
    renderList();
  } catch (err) {
    $('tasks-empty').hidden = false;
    $('tasks-empty').textContent = `Cannot list tasks: ${err.message}`;
  }
}

function renderList() {
  const text = $('filter-text').value.trim().toLowerCase();
  const shown = state.tasks.filter((t) => !text || t.id.toLowerCase().includes(text) || stateLabel(t.value).toLowerCase().includes(text));
  $('tasks').innerHTML = shown
    .map((t) => `<li class="task-row${t.id === state.selected ? ' selected' : ''}" data-id="${esc(t.id)}" tabindex="0">
      <div class="row1"><span class="badge ${esc(t.status)}">${esc(t.status)}</span>${t.awaiting ? '<span class="tag awaiting-tag" title="awaiting a decision">decision</span>' : ''}${t.unserved ? `<span class="tag unserved-tag" title="${esc(t.reason ?? '')}">unserved</span>` : ''}<span class="machine">${esc(t.machine)}</span></div>
      <div class="id">${esc(t.id)}</div>
      <div class="row2"><span class="state">${esc(stateLabel(t.value))}</span><span class="muted small">${esc(relative(t.updatedAt))}</span></div></li>`)
    .join('');
  $('tasks-empty').hidden = shown.length > 0;
  $('tasks-empty').textContent = 'No tasks.';
  const machines = [...new Set(state.tasks.map((t) => t.machine))];
  const select = $('filter-machine');
  for (const m of machines) if (![...select.options].some((o) => o.value === m)) select.add(new Option(m, m));
}

// ---------------------------------------------------------------- one task

function findActorGraph(graph, src) {
  if (!graph?.actors) return undefined;
  if (graph.actors[src]) return graph.actors[src];
  for (const g of Object.values(graph.actors)) {
    const found = findActorGraph(g, src);
    if (found) return found;
  }
  return undefined;
}

function machineChildren(children, prefix = [], out = []) {
  for (const c of Object.values(children ?? {})) {
    const path = [...prefix, c.id];
    if (c.value !== undefined && c.src) out.push({ path: path.join('/'), child: c });
    machineChildren(c.children, path, out);
  }
  return out;
}

function visitedPaths() {
  return new Set(state.history.flatMap((h) => [...statePaths(h.from), ...statePaths(h.to)]));
}

function rootKey() {
  const g = state.graph;
  return g.source === 'history' ? `history:${state.selected}:${countNodes(g.root)}:${g.edges.length}` : `definition:${g.id}@${g.version ?? ''}`;
}

function drawRoot() {
  if (state.graph && state.detail) void showDiagram($('diagram'), state.graph, rootKey(), 'root', state.detail.view.value, visitedPaths());
}

function drawChildren() {
  if (!state.graph || !state.detail) return;
  const live = machineChildren(state.detail.view.children).filter((m) => findActorGraph(state.graph, m.child.src));
  for (const [path, entry] of state.childBoxes) {
    if (!live.some((m) => m.path === path)) {
      entry.wrap.remove();
      state.childBoxes.delete(path);
    }
  }
  for (const { path, child } of live) {
    let entry = state.childBoxes.get(path);
    if (!entry) {
      const wrap = document.createElement('div');
      wrap.className = 'child-diagram';
      wrap.innerHTML = `<h3>child <code>${esc(path)}</code> <span class="muted small">(${esc(child.src)})</span></h3><div class="diagram"></div>`;
      $('child-diagrams').appendChild(wrap);
      entry = { wrap, box: wrap.querySelector('.diagram') };
      state.childBoxes.set(path, entry);
    }
    void showDiagram(entry.box, findActorGraph(state.graph, child.src), `${state.graph.id}@${state.graph.version ?? ''}/${child.src}`, `child:${path}`, child.value);
  }
}

async function refreshGraph(id, token) {
  const graph = await api(`/api/tasks/${encodeURIComponent(id)}/graph`);
  if (token !== state.token) return;
  state.graph = graph;
  $('graph-source').textContent =
    graph.source === 'definition'
      ? `machine ${graph.id}${graph.version !== undefined ? ` v${graph.version} (from the registry)` : ''}`
      : 'inferred from history (no process registered this machine; start baton ui --module to draw the definition)';
  drawRoot();
  drawChildren();
}

async function refreshHistory(id) {
  const token = state.token;
  try {
    state.history = await api(`/api/tasks/${encodeURIComponent(id)}/history?limit=200`);
    if (state.graph?.source === 'history') await refreshGraph(id, token); // new states may have been seen
  } catch {
    return;
  }
  if (token !== state.token) return;
  $('history').innerHTML = historyHtml(state.history);
  drawRoot();
}

function renderDetail() {
  const d = state.detail;
  const v = d.view;
  $('task-header').innerHTML = headerHtml(v);
  $('awaiting').innerHTML = awaitingHtml(v.awaiting);
  $('children').innerHTML = childrenHtml(d, state.progress);
  $('timers').innerHTML = timersHtml(v.timers);
  $('decisions').innerHTML = decisionsHtml(d.decisions);
  $('rejections').innerHTML = rejectionsHtml(v.rejections);
  $('rejections-card').hidden = !v.rejections?.length;
  renderForms(d.accepts, v.status);
  $('context').textContent = jsonText(v.context);
  document.body.dataset.taskState = stateLabel(v.value);
  document.body.dataset.taskStatus = v.status;
  drawRoot();
  drawChildren();
}

function onDetail(detail) {
  if (detail.view.id !== state.selected) return;
  const previous = state.detail?.view.seq;
  if (previous !== undefined && detail.view.seq < previous) return;
  state.detail = detail;
  renderDetail();
  if (previous !== detail.view.seq) void refreshHistory(detail.view.id);
  const i = state.tasks.findIndex((t) => t.id === detail.view.id);
  if (i >= 0 && state.tasks[i].seq <= detail.view.seq) {
    state.tasks[i] = detail.view;
    renderList();
  }
}

function setLive(on, text) {
  $('live').className = `live ${on ? 'on' : 'off'}`;
  $('live').textContent = text;
}

async function select(id) {
  if (!id) return;
  state.token += 1;
  const token = state.token;
  state.stream?.close();
  Object.assign(state, { selected: id, detail: undefined, graph: undefined, history: [], progress: {}, formsSig: '' });
  $('event-forms').innerHTML = '';
  $('rejections-card').hidden = true;
  state.childBoxes.clear();
  $('child-diagrams').replaceChildren();
  $('diagram').pending = undefined; // a layout still running for the previous task draws nothing
  delete $('diagram').dataset.sig;
  $('diagram').innerHTML = '<p class="muted">Laying out…</p>';
  if (location.hash !== `#task=${encodeURIComponent(id)}`) history.replaceState(null, '', `#task=${encodeURIComponent(id)}`);
  $('placeholder').hidden = true;
  $('task').hidden = false;
  renderList();

  const stream = new EventSource(`/api/tasks/${encodeURIComponent(id)}/stream`);
  state.stream = stream;
  stream.addEventListener('open', () => setLive(true, 'live'));
  stream.addEventListener('error', () => setLive(false, 'reconnecting…'));
  stream.addEventListener('detail', (e) => onDetail(JSON.parse(e.data)));
  stream.addEventListener('progress', (e) => {
    const p = JSON.parse(e.data);
    state.progress[p.jobId] = p;
    if (state.detail) $('children').innerHTML = childrenHtml(state.detail, state.progress);
  });

  try {
    await refreshGraph(id, token);
  } catch (err) {
    $('diagram').innerHTML = `<p class="error-text">${esc(err.message)}</p>`;
  }
}

// ---------------------------------------------------------------- actions

/** The forms of the events the current state accepts; drawn again only when they change (typed values stay). */
function renderForms(accepts, status) {
  const sig = `${state.selected}|${status}|${JSON.stringify(accepts ?? null)}`;
  if (sig === state.formsSig) return;
  state.formsSig = sig;
  $('event-forms').innerHTML = eventFormsHtml(accepts, status);
  $('forms-source').textContent = accepts?.source === 'registry' ? `(fields from the registry, v${accepts.version})` : accepts?.source === 'definition' ? '(fields from the definition)' : '';
  document.body.dataset.acceptedEvents = (accepts?.events ?? []).map((e) => e.type).join(' ');
}

function showResult(text, ok) {
  $('send-result').textContent = text;
  $('send-result').className = ok ? 'ok-text' : 'error-text';
}

async function sendEvent(event) {
  try {
    const r = await post(`/api/tasks/${encodeURIComponent(state.selected)}/events`, event);
    showResult(sentText(event, r), true);
  } catch (err) {
    showResult(err.message, false);
  }
}

$('awaiting').addEventListener('click', (e) => {
  const button = e.target.closest('button.decision-option');
  const a = state.detail?.view.awaiting;
  if (!button || !a) return;
  for (const b of $('awaiting').querySelectorAll('button')) b.disabled = true;
  void sendEvent({ type: 'decision', decision: a.decision, choice: button.dataset.choice, by: 'ui' });
});

$('send-form').addEventListener('submit', (e) => {
  e.preventDefault();
  let event;
  try {
    event = JSON.parse($('send-json').value);
  } catch (err) {
    showResult(`not JSON: ${err.message}`, false);
    return;
  }
  void sendEvent(event);
});

wireEventForms($('event-forms'), (event) => post(`/api/tasks/${encodeURIComponent(state.selected)}/events`, event), $('send-result'));

$('stop-button').addEventListener('click', async () => {
  if (!confirm(`Stop task ${state.selected}?`)) return;
  try {
    const v = await post(`/api/tasks/${encodeURIComponent(state.selected)}/stop`, {});
    showResult(`stopped (${v.status})`, true);
  } catch (err) {
    showResult(err.message, false);
  }
});

$('tasks').addEventListener('click', (e) => {
  const row = e.target.closest('.task-row');
  if (row) void select(row.dataset.id);
});
$('tasks').addEventListener('keydown', (e) => {
  const row = e.target.closest('.task-row');
  if (row && e.key === 'Enter') void select(row.dataset.id);
});
for (const id of ['filter-status', 'filter-machine']) $(id).addEventListener('change', () => void refreshList());
$('filter-text').addEventListener('input', renderList);

// Countdowns tick without a round trip.
setInterval(() => {
  for (const c of document.querySelectorAll('.countdown')) c.textContent = relative(Number(c.dataset.at));
}, 1000);

api('/api/info')
  .then((info) => ($('prefix').textContent = `prefix ${info.prefix}`))
  .catch(() => undefined);
void refreshList();
setInterval(() => void refreshList(), 2000);
const fromHash = new URLSearchParams(location.hash.slice(1)).get('task');
if (fromHash) void select(fromHash);
