import type { ChildView, HistoryEntry, TaskView } from '../index.js';
import { colors, compactJson, indentedJson, relativeTime, stateLabel, statusText, table } from './format.js';
import type { TaskDetail } from './task-detail.js';

/** `baton ps`: one row per task. */
export function renderTasks(views: TaskView[], now = Date.now()): string {
  if (views.length === 0) return colors().dim('(no tasks)');
  const c = colors();
  const out = table(
    ['ID', 'MACHINE', 'STATUS', 'SEQ', 'UPDATED', 'STATE'],
    views.map((v) => [
      v.id,
      v.machine,
      statusText(v.status) + (v.awaiting ? c.magenta(' ?') : '') + (v.unserved ? c.red(' !') : ''),
      String(v.seq),
      relativeTime(v.updatedAt, now),
      stateLabel(v.value),
    ]),
    { align: ['left', 'left', 'left', 'right', 'left', 'left'] },
  );
  const unserved = views.filter((v) => v.unserved);
  if (!unserved.length) return out;
  // Said once per machine: a task that waits for a worker that is not there is not stuck by its own fault.
  const machines = [...new Set(unserved.map((v) => `${v.machine}@${v.version}`))];
  return `${out}\n${c.red('!')} ${unserved.length} active task(s) wait for a process that runs ${machines.join(', ')}: none is live (start a worker with that machine)`;
}

function section(title: string): string {
  return `\n${colors().bold(colors().underline(title))}`;
}

function childRows(children: Record<string, ChildView>, detail: TaskDetail, prefix: string[], depth: number, rows: string[][]): void {
  const c = colors();
  for (const child of Object.values(children)) {
    const path = [...prefix, child.id];
    const agent = detail.agents.find((a) => a.path.join('/') === path.join('/'));
    const what = agent
      ? `${c.magenta('agent')} ${agent.agent} ${c.dim(`job ${agent.jobId || '-'}`)}`
      : child.value !== undefined
        ? stateLabel(child.value)
        : c.dim(child.output !== undefined ? `output ${compactJson(child.output, 50)}` : '-');
    rows.push([`${'  '.repeat(depth)}${depth ? '└ ' : ''}${child.id}`, child.src ?? '-', statusText(child.status), what]);
    if (child.children && depth < 6) childRows(child.children, detail, path, depth + 1, rows);
  }
}

/** `baton show`: state, awaiting decision, context, children and agents, timers, decisions. */
export function renderDetail(detail: TaskDetail, now = Date.now()): string {
  const c = colors();
  const v = detail.view;
  const out: string[] = [];
  out.push(`${c.bold(v.id)}  ${statusText(v.status)}`);
  out.push(
    table(
      ['', ''],
      [
        ['machine', `${v.machine} ${c.dim(`v${v.version}`)}`],
        ['state', c.bold(stateLabel(v.value))],
        ['seq', `${v.seq} ${c.dim(`(updated ${relativeTime(v.updatedAt, now)}, created ${relativeTime(v.createdAt, now)})`)}`],
        ...(v.reason ? [['reason', c.red(v.reason)]] : []),
        ...(v.error !== undefined ? [['error', c.red(compactJson(v.error, 200))]] : []),
      ],
    ).replace(/^.*\n/, ''),
  );
  if (v.awaiting) {
    const a = v.awaiting;
    out.push(section('Awaiting decision'));
    out.push(`  ${c.magenta(a.decision)}: ${a.question ?? ''}`);
    out.push(`  options: ${a.options.map((o) => c.bold(o)).join(' | ')}${a.deadline ? c.dim(`  (deadline ${relativeTime(a.deadline, now)})`) : ''}`);
    out.push(c.dim(`  answer: baton send ${v.id} '${JSON.stringify({ type: 'decision', decision: a.decision, choice: a.options[0] ?? '' })}'`));
  }
  out.push(section('Context'));
  out.push(indentedJson(v.context));
  const rows: string[][] = [];
  childRows(v.children, detail, [], 0, rows);
  out.push(section(`Children and agents (${detail.agents.length} agent job${detail.agents.length === 1 ? '' : 's'})`));
  out.push(rows.length ? table(['ID', 'SRC', 'STATUS', 'STATE / AGENT'], rows).replace(/^/gm, '  ') : c.dim('  (none)'));
  out.push(section('Pending timers'));
  out.push(
    v.timers.length
      ? table(
          ['EVENT', 'FROM', 'TO', 'DUE'],
          v.timers.map((t) => [t.event.type, t.source.join('/') || '(root)', t.target.join('/') || '(root)', relativeTime(t.dueAt, now)]),
        ).replace(/^/gm, '  ')
      : c.dim('  (none)'),
  );
  if (detail.decisions.length) {
    out.push(section('Decisions and reconciliations'));
    for (const d of detail.decisions) out.push(`  ${c.magenta(d.kind)} ${c.dim(`at ${d.where}`)}\n${indentedJson(d.value, 4)}`);
  }
  if (v.output !== undefined) {
    out.push(section('Output'));
    out.push(indentedJson(v.output));
  }
  return out.join('\n');
}

/** `baton history`: one row per commit. */
export function renderHistory(entries: HistoryEntry[]): string {
  if (entries.length === 0) return colors().dim('(no history)');
  const c = colors();
  return table(
    ['SEQ', 'AT', 'EVENT', 'FROM', '', 'TO'],
    entries.map((e) => [
      String(e.seq),
      new Date(e.at).toISOString().replace('T', ' ').replace('Z', ''),
      c.cyan(e.event.type),
      stateLabel(e.from),
      c.dim('→'),
      stateLabel(e.to),
    ]),
    { align: ['right'] },
  );
}
