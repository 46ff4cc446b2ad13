import { BatonError, ErrorCode } from '../errors.js';
import { assemble, groupValues, isPartField, parsePart, PARTS_FORMAT, storedSnapshot } from './parts.js';
import type { HistoryRecord } from './task-store.js';

/**
 * The persisted snapshot of a task as it was at commit `seq`: the current
 * parts with the history's undo records applied, newest first, down to the
 * commit after `seq` (each entry holds what its commit replaced). Throws
 * `NOT_RETAINED` when an entry needed is no longer kept (the history is
 * capped) or predates format 2.
 */
export function rebuildAt(taskId: string, fields: Record<string, string>, history: HistoryRecord[], seq: number): Record<string, unknown> | undefined {
  const current = Number(fields.seq ?? 0);
  if (!Number.isInteger(seq) || seq < 0 || seq > current) {
    throw new BatonError(ErrorCode.InvalidOptions, `task '${taskId}' has commits 0 to ${current}: there is no commit ${JSON.stringify(seq)}`, { details: { taskId, seq } });
  }
  const vals: Record<string, unknown> = {};
  if (fields.format === PARTS_FORMAT) {
    for (const f in fields) if (isPartField(f)) vals[f] = parsePart(f, fields[f]!);
  } else if (seq !== current) {
    throw notRetained(taskId, seq, current);
  } else {
    return storedSnapshot(fields);
  }
  const bySeq = new Map(history.map((h) => [Number(h.seq), h]));
  for (let s = current; s > seq; s--) {
    const h = bySeq.get(s);
    if (!h?.u) throw notRetained(taskId, seq, current);
    for (const f in h.u) vals[f] = h.u[f];
    for (const f of h.n ?? []) delete vals[f];
  }
  return assemble(groupValues(vals, (_f, v) => v));
}

function notRetained(taskId: string, seq: number, current: number): BatonError {
  return new BatonError(ErrorCode.NotRetained, `task '${taskId}': commit ${seq} is older than its history keeps (current commit ${current})`, { details: { taskId, seq } });
}
