import type { BatonClient, ChildView, HistoryEntry, MachineGraph, TaskView } from '../index.js';

/**
 * Agent jobs as a person reads them. A job id is built by `fromAgent` as
 * `<taskId>.<seq>.<childPath joined by '.'>` (characters outside
 * `[A-Za-z0-9_.-]` replaced by `_`): the task, the commit that started the
 * invocation, and the child that runs it. Ids of generated invokes contain
 * dots themselves (`0.research.running`), so the child path is taken from the
 * event's `childPath` when it carries one.
 */
export interface JobRef {
  /** The commit that started the invocation, when the id says. */
  seq?: number;
  /** Child ids from the root to the agent child (empty when unknown). */
  path: string[];
}

/** What an id and (optionally) an event's `childPath` say about an agent job. */
export function parseJobId(taskId: string, jobId: string, childPath?: unknown): JobRef {
  const path = Array.isArray(childPath) && childPath.every((p) => typeof p === 'string') ? (childPath as string[]) : undefined;
  const head = `${taskId}.`;
  const m = jobId.startsWith(head) ? /^(\d+)\.(.+)$/.exec(jobId.slice(head.length)) : null;
  if (!m) return { path: path ?? [] };
  return { seq: Number(m[1]), path: path ?? [m[2]!] };
}

/** A child path as `a/b`; `(root)` for the root. */
export function childPathLabel(path: string[]): string {
  return path.length ? path.join('/') : '(root)';
}

/** The agent behind a child path: its registered name (exact), or the `src` the statechart invokes there. */
export type AgentName = { name: string; exact: boolean };
export type AgentNamer = (path: string[], jobId: string) => AgentName | undefined;

function childAt(children: Record<string, ChildView> | undefined, path: string[]): ChildView | undefined {
  let cur: ChildView | undefined;
  let level = children;
  for (const id of path) {
    cur = level?.[id];
    if (!cur) return undefined;
    level = cur.children;
  }
  return cur;
}

function findChildByJob(children: Record<string, ChildView> | undefined, jobId: string, depth = 0): ChildView | undefined {
  if (!children || depth > 8) return undefined;
  for (const child of Object.values(children)) {
    if (child.jobId === jobId) return child;
    const found = findChildByJob(child.children, jobId, depth + 1);
    if (found) return found;
  }
  return undefined;
}

function invokedSrc(graph: MachineGraph, id: string): string | undefined {
  const stack = [graph.root];
  while (stack.length) {
    const node = stack.pop()!;
    const inv = node.invoke.find((i) => i.id === id);
    if (inv) return inv.src;
    stack.push(...node.children);
  }
  return undefined;
}

/** The src a machine's statechart invokes at a child path (nested machine actors followed). */
export function srcAtPath(graph: MachineGraph | undefined, path: string[]): string | undefined {
  let g = graph;
  let src: string | undefined;
  for (const [i, id] of path.entries()) {
    if (!g) return undefined;
    src = invokedSrc(g, id);
    if (src === undefined) return undefined;
    if (i < path.length - 1) g = g.actors[src] ?? graph?.actors[src];
  }
  return src;
}

/**
 * Names agents from what is known: a child still in the task's snapshot
 * carries the agent's name; a child that is gone is named by the `src` the
 * machine's statechart (from the registry) invokes at its path.
 */
export function agentNamer(view: Pick<TaskView, 'children'> | undefined, graph: MachineGraph | undefined): AgentNamer {
  return (path, jobId) => {
    const child = (jobId ? findChildByJob(view?.children, jobId) : undefined) ?? childAt(view?.children, path);
    if (child?.agent && (!child.jobId || !jobId || child.jobId === jobId)) return { name: child.agent, exact: true };
    if (child?.src) return { name: child.src, exact: false };
    const src = srcAtPath(graph, path);
    return src === undefined || src === 'inline' ? undefined : { name: src, exact: false };
  };
}

/**
 * `agent research (child step_3, started at commit 12)`; `agent via src research (…)`
 * when only the invoked src is known; `agent job <id>` when the id says nothing.
 */
export function describeJob(taskId: string, jobId: string, childPath: unknown, namer?: AgentNamer, opts: { child?: boolean } = {}): string {
  const ref = parseJobId(taskId, jobId, childPath);
  const named = namer?.(ref.path, jobId);
  const who = named ? (named.exact ? `agent ${named.name}` : `agent via src ${named.name}`) : 'agent job';
  const parts = [
    ...(opts.child !== false && ref.path.length ? [`child ${childPathLabel(ref.path)}`] : []),
    ...(ref.seq !== undefined ? [`started at commit ${ref.seq}`] : []),
  ];
  if (!parts.length) return jobId ? `${who} ${jobId}` : who;
  return `${who} (${parts.join(', ')})`;
}

const AGENT_EVENTS = new Set(['baton.agent.result', 'baton.agent.error', 'baton.agent.dropped', 'baton.agent.progress']);

/** True for the events that carry an agent job id. */
export function isAgentEvent(event: { type: string; jobId?: unknown }): boolean {
  return AGENT_EVENTS.has(event.type) && typeof event.jobId === 'string';
}

/** The statechart the registry holds for a task's machine version, if any (a failure to read it is no error). */
export async function registryGraph(client: BatonClient, view: Pick<TaskView, 'machine' | 'version'>): Promise<MachineGraph | undefined> {
  try {
    const infos = await client.machines();
    return infos.find((m) => m.name === view.machine && m.version === view.version)?.graph ?? infos.find((m) => m.name === view.machine)?.graph;
  } catch {
    return undefined;
  }
}

/** A namer for `entries`; it reads the registry only when an agent event needs a name the view cannot give. */
export async function namerFor(client: BatonClient, view: TaskView, entries: HistoryEntry[]): Promise<AgentNamer> {
  const local = agentNamer(view, undefined);
  const unnamed = entries.some((e) => {
    if (!isAgentEvent(e.event)) return false;
    const jobId = e.event.jobId as string;
    return !local(parseJobId(view.id, jobId, e.event.childPath).path, jobId);
  });
  if (!unnamed) return local;
  return agentNamer(view, await registryGraph(client, view));
}
