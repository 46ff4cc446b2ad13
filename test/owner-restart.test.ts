// A stable owner id (RuntimeOptions.owner): a runtime restarted under the id of
// a process that died takes that process's tasks back at once, long before
// their leases lapse, fencing the dead process; index entries of tasks that
// finished or are held by another live process are dropped, never taken.
import { describe, expect, it } from 'vitest';
import { AGENT_RESULT } from '../src/actors/fromAgent.js';
import { createRuntime, ErrorCode } from '../src/index.js';
import { Keys } from '../src/persistence/keys.js';
import { suiteAgents, suiteKeys, suiteMachines, type CallerContext } from './fixtures/agent-suite.js';
import { counter } from './fixtures/machines.js';
import { killAgentProcs, startAgentProc } from './helpers/agent-procs.js';
import { redisUrl, uniquePrefix, waitUntil } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

/** Far longer than any wait below: a task only moves before it lapses if it is taken back. */
const LEASE_MS = 60_000;
const { redis, runtime, client } = useBaton({ kill: killAgentProcs, runtime: { leaseMs: LEASE_MS, machines: { ...suiteMachines, counter } } });

describe('stable owner id', () => {
  it('a runtime restarted under the id of a SIGKILLed process takes its task back at once and finishes it', async () => {
    const prefix = uniquePrefix('owner-restart');
    const id = 'o-1';
    const keys = new Keys(prefix);
    const c = client(prefix);
    const a = await startAgentProc({ prefix, owner: 'node-a', leaseMs: LEASE_MS, agents: ['gated'], spawn: { machine: 'gatedTask', id, input: { text: 'o' } } });
    await waitUntil(async () => (await redis.llen(suiteKeys(prefix).runs('gated'))) === 1, { timeout: 10_000, message: 'the agent to start in A' });
    expect(await redis.smembers(keys.owned('node-a'))).toEqual([id]);
    const epochBefore = Number(await redis.get(keys.task(id).epoch));
    await a.kill('SIGKILL');
    await redis.set(suiteKeys(prefix).gate, '1');
    expect(await redis.get(keys.task(id).lease)).toBe('node-a'); // the dead process's lease is still valid

    const b = await runtime(prefix, { owner: 'node-a', agents: { gated: suiteAgents(redis, prefix).gated! } });
    // Taken back at once (the lease has ~a minute left): the step cut short runs again, here.
    const done = await c.waitFor(id, (v) => v.status !== 'active', { timeout: 15_000 });
    expect(done.value).toBe('done');
    expect((done.context as CallerContext).result).toEqual({ text: 'o!' });
    expect(Number(await redis.get(keys.task(id).epoch))).toBeGreaterThan(epochBefore); // the old process is fenced
    const pids = (await redis.lrange(suiteKeys(prefix).runs('gated'), 0, -1)).map((r) => Number(r.split('|')[1]));
    expect(pids).toEqual([a.pid, process.pid]);
    expect((await c.history(id)).filter((h) => h.event.type === AGENT_RESULT)).toHaveLength(1);
    await waitUntil(async () => (await redis.scard(keys.owned('node-a'))) === 0, { timeout: 5000, message: 'the finished task to leave the index' });
    expect(b.heldCount).toBe(0);
  });

  it('index entries of finished, missing or otherwise-held tasks are dropped, not taken', async () => {
    const prefix = uniquePrefix('owner-stale');
    const keys = new Keys(prefix);
    const other = await runtime(prefix, { owner: 'node-c' });
    await other.spawn('counter', { id: 'held-by-c' });
    const finished = await other.spawn('counter', { id: 'finished' });
    await finished.send({ type: 'finish' });
    await finished.waitFor((v) => v.status === 'done', { timeout: 5000 });
    await redis.sadd(keys.owned('node-b'), 'held-by-c', 'finished', 'missing');

    const b = await runtime(prefix, { owner: 'node-b' });
    await waitUntil(async () => (await redis.scard(keys.owned('node-b'))) === 0, { timeout: 10_000, message: 'stale entries to be dropped' });
    expect(b.heldCount).toBe(0);
    expect(other.hosts.has('held-by-c')).toBe(true);
    expect(await redis.get(keys.task('held-by-c').lease)).toBe('node-c');
    expect(await redis.smembers(keys.owned('node-c'))).toEqual(['held-by-c']);
  });

  it('an invalid owner id is a typed error', async () => {
    await expect(createRuntime({ connection: redisUrl(), prefix: uniquePrefix('owner-bad'), machines: { counter }, owner: 'a b:c' })).rejects.toMatchObject({
      code: ErrorCode.InvalidOptions,
    });
  });
});
