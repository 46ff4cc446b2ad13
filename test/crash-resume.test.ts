// Invariant 1: no committed step re-runs. A task killed halfway resumes from
// its last commit in another process; only the step in flight runs again.
import { describe, expect, it } from 'vitest';
import { uniquePrefix, waitUntil } from './helpers/index.js';
import { killAllRuntimeProcs, startRuntimeProc } from './helpers/runtime-proc.js';
import { useBaton } from './helpers/setup.js';

const LEASE_MS = 500;
const baton = useBaton({ close: 'all', kill: killAllRuntimeProcs });
const { redis } = baton;

const history_to = (h: Array<{ to: unknown }>) => h.map((e) => String(e.to));

describe('crash halfway through a seven-step task', () => {
  it('resumes in another process: committed steps never re-run, the step in flight runs once more', async () => {
    const prefix = uniquePrefix('crash-resume');
    const runsKey = `${prefix}:runs`;
    const id = 'seven';
    const client = baton.client(prefix);

    const first = await startRuntimeProc({
      prefix,
      leaseMs: LEASE_MS,
      spawn: { machine: 'sevenSteps', id },
      env: { RUNS_KEY: runsKey, BLOCK_STEP: '4' },
    });

    // Step 4 has started, and the commit that entered it (with results 1-3) is durable.
    await waitUntil(async () => (await redis!.lrange(runsKey, 0, -1)).includes(`4:${first.pid}`), {
      timeout: 15_000,
      message: 'step 4 to start in the first process',
    });
    const atCrash = await client.waitFor(id, (v) => v.value === 's4', { timeout: 10_000 });
    expect(atCrash.context).toEqual({ results: ['r1', 'r2', 'r3'] });
    await first.kill('SIGKILL');

    // A second process (no blocking step) takes the task over once the dead holder's lease expires.
    const second = await startRuntimeProc({ prefix, leaseMs: LEASE_MS, env: { RUNS_KEY: runsKey } });
    const done = await client.waitFor(id, (v) => v.status !== 'active', { timeout: 15_000 });
    expect(done.status).toBe('done');
    expect(done.context).toEqual({ results: ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'] });
    expect(done.output).toEqual({ results: ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'] });
    expect(second.held()).toContain(id);

    const runs = await redis.lrange(runsKey, 0, -1);
    const runsOf = (step: number) => runs.filter((r) => r.startsWith(`${step}:`));
    for (const step of [1, 2, 3]) expect(runsOf(step), `step ${step}`).toEqual([`${step}:${first.pid}`]);
    // Step 4 was in flight at the crash: fromPromise is at-least-once, and the restore re-drove it
    // exactly once more (it could not have completed in the first process: it blocks there).
    expect(runsOf(4)).toEqual([`4:${first.pid}`, `4:${second.pid}`]);
    for (const step of [5, 6, 7]) expect(runsOf(step), `step ${step}`).toEqual([`${step}:${second.pid}`]);
    expect(runs).toHaveLength(8);

    // One commit per step: promise children start only after the commit that invoked them, so even
    // steps that finish at once are committed on their own.
    expect(history_to(await client.history(id))).toEqual(['s1', 's2', 's3', 's4', 's5', 's6', 's7', 'done']);

    // Commits are contiguous and only ever move forward through the steps: the takeover neither
    // rewrote nor rolled back a committed step.
    const history = await client.history(id);
    expect(history.map((h) => h.seq)).toEqual(Array.from({ length: history.length }, (_, i) => i + 1));
    const order = ['s1', 's2', 's3', 's4', 's5', 's6', 's7', 'done'];
    const reached = history.map((h) => order.indexOf(String(h.to)));
    expect(reached.every((r) => r >= 0)).toBe(true);
    expect(reached).toEqual([...reached].sort((a, b) => a - b));
    expect(history.at(-1)?.to).toBe('done');
  });
});
