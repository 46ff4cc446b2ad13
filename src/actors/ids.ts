import { createHash } from 'node:crypto';

/** BullMQ job ids may not contain ':'; keep them readable. */
export function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** A zod error's issues, one readable line. */
export function issues(err: { issues: Array<{ path: PropertyKey[]; message: string }> }): string {
  return err.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Longest generated id: under the 128 of assertTaskId, leaving room for a retry's `.r<n>`. */
const MAX_ID = 120;

/**
 * A child task's id: `<parent>.<seq>.<child path>`, deterministic across a
 * restore. A chain deep enough to pass the id limit keeps the parent's first
 * characters and a digest of the whole, so ids never grow without bound.
 */
export function childTaskId(parent: string, seq: number, path: string[]): string {
  const id = safe(`${parent}.${seq}.${path.join('.')}`);
  if (id.length <= MAX_ID) return id;
  const digest = createHash('sha256').update(id).digest('base64url').replace(/[^A-Za-z0-9]/g, '').slice(0, 24);
  return `${safe(parent).slice(0, 80)}.${digest}`;
}
