/** Compare two Redis stream ids (`ms-seq`): negative, zero or positive. */
export function compareStreamIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = Number(am) - Number(bm);
  return d !== 0 ? d : Number(as) - Number(bs);
}

/** The smallest stream id after `after`, using `nowMs` when it is later (as Redis's own `*` ids do). */
export function nextStreamId(after: string, nowMs: number): string {
  const dash = after.indexOf('-');
  const last = Number(dash < 0 ? after : after.slice(0, dash));
  if (nowMs > last) return `${nowMs}-0`;
  return `${last}-${dash < 0 ? 1 : Number(after.slice(dash + 1)) + 1}`;
}
