// Agents' live text on the task page: the task's durable stream
// (/api/tasks/:id/stream, Server-Sent Events: chunk, attempt and end events,
// each with its entry id), one block per agent job. String chunks are
// appended in order, other chunks as a JSON line; an attempt marker clears
// the job's text (the earlier attempt's is superseded) and shows "attempt N".
// Each block also shows the job's latest progress report (the view's
// `progress`, then live `progress` events). The browser's EventSource resends
// the last id when it reconnects; items at or before the last one shown are
// dropped all the same, so nothing is shown twice.
import { esc } from './panels.js';

/** Entry ids ('<ms>-<seq>') in order: negative, zero or positive. */
export function compareIds(a, b) {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

/**
 * The agent text panel of one task, drawn into `box` (`card` is shown once
 * there is something to show). Feed it stream items, progress reports and
 * the task detail's agents (for their names).
 */
export function agentText(box, card) {
  const jobs = new Map();
  const names = new Map();
  let lastId;
  box.replaceChildren();
  box.dataset.stream = 'live';
  card.hidden = true;

  const jobOf = (jobId, childPath) => {
    let job = jobs.get(jobId);
    if (job) return job;
    const el = document.createElement('div');
    el.className = 'agent-text';
    el.dataset.job = jobId;
    el.dataset.child = (childPath ?? []).join('/');
    el.innerHTML = `<div class="agent-text-head"><code class="child">${esc(el.dataset.child || '(root)')}</code> <strong class="agent-name"></strong> <span class="attempt tag" hidden></span> <span class="muted small">job ${esc(jobId)}</span></div><div class="agent-progress muted small" hidden></div><pre class="agent-out"></pre>`;
    box.appendChild(el);
    card.hidden = false;
    if (names.has(jobId)) el.querySelector('.agent-name').textContent = names.get(jobId);
    job = { el, out: el.querySelector('.agent-out'), attempt: 0, progressAt: -1 };
    jobs.set(jobId, job);
    return job;
  };

  const append = (job, text) => {
    const out = job.out;
    const atBottom = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    out.append(document.createTextNode(text));
    if (atBottom) out.scrollTop = out.scrollHeight;
  };

  return {
    /** The id of the last item shown (where a new connection resumes). */
    get lastId() {
      return lastId;
    },
    /** Show one stream item; returns true when it was the end. */
    item(item) {
      if (item.id) {
        if (lastId && compareIds(item.id, lastId) <= 0) return false; // seen already
        lastId = item.id;
      }
      if (item.kind === 'end') {
        box.dataset.stream = 'ended';
        box.dataset.status = item.status;
        return true;
      }
      const job = jobOf(item.jobId, item.childPath);
      if (item.kind === 'attempt') {
        job.attempt = item.attempt;
        job.out.replaceChildren();
        const tag = job.el.querySelector('.attempt');
        tag.textContent = `attempt ${item.attempt}`;
        tag.classList.toggle('retried', item.attempt > 1);
        tag.hidden = false;
        job.el.dataset.attempt = String(item.attempt);
        return false;
      }
      if (item.attempt < job.attempt) return false; // a superseded attempt's late chunk
      append(job, typeof item.data === 'string' ? item.data : `${JSON.stringify(item.data)}\n`);
      return false;
    },
    /** A progress report ({ jobId, agent, childPath, attempt, data, at }): the newest one of each job is shown. */
    progress(p) {
      if (!p?.jobId) return;
      const job = jobOf(p.jobId, p.childPath);
      if (p.at < job.progressAt) return;
      job.progressAt = p.at;
      const line = job.el.querySelector('.agent-progress');
      line.textContent = `progress: ${JSON.stringify(p.data)}`;
      line.hidden = false;
      if (p.agent) names.set(p.jobId, p.agent);
      if (p.agent) job.el.querySelector('.agent-name').textContent = p.agent;
    },
    /** The task detail's agent jobs: names the blocks. */
    agents(list) {
      for (const a of list ?? []) {
        names.set(a.jobId, a.agent);
        const job = jobs.get(a.jobId);
        if (job) job.el.querySelector('.agent-name').textContent = a.agent;
      }
    },
  };
}
