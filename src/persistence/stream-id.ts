/** Compare two Redis stream ids (`ms-seq`): negative, zero or positive. */
export function compareStreamIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = Number(am) - Number(bm);
  return d !== 0 ? d : Number(as) - Number(bs);
}

/** The smallest stream id after `after`, using `nowMs` when it is later (as Redis's own `*` ids do). */
export function nextStreamId(after: string, nowMs: number): string {
  const [ms = '0', seq = '0'] = after.split('-');
  const last = Number(ms);
  return nowMs > last ? `${nowMs}-0` : `${last}-${Number(seq) + 1}`;
}
