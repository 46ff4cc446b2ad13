// The task page's panels, rendered from a TaskDetail (src/cli/task-detail.ts):
// the task list's rows, header, awaiting decision, children and agents, timers,
// decisions, context, history.

/** Escape text for HTML. */
export function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/** A state value as a short label ('a.b', parallel regions joined with ', '). */
export function stateLabel(value) {
  if (value === undefined || value === null) return '-';
  if (typeof value !== 'object') return String(value);
  return Object.entries(value)
    .map(([k, v]) => (v && (typeof v !== 'object' || Object.keys(v).length) ? `${k}.${stateLabel(v)}` : k))
    .join(', ');
}

/** '3s ago' / 'in 2m'. */
export function relative(at, now = Date.now()) {
  if (!at) return '-';
  const s = Math.round(Math.abs(now - at) / 1000);
  const span = s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s` : s < 86400 ? `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m` : `${Math.floor(s / 86400)}d`;
  return at <= now ? `${span} ago` : `in ${span}`;
}

/** A long task id shortened for the list ('research-0b7c5e52…2a7f1c'); short ids as they are. */
export function shortId(id, max = 26) {
  const s = String(id ?? '');
  return s.length <= max ? s : `${s.slice(0, max - 9)}…${s.slice(-8)}`;
}

/** The newest refusal of a view, as one line ('context.update: scope must not be blank'). */
export function lastRefusal(v) {
  const r = v.rejections?.at(-1);
  return r ? `${r.type ?? '(no type)'}: ${r.reason}` : '';
}

/** A link to a task's page (`#task=<id>`: the page opens it, and Back returns). */
export function taskLinkHtml(id, text = id) {
  return `<a class="task-link" href="#task=${esc(encodeURIComponent(id))}" data-task="${esc(id)}" title="${esc(id)}">${esc(text)}</a>`;
}

/** A machine's heading in the task list: its name and how many tasks match. */
export function groupHtml(machine, count) {
  return `<li class="group" data-machine="${esc(machine)}"><span class="group-name">${esc(machine)}</span><span class="count muted small" title="tasks of ${esc(machine)} matching the filters">${esc(count ?? '')}</span></li>`;
}

/** One row of the task list: short id (full id in its title), status, state as a dotted path, flags, the parent of a child task. */
export function taskRowHtml(t, selected) {
  const n = t.rejections?.length ?? 0;
  const tags = [
    t.awaiting ? `<span class="tag awaiting-tag" title="${esc(`awaiting decision ${t.awaiting.decision}${t.awaiting.question ? `: ${t.awaiting.question}` : ''}`)}">decision</span>` : '',
    t.unserved ? `<span class="tag unserved-tag" title="${esc(t.reason ?? '')}">unserved</span>` : '',
    n ? `<span class="tag refused-tag" title="${esc(`refused ${lastRefusal(t)}${n > 1 ? ` (and ${n - 1} more)` : ''}`)}">${n > 1 ? `${n} refused` : 'refused'}</span>` : '',
    t.status !== 'active' && t.reason && !t.unserved ? `<span class="tag reason-tag" title="${esc(t.reason)}">reason</span>` : '',
  ].join('');
  const label = stateLabel(t.value);
  return `<li class="task-row${selected ? ' selected' : ''}" data-id="${esc(t.id)}" data-machine="${esc(t.machine)}" tabindex="0">
      <div class="row1"><span class="id" title="${esc(t.id)}">${esc(shortId(t.id))}</span>${badge(t.status)}</div>
      <div class="row2"><span class="state" title="state ${esc(label)}">${esc(label)}</span></div>
      <div class="row3"><span class="machine">${esc(t.machine)} <span class="muted">v${esc(t.version)}</span></span>${t.parent ? `<span class="parent-of small muted">of ${taskLinkHtml(t.parent, shortId(t.parent, 16))}</span>` : ''}${tags}<span class="when muted small">${esc(relative(t.updatedAt))}</span></div></li>`;
}

const json = (v) => esc(JSON.stringify(v, null, 2) ?? 'undefined');
const badge = (status) => `<span class="badge ${esc(status)}">${esc(status)}</span>`;

/** Task id, machine, status, state, seq, and the parent of a child task (a link). */
export function headerHtml(v) {
  return `<h2 class="task-id">${esc(v.id)}</h2>
    <div class="facts">
      ${badge(v.status)}
      <span><span class="muted">machine</span> ${esc(v.machine)} <span class="muted">v${esc(v.version)}</span></span>
      ${v.parent ? `<span id="task-parent"><span class="muted">parent</span> ${taskLinkHtml(v.parent)}</span>` : ''}
      <span><span class="muted">state</span> <strong id="task-state">${esc(stateLabel(v.value))}</strong></span>
      <span><span class="muted">seq</span> <span id="task-seq">${esc(v.seq)}</span></span>
      <span class="muted">updated ${esc(relative(v.updatedAt))}</span>
      ${v.unserved ? '<span class="badge unserved">unserved</span>' : ''}
      ${v.reason && !v.unserved ? `<span class="error-text">${esc(v.reason)}</span>` : ''}
      ${v.error ? `<span class="error-text">${esc(JSON.stringify(v.error))}</span>` : ''}
    </div>
    ${v.rejections?.length ? `<div class="refused-line" id="refused-latest"><span class="tag refused-tag">refused</span> <code>${esc(v.rejections.at(-1).type ?? '(no type)')}</code> <span class="reason error-text">${esc(v.rejections.at(-1).reason)}</span> <span class="muted small">${esc(relative(v.rejections.at(-1).at))}${v.rejections.length > 1 ? ` · <a href="#rejections-card">all ${v.rejections.length}</a>` : ''}</span></div>` : ''}
    ${v.unserved ? `<div class="unserved-banner" id="unserved" role="alert"><strong>No live process runs this task's machine.</strong> <span class="reason">${esc(v.reason ?? '')}</span> — events sent now wait in its mailbox.</div>` : ''}`;
}

/** Events the task's process refused when it came to apply them, newest first. */
export function rejectionsHtml(rejections) {
  if (!rejections?.length) return '';
  return `<table class="list"><thead><tr><th>event</th><th>reason</th><th>seq</th><th>when</th></tr></thead><tbody>${[...rejections]
    .reverse()
    .map((r) => `<tr class="rejection" data-entry="${esc(r.entry)}"><td><code>${esc(r.type ?? '(no type)')}</code></td><td class="reason error-text">${esc(r.reason)}</td><td>${esc(r.seq)}</td><td class="muted small">${esc(relative(r.at))}</td></tr>`)
    .join('')}</tbody></table>`;
}

function originalsTable(originals, conflict) {
  const names = Object.keys(originals ?? {});
  if (!names.length) return '';
  const fields = new Set(conflict?.fields ?? []);
  return `<div class="originals">${names
    .map((n) => {
      const o = originals[n];
      const rows = o && typeof o === 'object'
        ? Object.entries(o).map(([k, val]) => `<tr class="${fields.has(k) ? 'conflicting' : ''}"><th>${esc(k)}</th><td>${esc(typeof val === 'string' ? val : JSON.stringify(val))}</td></tr>`).join('')
        : `<tr><td>${esc(JSON.stringify(o))}</td></tr>`;
      return `<div class="original"><h3>${esc(n)}</h3><table>${rows}</table></div>`;
    })
    .join('')}</div>`;
}

/** The key a sent answer is kept under: one decision, asked once (a decision asked again is another). */
export function decisionKey(a) {
  return `${a.decision}@${a.since ?? ''}`;
}

function optionsHtml(options, note, live) {
  const mine = note && live ? note : undefined;
  const buttons = options
    .map((o) => `<button class="decision-option${note?.choice === o && (note.pending || note.ok) ? ' chosen' : ''}" data-choice="${esc(o)}"${!live || mine?.pending ? ' disabled' : ''}>${esc(o)}</button>`)
    .join('');
  const result = note ? `<span class="decision-result ${note.pending ? 'muted' : note.ok ? 'ok-text' : 'error-text'}" role="status">${esc(note.text)}</span>` : '<span class="decision-result" role="status"></span>';
  return `<div class="options">${buttons}${result}</div>`;
}

/**
 * The decision the task waits for, with a button per option; `note` is the
 * answer sent from this page (`{ key, decision, choice, options, text, ok, pending }`):
 * its confirmation or error goes next to the buttons. Once the task has moved
 * past that decision, a receipt keeps the buttons (disabled, the chosen one
 * marked) with the confirmation beside them.
 */
export function awaitingHtml(a, note) {
  const live = note && a && note.key === decisionKey(a);
  const receipt = note && !live
    ? `<div class="card decision-receipt" data-decision="${esc(note.decision)}"><h2>Decision <code>${esc(note.decision)}</code> ${note.pending ? 'sent' : note.ok ? 'answered' : 'no longer awaited'}</h2>${optionsHtml(note.options, note, false)}</div>`
    : '';
  if (!a) return receipt;
  const detail = a.detail && typeof a.detail === 'object' ? a.detail : undefined;
  return `${receipt}<div class="card awaiting" data-decision="${esc(a.decision)}">
    <h2>Awaiting decision <code>${esc(a.decision)}</code>${a.escalated ? ' <span class="badge error">escalated</span>' : ''}</h2>
    <p class="question">${esc(a.question ?? '')}</p>
    ${detail?.conflict ? `<p class="muted">Conflict: ${esc(detail.conflict.summary ?? '')} ${detail.conflict.fields?.length ? `(fields: ${esc(detail.conflict.fields.join(', '))})` : ''}</p>` : ''}
    ${detail?.originals ? originalsTable(detail.originals, detail.conflict) : ''}
    ${detail && !detail.originals ? `<pre class="json small">${json(detail)}</pre>` : ''}
    ${optionsHtml(a.options, live ? note : undefined, true)}
    <p class="muted small">waiting since ${esc(relative(a.since))}${a.deadline ? ` · deadline <span class="countdown" data-at="${a.deadline}">${esc(relative(a.deadline))}</span>` : ' · no deadline'}</p>
  </div>`;
}

function childRows(children, agents, progress, prefix, depth, rows) {
  for (const c of Object.values(children ?? {})) {
    const path = [...prefix, c.id];
    const agent = agents.find((a) => a.path.join('/') === path.join('/'));
    const p = agent ? progress[agent.jobId] : undefined;
    const what = agent
      ? `<span class="tag agent">agent</span> ${esc(agent.agent)} <span class="muted small">job ${esc(agent.jobId || '-')}</span>${p ? `<div class="muted small">progress: ${esc(JSON.stringify(p.data))}</div>` : ''}`
      : c.task
        ? `<span class="tag child-task">task</span> ${taskLinkHtml(c.task)}${c.machine ? ` <span class="muted small">${esc(c.machine)}</span>` : ''}`
        : c.value !== undefined
          ? `<strong>${esc(stateLabel(c.value))}</strong>`
          : `<span class="muted">${c.output !== undefined ? esc(JSON.stringify(c.output).slice(0, 80)) : '-'}</span>`;
    rows.push(`<tr data-child="${esc(path.join('/'))}"><td style="padding-left:${depth * 16 + 6}px">${depth ? '└ ' : ''}${esc(c.id)}</td><td>${esc(c.src ?? '-')}</td><td>${badge(c.status)}</td><td>${what}</td></tr>`);
    if (c.children && depth < 6) childRows(c.children, agents, progress, path, depth + 1, rows);
  }
}

/** Child actors (machines, agent jobs, child tasks as links to their pages) with their states. */
export function childrenHtml(detail, progress) {
  const rows = [];
  childRows(detail.view.children, detail.agents, progress, [], 0, rows);
  if (!rows.length) return '<p class="muted">No children.</p>';
  return `<table class="list"><thead><tr><th>id</th><th>src</th><th>status</th><th>state / agent</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function timerLabel(type) {
  const m = /^xstate\.after\.([^.]+)\./.exec(type);
  if (!m) return type;
  if (!/^\d+$/.test(m[1])) return `after ${m[1]}`;
  const ms = Number(m[1]);
  const span = ms % 3600000 === 0 ? `${ms / 3600000}h` : ms % 60000 === 0 ? `${ms / 60000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
  return `after ${span}`;
}

/** Delayed events pending at the last commit. */
export function timersHtml(timers) {
  if (!timers.length) return '<p class="muted">No pending timers.</p>';
  return `<table class="list"><thead><tr><th>event</th><th>actor</th><th>due</th></tr></thead><tbody>${timers
    .map((t) => `<tr><td>${esc(timerLabel(t.event.type))}<div><code class="muted small">${esc(t.event.type)}</code></div></td><td>${esc(t.target.join('/') || '(root)')}</td><td><span class="countdown" data-at="${t.dueAt}">${esc(relative(t.dueAt))}</span> <span class="muted small">${esc(new Date(t.dueAt).toLocaleString())}</span></td></tr>`)
    .join('')}</tbody></table>`;
}

/** Reconciliations (originals, conflict, reconciled, decidedBy) and recorded decisions. */
export function decisionsHtml(decisions) {
  if (!decisions.length) return '<p class="muted">None yet.</p>';
  return decisions
    .map((d) => {
      const v = d.value;
      if (d.kind === 'reconciliation') {
        return `<div class="decision reconciliation"><div class="where muted small">${esc(d.where)}</div>
          ${v.conflict ? `<p><span class="tag conflict">conflict</span> ${esc(v.conflict.summary ?? '')}</p>` : '<p><span class="tag ok">no conflict</span></p>'}
          ${originalsTable(v.originals, v.conflict)}
          ${'reconciled' in v ? `<p><span class="muted">reconciled</span> <code>${esc(JSON.stringify(v.reconciled))}</code></p>` : ''}
          ${v.decidedBy ? `<p><span class="muted">decided by</span> <strong>${esc(v.decidedBy)}</strong>${v.decidedAt ? ` <span class="muted small">${esc(relative(v.decidedAt))}</span>` : ''}</p>` : ''}
        </div>`;
      }
      return `<div class="decision record"><div class="where muted small">${esc(d.where)}</div>
        <p><code>${esc(v.decision)}</code> → <strong>${esc(v.choice)}</strong> <span class="muted">by ${esc(v.by)}${v.source ? ` (${esc(v.source)})` : ''}${v.at ? `, ${esc(relative(v.at))}` : ''}</span></p></div>`;
    })
    .join('');
}

/** Pretty JSON. */
export function jsonText(v) {
  return JSON.stringify(v, null, 2) ?? 'undefined';
}

/** The commit history as a timeline, newest first. */
export function historyHtml(entries) {
  if (!entries.length) return '<li class="muted">No commits yet.</li>';
  return [...entries]
    .reverse()
    .map((h) => `<li data-seq="${h.seq}"><span class="seq">#${esc(h.seq)}</span> <code class="event">${esc(h.event.type)}</code>
      <span class="move">${esc(stateLabel(h.from))} → <strong>${esc(stateLabel(h.to))}</strong></span>
      <span class="muted small" title="${esc(new Date(h.at).toISOString())}">${esc(new Date(h.at).toLocaleTimeString())}</span></li>`)
    .join('');
}
