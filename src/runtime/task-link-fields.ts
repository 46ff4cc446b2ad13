import type { ChildTaskSpawn, TaskSend } from '../actors/agent-bridge.js';
import type { StateFields } from '../persistence/task-store.js';
import type { TaskStatus } from '../persistence/view.js';
import { OUTBOX_FIELD } from '../persistence/task-store.js';
import type { ChildOutcome } from './host-context.js';

/** Where a child task hangs in its parent: the parent's id, the invoking actor's path there, and the chain's depth. */
export interface TaskLink {
  parent: string;
  path: string[];
  depth: number;
}

/** The link a child task's state hash holds (`parent`, `link`), or undefined for a task a client spawned. */
export function readLink(fields: StateFields): TaskLink | undefined {
  if (!fields.parent) return undefined;
  try {
    const l = JSON.parse(fields.link ?? '{}') as { path?: unknown; depth?: unknown };
    return { parent: fields.parent, path: Array.isArray(l.path) ? l.path.map(String) : [], depth: Number(l.depth ?? 1) };
  } catch {
    return { parent: fields.parent, path: [], depth: 1 };
  }
}

/** The `link` field a child task is spawned with. */
export function encodeLink(path: string[], depth: number): string {
  return JSON.stringify({ path, depth });
}

/** The sends and spawns the last commit decided (the `o` field), to do again after a restore; empty when none. */
export function storedOutbox(fields: StateFields): { sends: TaskSend[]; spawns: ChildTaskSpawn[] } {
  const raw = fields[OUTBOX_FIELD];
  if (!raw) return { sends: [], spawns: [] };
  try {
    const o = JSON.parse(raw) as { sends?: TaskSend[]; spawns?: ChildTaskSpawn[] };
    return { sends: Array.isArray(o.sends) ? o.sends : [], spawns: Array.isArray(o.spawns) ? o.spawns : [] };
  } catch {
    return { sends: [], spawns: [] };
  }
}

/** How a task that ended with `status` is reported to its parent. */
export function outcomeOf(status: TaskStatus, snap: { output?: unknown; error?: unknown }): ChildOutcome {
  if (status === 'done') return { status: 'done', output: snap.output ?? null };
  if (status === 'stopped') return { status: 'stopped', error: { name: 'TaskStopped', message: 'the child task was stopped' } };
  const e = snap.error as { name?: unknown; message?: unknown } | undefined;
  const error = e && typeof e === 'object' ? { name: String(e.name ?? 'Error'), message: String(e.message ?? '') } : { name: 'Error', message: String(e ?? 'the child task failed') };
  return { status: 'error', error };
}
