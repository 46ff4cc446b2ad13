/** Compare two Redis stream ids (`ms-seq`): negative, zero or positive. */
export function compareStreamIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = Number(am) - Number(bm);
  return d !== 0 ? d : Number(as) - Number(bs);
}
