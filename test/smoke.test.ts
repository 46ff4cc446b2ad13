import { describe, expect, it } from 'vitest';
import type { Runtime } from '../src/index.js';
import { counter, parent, promiseStep, timer } from './fixtures/machines.js';
import { uniquePrefix } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

describe('smoke', () => {
  const { runtime } = useBaton({ close: 'all' });
  let rt: Runtime;
  it('spawns, sends, finishes', async () => {
    rt = await runtime(uniquePrefix('smoke'), { machines: { counter, parent, promiseStep, timer }, leaseMs: 1000 });
    const t = await rt.spawn('counter', { id: 'c1', input: { start: 5 } });
    for (let i = 0; i < 10; i++) await t.send({ type: 'inc', n: String(i) });
    await t.send({ type: 'finish' });
    const v = await t.waitFor((v) => v.status === 'done', { timeout: 5000 });
    expect(v.output).toEqual({ count: 15 });
    const h = await t.history();
    expect(h.map((e) => e.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    const p = await rt.spawn('promiseStep');
    const pv = await p.waitFor((v) => v.status === 'done');
    expect(pv.context).toEqual({ result: 42 });
    const tm = await rt.spawn('timer');
    await tm.waitFor((v) => v.status === 'done', { timeout: 5000 });
    const par = await rt.spawn('parent', { id: 'par' });
    await par.send({ type: 'kid.go' });
    const pv2 = await par.waitFor((v) => v.children.kid?.value === 'rested', { timeout: 5000 });
    expect(pv2.seq).toBe(3);
    expect(pv2.value).toBe('running');
  });
  it('waitFor rejects at once with the error its predicate throws', async () => {
    const t = await rt.spawn('counter', { id: 'c-throw' });
    const started = Date.now();
    await expect(
      t.waitFor(() => {
        throw new RangeError('predicate failed');
      }, { timeout: 20_000 }),
    ).rejects.toThrow(RangeError);
    expect(Date.now() - started).toBeLessThan(10_000); // not the timeout
  });
});
