import type { ChildView, HistoryEntry, TaskView } from '../index.js';
import { describeEvent, type EventText } from './events.js';
import { colors, compactJson, fieldLines, indentedJson, relativeTime, stateLabel, statusText, table, truncate, utcTime } from './format.js';
import { childPathLabel, parseJobId, type AgentNamer } from './jobs.js';
import type { DecisionInfo, TaskDetail } from './task-detail.js';
import { taskTree } from './tree.js';

/** Options of {@link renderTasks}. */
export interface TasksOptions {
  /** Each root task followed by its child tasks, indented (`baton ps --tree`). */
  tree?: boolean;
  now?: number;
}

/**
 * `baton ps`: one row per task; with `tree`, child tasks are indented under
 * their parent (a child whose parent is not listed is a root).
 */
export function renderTasks(views: TaskView[], opts: TasksOptions = {}): string {
  if (views.length === 0) return colors().dim('(no tasks)');
  const c = colors();
  const now = opts.now ?? Date.now();
  const rows = opts.tree ? taskTree(views) : views.map((view) => ({ view, depth: 0 }));
  const out = table(
    ['ID', 'MACHINE', 'STATUS', 'SEQ', 'UPDATED', 'STATE'],
    rows.map(({ view: v, depth }) => [
      `${'  '.repeat(depth)}${depth ? '└ ' : ''}${v.id}`,
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

const indent = (text: string, n = 2) => text.replace(/^/gm, ' '.repeat(n));

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function childRows(children: Record<string, ChildView>, detail: TaskDetail, prefix: string[], depth: number, rows: string[][]): void {
  const c = colors();
  for (const child of Object.values(children)) {
    const path = [...prefix, child.id];
    const agent = detail.agents.find((a) => a.path.join('/') === path.join('/'));
    let what: string;
    if (agent) {
      const started = parseJobId(detail.view.id, agent.jobId, agent.path).seq;
      const extra = agent.jobId ? (started !== undefined ? `started at commit ${started}` : `job ${agent.jobId}`) : 'not started (input refused)';
      what = `${c.magenta('agent')} ${agent.agent} ${c.dim(`(${extra})`)}`;
      if (agent.status === 'error' && agent.error !== undefined) what += ` ${c.red(compactJson(agent.error, 60))}`;
    } else if (child.task) {
      what = `${c.blue('→ task')} ${child.task}${child.machine ? ` ${c.dim(`(${child.machine})`)}` : ''}`;
    } else if (child.value !== undefined) what = stateLabel(child.value);
    else what = c.dim(child.output !== undefined ? `output ${compactJson(child.output, 50)}` : '-');
    rows.push([`${'  '.repeat(depth)}${depth ? '└ ' : ''}${child.id}`, child.src ?? '-', statusText(child.status), what]);
    if (child.children && depth < 6) childRows(child.children, detail, path, depth + 1, rows);
  }
}

/** A context in one line: its keys (the values are for `--context` and `--json`). */
function contextSummary(context: unknown): string {
  if (context === undefined || context === null) return colors().dim('-');
  if (typeof context !== 'object' || Array.isArray(context)) return compactJson(context, 80);
  const keys = Object.keys(context);
  if (!keys.length) return '{}';
  return `${plural(keys.length, 'key')}: ${truncate(keys.join(', '), 70)}`;
}

/** A reconciliation or decision record in one line (without where it was found). */
function decisionText(d: DecisionInfo, now: number): string {
  const c = colors();
  const v = d.value as Record<string, unknown>;
  if (d.kind === 'decision') {
    return `${c.magenta('decision')} ${String(v.decision)} → ${c.bold(String(v.choice))} by ${String(v.by)}${typeof v.at === 'number' ? c.dim(` (${relativeTime(v.at, now)})`) : ''}`;
  }
  const parts: string[] = [];
  if (v.originals && typeof v.originals === 'object') parts.push(`originals from ${Object.keys(v.originals).join(', ') || '-'}`);
  const conflict = v.conflict as { fields?: unknown } | null | undefined;
  if (conflict && typeof conflict === 'object') {
    parts.push(`conflict${Array.isArray(conflict.fields) && conflict.fields.length ? ` on ${conflict.fields.join(', ')}` : ''}`);
  } else if ('conflict' in v) parts.push('no conflict');
  const failed = v.failed && typeof v.failed === 'object' ? Object.keys(v.failed) : [];
  if (failed.length) parts.push(c.red(`failed: ${failed.join(', ')}`));
  if (typeof v.decidedBy === 'string') parts.push(`decided by ${v.decidedBy}${'reconciled' in v ? ` → ${compactJson(v.reconciled, 60)}` : ''}`);
  else parts.push(c.yellow('undecided'));
  return `${c.magenta('reconciliation')} ${parts.join('; ')}`;
}

/** Options of {@link renderDetail}. */
export interface DetailOptions {
  /** The last commits, oldest first (`baton show` reads the last 5). */
  recent?: HistoryEntry[];
  /** Names agents in the last commits. */
  namer?: AgentNamer;
  /** Print the context (and output) in full. */
  context?: boolean;
  now?: number;
}

/**
 * `baton show`: a short summary — status (and why, when it is not running as
 * it should), the state as a dotted path, the parent of a child task,
 * children and agents one line each (a child task by its id and machine),
 * pending timers, the open decision, recent refusals and the last commits.
 * The context is summarised by its keys unless `context` is set.
 */
export function renderDetail(detail: TaskDetail, opts: DetailOptions = {}): string {
  const c = colors();
  const now = opts.now ?? Date.now();
  const v = detail.view;
  const out: string[] = [];
  out.push(`${c.bold(v.id)}  ${v.machine}${c.dim(`@${v.version}`)}  ${statusText(v.status)}${v.unserved ? `  ${c.red('unserved')}` : ''}`);
  const fields: Array<[string, string]> = [['state', c.bold(stateLabel(v.value))]];
  if (v.parent) fields.push(['parent', v.parent]);
  if (v.reason) fields.push(['reason', c.red(v.reason)]);
  if (v.error !== undefined) fields.push(['error', c.red(compactJson(v.error, 200))]);
  if (v.output !== undefined && !opts.context) fields.push(['output', compactJson(v.output, 100)]);
  fields.push(['seq', `${v.seq} ${c.dim(`(updated ${relativeTime(v.updatedAt, now)}, created ${relativeTime(v.createdAt, now)})`)}`]);
  if (!opts.context) fields.push(['context', `${contextSummary(v.context)}${v.context && typeof v.context === 'object' ? c.dim(`  (--context prints it)`) : ''}`]);
  out.push(fieldLines(fields));

  if (v.awaiting) {
    const a = v.awaiting;
    out.push(section('Awaiting decision'));
    out.push(`  ${c.magenta(a.decision)}: ${a.question ?? ''}`);
    const when = [a.since ? `asked ${relativeTime(a.since, now)}` : '', a.deadline ? `deadline ${relativeTime(a.deadline, now)}` : ''].filter(Boolean).join(', ');
    out.push(`  options: ${a.options.map((o) => c.bold(o)).join(' | ')}${when ? c.dim(`  (${when})`) : ''}`);
    out.push(c.dim(`  answer: baton send ${v.id} '${JSON.stringify({ type: 'decision', decision: a.decision, choice: a.options[0] ?? '' })}'`));
  }

  const rows: string[][] = [];
  childRows(v.children, detail, [], 0, rows);
  if (rows.length || v.status === 'active') {
    out.push(section(`Children and agents${detail.agents.length ? ` (${plural(detail.agents.length, 'agent job')})` : ''}`));
    out.push(rows.length ? indent(table(['ID', 'SRC', 'STATUS', 'STATE / AGENT'], rows)) : c.dim('  (none)'));
  }

  if (v.timers.length || v.status === 'active') {
    out.push(section('Pending timers'));
    out.push(
      v.timers.length
        ? indent(
            table(
              ['EVENT', 'DUE', 'SET BY'],
              [...v.timers]
                .sort((a, b) => a.dueAt - b.dueAt)
                .map((t) => [t.event.type, relativeTime(t.dueAt, now), t.source.length ? `child ${childPathLabel(t.source)}` : c.dim('(root)')]),
            ),
          )
        : c.dim('  (none)'),
    );
  }

  const rejections = v.rejections ?? [];
  if (rejections.length) {
    const shown = rejections.slice(-3);
    out.push(section(`Rejected events (${shown.length < rejections.length ? `last ${shown.length} of ${rejections.length}` : rejections.length})`));
    out.push(
      indent(
        table(
          ['SEQ', 'EVENT', 'WHEN', 'REASON'],
          shown.map((r) => [String(r.seq), r.type ?? c.dim('(no type)'), relativeTime(r.at, now), c.red(r.reason)]),
          { align: ['right'] },
        ),
      ),
    );
  }

  if (detail.decisions.length) {
    out.push(section('Decisions and reconciliations'));
    out.push(indent(table(['WHERE', 'WHAT'], detail.decisions.map((d) => [d.where, decisionText(d, now)]))));
  }

  if (opts.recent?.length) {
    out.push(section(`Last commits (${opts.recent.length} of ${v.seq})`));
    out.push(indent(historyTable(v.id, opts.recent, { namer: opts.namer, now, absolute: false })));
    if (opts.recent.length < v.seq) out.push(c.dim(`  (baton history ${v.id} for more)`));
  }

  if (opts.context) {
    out.push(section('Context'));
    out.push(indentedJson(v.context));
    if (v.output !== undefined) {
      out.push(section('Output'));
      out.push(indentedJson(v.output));
    }
  }
  return out.join('\n');
}

function eventCell(e: EventText): string {
  const c = colors();
  switch (e.kind) {
    case 'rejected':
    case 'agent-error':
      return c.red(e.label);
    case 'agent':
      return c.magenta(e.label);
    case 'internal':
      return c.dim(e.label);
    default:
      return c.cyan(e.label);
  }
}

function historyTable(taskId: string, entries: HistoryEntry[], opts: { namer?: AgentNamer; now: number; absolute: boolean }): string {
  const c = colors();
  const headers = ['SEQ', ...(opts.absolute ? ['AT (UTC)'] : []), opts.absolute ? 'AGO' : 'WHEN', 'EVENT', 'FROM', '', 'TO', 'DETAIL'];
  const rows = entries.map((h) => {
    const e = describeEvent(taskId, h.event, opts.namer);
    return [
      String(h.seq),
      ...(opts.absolute ? [utcTime(h.at)] : []),
      relativeTime(h.at, opts.now),
      eventCell(e),
      stateLabel(h.from),
      c.dim('→'),
      stateLabel(h.to),
      e.kind === 'rejected' ? c.red(e.detail) : e.kind === 'event' ? c.dim(e.detail) : e.detail,
    ];
  });
  return table(headers, rows, { align: ['right'] });
}

/** Options of {@link renderHistory}. */
export interface HistoryOptions {
  /** The task (agent job ids are read relative to it). */
  taskId: string;
  /** Names agents of agent events. */
  namer?: AgentNamer;
  now?: number;
}

/**
 * `baton history`: one row per commit — seq, time (UTC and how long ago), the
 * event (a refused event as `rejected <type>` with its reason; an agent
 * outcome with its job as a person reads it), and the state moved from and to
 * as dotted paths.
 */
export function renderHistory(entries: HistoryEntry[], opts: HistoryOptions): string {
  if (entries.length === 0) return colors().dim('(no history)');
  return historyTable(opts.taskId, entries, { namer: opts.namer, now: opts.now ?? Date.now(), absolute: true });
}
