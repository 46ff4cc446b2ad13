// An activation reaches only processes that run the task's machine: with
// workers of disjoint machines on one prefix, none takes another's task (which
// it could only let go, leaving the task to a sweep a lease later).
import { describe, expect, it } from 'vitest';
import { counter } from './fixtures/machines.js';
import { uniquePrefix, waitUntil } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

const baton = useBaton({ close: 'all' });

describe('activation routing', () => {
  it('three workers with disjoint machines, 300 spawns: every first commit comes within a bound, by a worker that runs it', async () => {
    const prefix = uniquePrefix('routing');
    const names = ['alpha', 'beta', 'gamma'] as const;
    const misrouted: string[] = [];
    for (const name of names) {
      await baton.runtime(prefix, {
        machines: { [name]: counter },
        idleMs: 0,
        // The default lease: a misrouted activation would leave its task to a sweep ~7.5 s later.
        log: (msg, extra) => {
          if (msg.startsWith('activation for a machine')) misrouted.push(`${name} got ${String(extra?.taskId)}`);
        },
      });
    }
    const client = baton.client(prefix);
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) {
      const machine = names[i % 3]!;
      ids.push((await client.spawn(machine, { id: `${machine}-${i}` })).id);
    }
    const views = await waitUntil(async () => {
      const vs = await Promise.all(ids.map((id) => client.get(id)));
      return vs.every((v) => v && v.seq >= 1) ? vs : undefined;
    }, { timeout: 30_000, interval: 50 });
    const lags = views.map((v) => v!.updatedAt - v!.createdAt).sort((a, b) => a - b);
    expect(misrouted).toEqual([]);
    // A correctness bound, not a speed figure: a misrouted task waits a lease and its grace (≥ 7.5 s).
    expect(lags.at(-1)!, `first-commit lag p50 ${lags[150]} ms, max ${lags.at(-1)} ms`).toBeLessThan(3000);
    for (const v of views) expect(v!.machine).toBe(v!.id.split('-')[0]);
  });
});
