import { TaskNotFoundError, type BatonClient, type TaskView } from '../index.js';

/** An agent invocation found in a task's snapshot (a `fromAgent` child). */
export interface AgentJob {
  /** Child ids from the root to the agent child. */
  path: string[];
  /** Registered agent name. */
  agent: string;
  /** Deterministic BullMQ job id ('' when its input was rejected). */
  jobId: string;
  /** XState status of the child: active, done, error or stopped. */
  status: string;
  /** Input sent to the agent. */
  input?: unknown;
  /** Output, once done. */
  output?: unknown;
  /** Error, once failed. */
  error?: unknown;
}

/** A reconciliation or recorded decision found in a context (the patterns' `originals`/`conflict`/`reconciled`/`decidedBy`, `DecisionRecord`s). */
export interface DecisionInfo {
  /** Where it was found: child ids then context keys, e.g. `review › context` or `context.review`. */
  where: string;
  kind: 'reconciliation' | 'decision';
  /** The object as committed. */
  value: Record<string, unknown>;
}

/** A task's committed view with what operators look for: agent jobs and decisions. */
export interface TaskDetail {
  view: TaskView;
  agents: AgentJob[];
  decisions: DecisionInfo[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

/** The agent children (snapshots carrying `agent` and `jobId`) anywhere in a raw persisted snapshot. */
export function agentJobs(snapshot: unknown, path: string[] = [], depth = 0): AgentJob[] {
  if (!isObj(snapshot) || depth > 8 || !isObj(snapshot.children)) return [];
  const out: AgentJob[] = [];
  for (const [id, entry] of Object.entries(snapshot.children)) {
    const snap = isObj(entry) ? entry.snapshot : undefined;
    if (!isObj(snap)) continue;
    if (typeof snap.agent === 'string' && typeof snap.jobId === 'string') {
      const job: AgentJob = { path: [...path, id], agent: snap.agent, jobId: snap.jobId, status: String(snap.status ?? 'unknown') };
      if (snap.input !== undefined) job.input = snap.input;
      if (snap.output !== undefined) job.output = snap.output;
      if (snap.error !== undefined) job.error = snap.error;
      out.push(job);
    }
    out.push(...agentJobs(snap, [...path, id], depth + 1));
  }
  return out;
}

const RECONCILE_KEYS = ['originals', 'conflict', 'reconciled', 'decidedBy'];

function isDecisionRecord(v: Obj): boolean {
  return typeof v.decision === 'string' && typeof v.choice === 'string' && 'by' in v;
}

function walk(value: unknown, where: string, out: DecisionInfo[], depth: number): void {
  if (depth > 5) return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => walk(v, `${where}[${i}]`, out, depth + 1));
    return;
  }
  if (!isObj(value)) return;
  if (RECONCILE_KEYS.filter((k) => k in value).length >= 2) {
    const picked = Object.fromEntries(Object.entries(value).filter(([k]) => [...RECONCILE_KEYS, 'failed', 'decidedAt'].includes(k)));
    out.push({ where, kind: 'reconciliation', value: picked });
    return;
  }
  if (isDecisionRecord(value)) {
    out.push({ where, kind: 'decision', value });
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    if (k === 'awaiting') continue; // shown on its own
    walk(v, where ? `${where}.${k}` : k, out, depth + 1);
  }
}

/** Reconciliations and recorded decisions in the root's and every child's context (and outputs). */
export function findDecisions(view: Pick<TaskView, 'context' | 'children' | 'output'>): DecisionInfo[] {
  const out: DecisionInfo[] = [];
  walk(view.context, 'context', out, 0);
  const visit = (children: TaskView['children'], prefix: string, depth: number) => {
    for (const child of Object.values(children ?? {})) {
      const at = prefix ? `${prefix} › ${child.id}` : child.id;
      walk(child.context, `${at} › context`, out, 0);
      if (depth < 6 && child.children) visit(child.children, at, depth + 1);
    }
  };
  visit(view.children, '', 0);
  if (view.output !== undefined) walk(view.output, 'output', out, 0);
  const seen = new Set<string>();
  return out.filter((d) => {
    const key = JSON.stringify(d.value);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Read a task and describe it: the view, its agent jobs (from the raw
 * snapshot; the view does not carry `jobId`) and its decisions. Throws
 * `TASK_NOT_FOUND` when the task does not exist.
 */
export async function readDetail(client: BatonClient, id: string): Promise<TaskDetail> {
  const [view, snapshot] = await Promise.all([client.get(id), client.persisted(id)]);
  if (!view) throw new TaskNotFoundError(id);
  return { view, agents: agentJobs(snapshot), decisions: findDecisions(view) };
}
