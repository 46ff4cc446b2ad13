// encodeJson takes V8's fast path unless a value needs Baton's replacer: the
// output must be the same either way.
import { describe, expect, it } from 'vitest';
import { encodeJson } from '../src/persistence/codec.js';

function reference(v: unknown): string {
  return (
    JSON.stringify(v, (_k, x) => {
      if (x instanceof Error) return { name: x.name, message: x.message };
      if (typeof x === 'bigint') return x.toString();
      return x;
    }) ?? 'null'
  );
}

describe('encodeJson', () => {
  const cases: Array<[string, unknown]> = [
    ['plain', { a: 1, b: 'x', c: [1, 'two', null, { d: true }], e: { f: { g: [] } } }],
    ['undefined fields and array holes', { a: undefined, b: [undefined, 1], c: () => 1 }],
    ['an Error deep in context', { context: { steps: [{ ok: true }, { error: new TypeError('bad step') }] } }],
    ['an Error at the root', new RangeError('out of range')],
    ['a bigint', { n: 12345678901234567890n }],
    ['a Date (toJSON)', { at: new Date(0) }],
    ['toJSON returning an Error', { x: { toJSON: () => new Error('inside toJSON') } }],
    ['an Error with extra fields', { e: Object.assign(new Error('m'), { code: 'E1' }) }],
    ['top-level undefined', undefined],
    ['a string', 'plain "text"'],
  ];
  for (const [name, v] of cases) {
    it(name, () => {
      expect(encodeJson(v)).toBe(reference(v));
    });
  }
  it('a cycle still throws', () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    expect(() => encodeJson(a)).toThrow(TypeError);
  });
});
