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
  return `${safe(parent).slice(0, 80)}.${digest(id)}`;
}

/** 96 bits of three FNV-1a hashes (different offsets), base 36: a stable digest without node:crypto (actors import only xstate and zod). */
function digest(s: string): string {
  let out = '';
  for (const seed of [0x811c9dc5, 0x01000193, 0x5bd1e995]) {
    let h = seed >>> 0;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    out += h.toString(36).padStart(7, '0');
  }
  return out;
}
