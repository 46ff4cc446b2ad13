// The Baton web view: the task list (polled, grouped by machine, paged and
// searched by the server), one task at a time with live updates over
// Server-Sent Events (/api/tasks/:id/live), its agents' text from its durable
// stream (/api/tasks/:id/stream, see agent-text.js), decisions answered with
// { type: 'decision', decision, choice, by: 'ui' }. The connection badge
// follows /api/live, a stream open while the server runs. Links to tasks (a
// child task's parent, a parent's child tasks) set #task=<id>, which opens it.
import { agentText } from './agent-text.js';
import { countNodes } from './collapse.js';
import { showDiagram, statePaths } from './diagram.js';
import { eventFormsHtml, sentText, wireEventForms } from './forms.js';
import {
  awaitingHtml,
  childrenHtml,
  decisionKey,
  decisionsHtml,
  esc,
  groupHtml,
  headerHtml,
  historyHtml,
  jsonText,
  rejectionsHtml,
  relative,
  stateLabel,
  taskRowHtml,
  timersHtml,
} from './panels.js';

/** Tasks per page of the list. */
const PAGE = 50;
/** How soon a stream that gave up (an HTTP error rather than a dropped connection) is opened again. */
const REOPEN_MS = 1000;

const $ = (id) => document.getElementById(id);
const state = {
  tasks: [],
  total: 0,
  groups: {},
  truncated: false,
  offset: 0,
  listSeq: 0,
  listError: undefined,
  machines: new Set(),
  selected: undefined,
  detail: undefined,
  graph: undefined,
  history: [],
  stream: undefined,
  text: undefined,
  textStream: undefined,
  serverUp: false,
  streamUp: false,
  everUp: false,
  downSince: undefined,
  progress: {},
  childBoxes: new Map(),
  token: 0,
  formsSig: '',
  decisionNote: undefined,
};

async function api(path, init) {
  const res = await fetch(path, init);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(`${body.error ?? res.statusText}${body.code ? ` [${body.code}]` : ''}`), { status: res.status });
  return body;
}

const post = (path, body) => api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const taskPath = (id, rest = '') => `/api/tasks/${encodeURIComponent(id)}${rest}`;

// ---------------------------------------------------------------- connection

/**
 * An EventSource that stays open: the browser reconnects a dropped one by
 * itself (the server asks for a retry within a second); one that gave up
 * (an HTTP error) is opened again unless `gone()` says there is no point.
 * `url` may be a function: asked again for each new EventSource.
 */
function openStream(url, { onState, events, gone }) {
  let es;
  let timer;
  let closed = false;
  const open = () => {
    es = new EventSource(typeof url === 'function' ? url() : url);
    es.addEventListener('open', () => onState(true));
    es.addEventListener('error', () => {
      onState(false);
      if (es.readyState !== EventSource.CLOSED || closed) return;
      timer = setTimeout(async () => {
        if (!closed && !(await gone?.().catch(() => false))) open();
      }, REOPEN_MS);
    });
    for (const [type, fn] of Object.entries(events ?? {})) es.addEventListener(type, fn);
  };
  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      es.close();
    },
  };
}

/** The badge: "live" while the page is connected to the server (and to the open task's stream), else "reconnecting…". */
function renderLive() {
  const up = state.serverUp && (!state.stream || state.streamUp);
  const badge = $('live');
  badge.className = `live ${up ? 'on' : 'off'}`;
  badge.textContent = up ? 'live' : state.everUp ? 'reconnecting…' : 'connecting…';
  badge.title = up
    ? `connected to the baton ui server${state.selected ? ', following the open task' : ''}`
    : `the baton ui server does not answer${state.downSince ? ` since ${new Date(state.downSince).toLocaleTimeString()}` : ''}: retrying every second`;
  document.body.dataset.live = up ? 'live' : 'reconnecting';
}

openStream('/api/live', {
  onState: (up) => {
    if (up && !state.serverUp) void refreshList();
    if (!up && state.serverUp) state.downSince = Date.now();
    state.serverUp = up;
    state.everUp ||= up;
    renderLive();
  },
});

// ---------------------------------------------------------------- task list

function listQuery() {
  const q = new URLSearchParams({ group: 'machine', limit: String(PAGE), offset: String(state.offset) });
  const status = $('filter-status').value;
  const machine = $('filter-machine').value;
  const text = $('filter-text').value.trim();
  if (status) q.set('status', status);
  if (machine) q.set('machine', machine);
  if (text) q.set('q', text);
  return q;
}

async function refreshList() {
  const seq = ++state.listSeq;
  try {
    const res = await fetch(`/api/tasks?${listQuery()}`);
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`${body.error ?? res.statusText}${body.code ? ` [${body.code}]` : ''}`);
    if (seq !== state.listSeq) return; // a newer read is under way
    const total = Number(res.headers.get('x-total-count') ?? body.length);
    if (state.offset > 0 && state.offset >= total) {
      // The page we were on is gone (tasks removed, filters narrowed): show the last one.
      state.offset = Math.max(0, Math.floor((total - 1) / PAGE) * PAGE);
      return refreshList();
    }
    Object.assign(state, {
      tasks: body,
      total,
      groups: JSON.parse(decodeURIComponent(res.headers.get('x-machines') ?? '%7B%7D')),
      truncated: res.headers.get('x-truncated') === 'true',
      listError: undefined,
    });
  } catch (err) {
    if (seq !== state.listSeq) return;
    state.listError = err.message;
  }
  renderList();
}

function renderList() {
  let html = '';
  let machine;
  for (const t of state.tasks) {
    if (t.machine !== machine) {
      machine = t.machine;
      html += groupHtml(machine, state.groups[machine]);
    }
    html += taskRowHtml(t, t.id === state.selected);
  }
  $('tasks').innerHTML = html;
  const text = $('filter-text').value.trim();
  const empty = $('tasks-empty');
  empty.hidden = !state.listError && state.tasks.length > 0;
  empty.className = state.listError ? 'error-text empty' : 'muted empty';
  empty.textContent = state.listError ? `Cannot list tasks: ${state.listError}` : text ? `No task id contains “${text}”.` : 'No tasks.';
  const from = state.total ? state.offset + 1 : 0;
  const to = Math.min(state.offset + state.tasks.length, state.total);
  $('page-info').textContent = `${from}–${to} of ${state.total}${state.truncated ? '+' : ''}`;
  $('page-prev').disabled = state.offset === 0;
  $('page-next').disabled = state.offset + PAGE >= state.total;
  for (const m of Object.keys(state.groups)) addMachine(m);
}

function addMachine(name) {
  if (state.machines.has(name)) return;
  state.machines.add(name);
  const select = $('filter-machine');
  const after = [...select.options].slice(1).find((o) => o.value > name);
  select.add(new Option(name, name), after);
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

/** The zoom button of a diagram box: shown when the chart is drawn smaller than its size (or at its size, to go back). */
function zoomButtonOf(box) {
  return box === $('diagram') ? document.querySelector('button.zoom[data-zoom="diagram"]') : box.closest('.child-diagram')?.querySelector('button.zoom');
}

function updateZoom(box) {
  const button = zoomButtonOf(box);
  const svg = box.querySelector('svg.statechart');
  if (!button || !svg) return;
  const actual = box.classList.contains('actual-size');
  const r = svg.getBoundingClientRect();
  const vb = svg.viewBox.baseVal;
  button.hidden = !actual && !(vb && (vb.width > r.width + 1 || vb.height > r.height + 1));
  button.textContent = actual ? 'fit' : 'actual size';
  if (!actual && vb?.width) box.dataset.scale = (r.width / vb.width).toFixed(2);
}

async function draw(box, ...args) {
  const svg = await showDiagram(box, ...args);
  if (svg) updateZoom(box);
}

function drawRoot() {
  if (state.graph && state.detail) void draw($('diagram'), state.graph, rootKey(), 'root', state.detail.view.value, visitedPaths());
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
      wrap.dataset.child = path;
      wrap.innerHTML = `<div class="card-head"><h3>child <code>${esc(path)}</code> <span class="muted small">(${esc(child.src)})</span></h3><button type="button" class="zoom secondary" hidden>actual size</button></div><div class="diagram"></div>`;
      $('child-diagrams').appendChild(wrap);
      entry = { wrap, box: wrap.querySelector('.diagram') };
      state.childBoxes.set(path, entry);
    }
    void draw(entry.box, findActorGraph(state.graph, child.src), `${state.graph.id}@${state.graph.version ?? ''}/${child.src}`, `child:${path}`, child.value);
  }
}

async function refreshGraph(id, token) {
  const graph = await api(taskPath(id, '/graph'));
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
    state.history = await api(taskPath(id, '/history?limit=200'));
    if (state.graph?.source === 'history') await refreshGraph(id, token); // new states may have been seen
  } catch {
    return;
  }
  if (token !== state.token) return;
  $('history').innerHTML = historyHtml(state.history);
  drawRoot();
}

function renderAwaiting() {
  const v = state.detail?.view;
  $('awaiting').innerHTML = awaitingHtml(v?.status === 'active' ? v.awaiting : undefined, state.decisionNote);
}

function renderDetail() {
  const d = state.detail;
  const v = d.view;
  $('task-header').innerHTML = headerHtml(v);
  renderAwaiting();
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

/** A progress report (live, or the view's latest of a child): the children table and the agent's text block. */
function onProgress(p) {
  const known = state.progress[p.jobId];
  if (!known || known.at <= p.at) state.progress[p.jobId] = p;
  state.text?.progress(p);
}

function onDetail(detail) {
  if (detail.view.id !== state.selected) return;
  const previous = state.detail?.view.seq;
  if (previous !== undefined && detail.view.seq < previous) return;
  state.detail = detail;
  state.text?.agents(detail.agents);
  for (const p of Object.values(detail.view.progress ?? {})) onProgress(p);
  renderDetail();
  if (previous !== detail.view.seq) void refreshHistory(detail.view.id);
  const i = state.tasks.findIndex((t) => t.id === detail.view.id);
  if (i >= 0 && state.tasks[i].seq <= detail.view.seq) {
    state.tasks[i] = detail.view;
    renderList();
  }
}

async function select(id) {
  if (!id) return;
  state.token += 1;
  const token = state.token;
  state.stream?.close();
  state.textStream?.close();
  Object.assign(state, { selected: id, detail: undefined, graph: undefined, history: [], progress: {}, formsSig: '', decisionNote: undefined, streamUp: false });
  $('event-forms').innerHTML = '';
  for (const out of ['forms-result', 'send-result', 'stop-result']) $(out).textContent = '';
  $('raw-event').open = false;
  $('awaiting').innerHTML = '';
  $('rejections-card').hidden = true;
  state.childBoxes.clear();
  $('child-diagrams').replaceChildren();
  $('diagram').pending = undefined; // a layout still running for the previous task draws nothing
  delete $('diagram').dataset.sig;
  $('diagram').classList.remove('actual-size');
  $('diagram').innerHTML = '<p class="muted">Laying out…</p>';
  if (location.hash !== `#task=${encodeURIComponent(id)}`) history.replaceState(null, '', `#task=${encodeURIComponent(id)}`);
  $('placeholder').hidden = true;
  $('task').hidden = false;
  renderList();

  followText(id);
  const stream = openStream(taskPath(id, '/live'), {
    onState: (up) => {
      if (state.stream !== stream) return;
      state.streamUp = up;
      renderLive();
    },
    events: {
      detail: (e) => onDetail(JSON.parse(e.data)),
      progress: (e) => {
        onProgress(JSON.parse(e.data));
        if (state.detail) $('children').innerHTML = childrenHtml(state.detail, state.progress);
      },
    },
    // No such task: say so instead of asking again.
    gone: async () => {
      const res = await fetch(taskPath(id));
      if (res.status !== 404 || state.stream !== stream) return state.stream !== stream;
      const body = await res.json().catch(() => ({}));
      $('task-header').innerHTML = `<h2 class="task-id">${esc(id)}</h2><p class="error-text">${esc(body.error ?? 'no such task')}</p>`;
      state.stream = undefined;
      renderLive();
      return true;
    },
  });
  state.stream = stream;
  renderLive();

  try {
    await refreshGraph(id, token);
  } catch (err) {
    if (token === state.token) $('diagram').innerHTML = `<p class="error-text">${esc(err.message)}</p>`;
  }
}

/** The agents' text of task `id`, from the start (a reload shows it once); a new EventSource resumes after the last item shown. */
function followText(id) {
  const text = agentText($('agent-text'), $('agent-text-card'));
  const show = (e) => {
    if (state.text !== text) return;
    if (text.item(JSON.parse(e.data))) textStream.close(); // the end: the server closes the response, do not reconnect
  };
  const textStream = openStream(() => taskPath(id, `/stream${text.lastId ? `?from=${encodeURIComponent(text.lastId)}` : ''}`), {
    onState: () => undefined,
    events: { chunk: show, attempt: show, end: show },
    gone: async () => state.text !== text || (await fetch(taskPath(id))).status === 404,
  });
  Object.assign(state, { text, textStream });
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
  // Nothing known about the events: the raw JSON box is the way to send one.
  if (status === 'active' && !accepts?.events?.length) $('raw-event').open = true;
}

function say(out, text, ok) {
  out.textContent = text;
  out.className = `${out.className.replace(/\b(ok-text|error-text|muted)\b/g, '').trim()} ${ok ? 'ok-text' : 'error-text'}`;
}

$('awaiting').addEventListener('click', (e) => {
  const button = e.target.closest('.awaiting button.decision-option');
  const a = state.detail?.view.awaiting;
  if (!button || button.disabled || !a) return;
  const choice = button.dataset.choice;
  const note = { key: decisionKey(a), decision: a.decision, choice, options: a.options, text: `sending ${choice}…`, ok: true, pending: true };
  state.decisionNote = note;
  renderAwaiting();
  const event = { type: 'decision', decision: a.decision, choice, by: 'ui' };
  post(taskPath(state.selected, '/events'), event)
    .then(
      (r) => Object.assign(note, { ok: true, text: r.applied === false ? `${choice}: queued (${r.entryId}), ${r.reason ?? 'not applied yet'}` : `${choice}: applied (${r.entryId})` }),
      (err) => Object.assign(note, { ok: false, text: `${choice} not sent: ${err.message}` }),
    )
    .finally(() => {
      note.pending = false;
      if (state.decisionNote === note) renderAwaiting();
    });
});

$('send-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  let event;
  try {
    event = JSON.parse($('send-json').value);
  } catch (err) {
    say($('send-result'), `not JSON: ${err.message}`, false);
    return;
  }
  try {
    say($('send-result'), sentText(event, await post(taskPath(state.selected, '/events'), event)), true);
  } catch (err) {
    say($('send-result'), err.message, false);
  }
});

wireEventForms($('event-forms'), (event) => post(taskPath(state.selected, '/events'), event), $('forms-result'));

$('stop-button').addEventListener('click', async () => {
  if (!confirm(`Stop task ${state.selected}?`)) return;
  try {
    const v = await post(taskPath(state.selected, '/stop'), {});
    say($('stop-result'), `stopped (${v.status})`, true);
  } catch (err) {
    say($('stop-result'), err.message, false);
  }
});

// A chart is drawn to fit its panel; "actual size" shows it at full size (scrolling), "fit" goes back.
$('task').addEventListener('click', (e) => {
  const button = e.target.closest('button.zoom');
  if (!button) return;
  const box = button.dataset.zoom === 'diagram' ? $('diagram') : button.closest('.child-diagram')?.querySelector('.diagram');
  if (!box) return;
  box.classList.toggle('actual-size');
  updateZoom(box);
});
let resizeTimer;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const box of document.querySelectorAll('.diagram')) updateZoom(box);
  }, 100);
});

// A link to a task (a child task's parent, a parent's child task) changes the hash: the hashchange below opens it.
$('tasks').addEventListener('click', (e) => {
  const row = e.target.closest('.task-row');
  if (row && !e.target.closest('a.task-link')) void select(row.dataset.id);
});
$('tasks').addEventListener('keydown', (e) => {
  const row = e.target.closest('.task-row');
  if (row && e.key === 'Enter' && !e.target.closest('a.task-link')) void select(row.dataset.id);
});
window.addEventListener('hashchange', () => {
  const id = new URLSearchParams(location.hash.slice(1)).get('task');
  if (id && id !== state.selected) void select(id);
});
for (const id of ['filter-status', 'filter-machine']) {
  $(id).addEventListener('change', () => {
    state.offset = 0;
    void refreshList();
  });
}
let searchTimer;
$('filter-text').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    state.offset = 0;
    void refreshList();
  }, 150);
});
$('page-prev').addEventListener('click', () => {
  state.offset = Math.max(0, state.offset - PAGE);
  void refreshList();
});
$('page-next').addEventListener('click', () => {
  if (state.offset + PAGE >= state.total) return;
  state.offset += PAGE;
  void refreshList();
});

// Countdowns tick without a round trip.
setInterval(() => {
  for (const c of document.querySelectorAll('.countdown')) c.textContent = relative(Number(c.dataset.at));
}, 1000);

api('/api/info')
  .then((info) => {
    $('prefix').textContent = `prefix ${info.prefix}`;
    for (const m of info.machines ?? []) addMachine(m);
  })
  .catch(() => undefined);
renderLive();
void refreshList();
setInterval(() => void refreshList(), 2000);
const fromHash = new URLSearchParams(location.hash.slice(1)).get('task');
if (fromHash) void select(fromHash);
