// Every client checks what it sends: a client without `machines` validates
// against the machine registry the runtimes publish (JSON Schema from zod),
// refuses unknown machines and closed event sets, and what only zod can check
// is refused where the task runs, never silently.
import { execFile } from 'node:child_process';
import { Redis } from 'ioredis';
import { assign, setup } from 'xstate';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createRuntime, defineTask, ManualClock, type BatonClient, type Runtime } from '../src/index.js';
import { dumpKeys, REPO_ROOT, redisUrl, rejectsWritingNothing, uniquePrefix, waitUntil } from './helpers/index.js';

const counter = setup({
  types: {
    context: {} as { n: unknown; log: unknown[] },
    input: {} as { start: number },
    events: {} as { type: 'inc'; by: number } | { type: 'note'; text: string } | { type: 'finish' },
  },
}).createMachine({
  id: 'counter',
  context: ({ input }) => ({ n: input?.start ?? 0, log: [] }),
  initial: 'counting',
  states: {
    counting: {
      on: {
        inc: { actions: assign(({ context, event }) => ({ n: (context.n as number) + event.by, log: [...context.log, event.by] })) },
        note: { actions: assign(({ context, event }) => ({ log: [...context.log, event.text] })) },
        finish: 'finished',
      },
    },
    finished: { type: 'final' },
  },
});

const inc = z.object({ type: z.literal('inc'), by: z.number().int() });
const machines = {
  typed: defineTask(counter, { input: z.object({ start: z.number() }), events: { inc } }),
  closed: defineTask(counter, { events: { inc, finish: z.object({ type: z.literal('finish') }) }, closed: true }),
  // Refinements: JSON Schema cannot say them, so only the task's process can check them.
  refined: defineTask(counter, {
    input: z.object({ start: z.number() }).refine((i) => i.start >= 0, 'start must not be negative'),
    events: { note: z.object({ type: z.literal('note'), text: z.string().refine((t) => t.trim().length > 0, 'text must not be blank') }) },
  }),
};

const prefix = uniquePrefix('registry');
let redis: Redis;
let blind: BatonClient;
let knowing: BatonClient;
const closers: Array<{ close(): Promise<void> }> = [];

// A live runtime's registry heartbeat is its own write, not the call's.
const HEARTBEAT = /:\{registry\}:procs$/;
const dump = () => dumpKeys(redis, prefix, { skip: HEARTBEAT });
/** The call rejects with `code` and every key (or those `only` matches) is as it was. */
const rejects = (call: () => Promise<unknown>, code: string, only?: RegExp) => rejectsWritingNothing(redis, prefix, call, code, { skip: HEARTBEAT, only });

function baton(args: string[], p = prefix): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/baton.mjs', '--prefix', p, ...args], { cwd: REPO_ROOT, env: { ...process.env, REDIS_URL: redisUrl() }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  redis = new Redis(redisUrl());
  // A worker runs the machines once (publishing them), creates fixtures, and goes away:
  // nothing but the calls under test then writes to the prefix. Its registry records stay.
  const rt = await createRuntime({ connection: redisUrl(), prefix, machines, leaseMs: 1000 });
  await rt.spawn('typed', { id: 't1', input: { start: 1 } });
  await rt.spawn('closed', { id: 'c1' });
  await rt.handle('t1').waitFor((v) => v.seq >= 1);
  await rt.close();
  blind = createClient({ connection: redisUrl(), prefix });
  knowing = createClient({ connection: redisUrl(), prefix, machines });
  closers.push(blind, knowing);
});

afterAll(async () => {
  await Promise.all(closers.map((c) => c.close()));
  redis.disconnect();
});

describe('a client without machines checks against the registry', () => {
  it('events that miss a field or have the wrong type: INVALID_EVENT, nothing written', async () => {
    for (const c of [blind, knowing]) {
      const err = await rejects(() => c.send('t1', { type: 'inc' }), 'INVALID_EVENT');
      expect(err.message).toMatch(/by/);
      await rejects(() => c.send('t1', { type: 'inc', by: 'x' }), 'INVALID_EVENT');
      await rejects(() => c.send('t1', { type: 'inc', by: 1.5 }), 'INVALID_EVENT');
    }
    // What the schema accepts goes through (extra keys too: zod's objects strip them, they do not refuse them),
    // and a worker started now applies it: nothing before it was queued.
    expect((await blind.send('t1', { type: 'inc', by: 2, extra: true })).duplicate).toBe(false);
    const rt = await createRuntime({ connection: redisUrl(), prefix, machines, leaseMs: 1000 });
    try {
      const v = await rt.waitFor('t1', (x) => (x.context as { log: unknown[] }).log.length > 0, { timeout: 10_000 });
      expect(v.context).toEqual({ n: 3, log: [2] });
      expect((await rt.history('t1')).map((h) => h.event.type)).toEqual(['baton.spawn', 'inc']);
    } finally {
      await rt.close();
    }
  });

  it('unknown machines, including names that are members of Object.prototype: UNKNOWN_MACHINE', async () => {
    for (const c of [blind, knowing]) {
      for (const name of ['nosuch', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '']) {
        const err = await rejects(() => c.spawn(name, { id: `u-${name.length}` }), 'UNKNOWN_MACHINE');
        if (c === blind && name === 'nosuch') expect(err.message).toMatch(/closed, refined, typed/);
      }
    }
  });

  it('spawn input that fails the JSON Schema: INVALID_INPUT', async () => {
    for (const c of [blind, knowing]) {
      for (const input of [{ start: 'x' }, undefined, {}, 'start', { start: null }]) {
        await rejects(() => c.spawn('typed', { id: 'bad-input', input }), 'INVALID_INPUT');
      }
    }
  });

  it('ids that are not strings (null included) are INVALID_ID, never a random id', async () => {
    for (const c of [blind, knowing]) {
      for (const id of [null, 5, {}, [], true, '']) {
        await rejects(() => c.spawn('typed', { id: id as never, input: { start: 1 } }), 'INVALID_ID');
      }
    }
  });

  it('a closed machine refuses event types it has no schema for', async () => {
    for (const c of [blind, knowing]) {
      const err = await rejects(() => c.send('c1', { type: 'note', text: 'hi' }), 'INVALID_EVENT');
      expect(err.message).toMatch(/closed/);
    }
    expect((await blind.send('c1', { type: 'inc', by: 1 })).duplicate).toBe(false);
  });

  it('the CLI makes the same checks: one error line with the code, nothing written', async () => {
    const cases: Array<[string[], string]> = [
      [['spawn', 'nosuch'], 'UNKNOWN_MACHINE'],
      [['spawn', 'typed', '--input', '{"start":"x"}'], 'INVALID_INPUT'],
      [['send', 't1', '{"type":"inc","by":"x"}'], 'INVALID_EVENT'],
      [['send', 'c1', '{"type":"note","text":"hi"}'], 'INVALID_EVENT'],
    ];
    for (const [args, code] of cases) {
      const before = await dump();
      const r = await baton(args);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toContain(`[${code}]`);
      expect(await dump()).toEqual(before);
    }
  });

  it('the registry keeps two versions side by side and survives restarts', async () => {
    const p = uniquePrefix('registry-versions');
    const v1 = await createRuntime({ connection: redisUrl(), prefix: p, machines: { typed: machines.typed }, registryHeartbeatMs: 100, leaseMs: 300 });
    const v2 = await createRuntime({
      connection: redisUrl(),
      prefix: p,
      machines: { typed: defineTask(counter, { version: 2, input: z.object({ start: z.number(), label: z.string() }), events: { inc } }) },
      registryHeartbeatMs: 100,
      leaseMs: 300,
    });
    const c = createClient({ connection: redisUrl(), prefix: p });
    closers.push(c);
    const versions = async () => (await c.registry.machines()).filter((m) => m.name === 'typed').map((m) => m.version).sort();
    expect(await versions()).toEqual([1, 2]);
    const procs = await c.registry.processes();
    expect(procs.map((x) => x.owner).sort()).toEqual([v1.self, v2.self].sort());
    expect(procs.find((x) => x.owner === v2.self)?.machines).toEqual(['typed@2']);
    // A new spawn is checked against the newest live version, and stamped with it.
    await expect(c.spawn('typed', { input: { start: 1 } })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    const t = await c.spawn('typed', { input: { start: 1, label: 'x' } });
    // (A version-1 process that takes its activation first lets it go: only version 2 starts it.)
    expect((await v2.waitFor(t.id, (v) => v.seq >= 1, { timeout: 10_000 })).version).toBe(2);

    await v1.close();
    await v2.close();
    // Both processes left (their records say when they were last seen); the machine records stay.
    const live = async () => (await c.registry.processes()).filter((x) => x.expiresAt > Date.now()).map((x) => x.owner);
    c.registry.invalidate();
    expect(await live()).toEqual([]);
    expect(await versions()).toEqual([1, 2]);
    const again = await createRuntime({ connection: redisUrl(), prefix: p, machines: { typed: machines.typed }, registryHeartbeatMs: 100 });
    c.registry.invalidate();
    expect(await live()).toEqual([again.self]);
    expect(await versions()).toEqual([1, 2]);
    await again.close();
  });
});

describe('what only zod can check is refused where the task runs, never silently', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await createRuntime({ connection: redisUrl(), prefix, machines, leaseMs: 1000 });
    closers.push(rt);
  });

  it('spawn input failing a refinement ends the task in error at activation; it never runs', async () => {
    const t = await blind.spawn('refined', { id: 'r-bad', input: { start: -1 } });
    const v = await t.waitFor((x) => x.status !== 'active', { timeout: 10_000 });
    expect(v.status).toBe('error');
    expect(v.reason).toMatch(/start must not be negative/);
    expect(v.value).toBeUndefined();
    const history = await t.history();
    expect(history.map((h) => h.event.type)).toEqual(['baton.rejected']);
    // The worker keeps serving: a valid spawn of the same machine runs.
    const ok = await blind.spawn('refined', { id: 'r-ok', input: { start: 3 } });
    expect((await ok.waitFor((x) => x.seq >= 1)).context).toEqual({ n: 3, log: [] });
  });

  it("send with wait: 'applied' rejects INVALID_EVENT for an event the worker refused, and the view keeps the reason", async () => {
    const t = blind.handle('r-ok');
    const err = await t.send({ type: 'note', text: '   ' }, { wait: 'applied' }).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err?.code).toBe('INVALID_EVENT');
    expect(err?.message).toMatch(/text must not be blank/);
    const view = await t.get();
    expect(view?.rejections?.at(-1)).toMatchObject({ type: 'note', reason: expect.stringMatching(/blank/) });
    expect(view?.context).toEqual({ n: 3, log: [] });
    // An accepted one resolves once applied: its effect is in the committed state already.
    await t.send({ type: 'note', text: 'fine' }, { wait: 'applied' });
    expect((await t.get())?.context).toEqual({ n: 3, log: ['fine'] });
    // The CLI waits the same way.
    const r = await baton(['send', 'r-ok', '{"type":"note","text":" "}', '--wait']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[INVALID_EVENT]');
  });

  it('the runtime holding the task rejects the same way and writes nothing to it', async () => {
    const held = await rt.spawn('typed', { id: 'held', input: { start: 0 } });
    await held.waitFor((v) => v.seq >= 1);
    const only = /:task:\{held\}:(state|mailbox|history)$/;
    await rejects(() => rt.send('held', { type: 'inc', by: 'x' }), 'INVALID_EVENT', only);
    await rejects(() => rt.send('c1', { type: 'note', text: 'x' }), 'INVALID_EVENT', /:task:\{c1\}:(state|mailbox|history)$/);
    await rejects(() => rt.spawn('nosuch'), 'UNKNOWN_MACHINE', only);
    await rejects(() => rt.spawn('typed', { id: null as never }), 'INVALID_ID', only);
    await rejects(() => rt.spawn('typed', { input: { start: 'x' } }), 'INVALID_INPUT', only);
    await held.send({ type: 'inc', by: 2 }, { wait: 'applied' });
    expect((await held.get())?.context).toEqual({ n: 2, log: [2] });
  });
});

describe('a task whose machine no live process runs', () => {
  it('is flagged in its view after the grace period, and not while a process runs it', async () => {
    const p = uniquePrefix('registry-unserved');
    const c = createClient({ connection: redisUrl(), prefix: p, unservedAfterMs: 200 });
    closers.push(c);
    const rt = await createRuntime({ connection: redisUrl(), prefix: p, machines: { typed: machines.typed }, registryHeartbeatMs: 50, idleMs: 0 });
    const t = await c.spawn('typed', { id: 'orphan', input: { start: 1 } });
    await t.waitFor((v) => v.seq >= 1);
    expect((await t.get())?.unserved).toBeUndefined();
    await rt.close();
    const v = await waitUntil(async () => {
      const x = await t.get();
      return x?.unserved ? x : undefined;
    }, { timeout: 5000 });
    expect(v.reason).toMatch(/no live process runs machine 'typed'/);
    expect((await c.list()).find((x) => x.id === 'orphan')?.unserved).toBe(true);
    // A client with the machine can spawn a task no process has ever run: flagged too.
    const k = createClient({ connection: redisUrl(), prefix: p, machines: { other: counter }, unservedAfterMs: 0 });
    closers.push(k);
    await k.spawn('other', { id: 'never' });
    expect((await k.get('never'))?.reason).toMatch(/none has registered it/);
    // `baton ps` flags them (its client waits the default grace: this task was spawned a minute "ago").
    const old = createClient({ connection: redisUrl(), prefix: p, machines: { other: counter }, clock: new ManualClock(Date.now() - 60_000) });
    closers.push(old);
    await old.spawn('other', { id: 'old-orphan' });
    const ps = await baton(['ps', '--json'], p);
    const rows = JSON.parse(ps.stdout) as Array<{ id: string; unserved?: boolean; reason?: string }>;
    expect(rows.find((r) => r.id === 'old-orphan')).toMatchObject({ unserved: true, reason: expect.stringMatching(/none has registered/) });
    const text = await baton(['ps', '--no-color'], p);
    expect(text.stdout).toMatch(/wait for a process that runs other@1: none is live/);
  });

  it('a miss reads the registry again at most every half second: sends to a task whose version is gone cost no read each', async () => {
    const p = uniquePrefix('registry-miss');
    const rt = await createRuntime({ connection: redisUrl(), prefix: p, machines: { typed: machines.typed } });
    closers.push(rt);
    // Stamped with version 7, which no process publishes.
    const old = createClient({ connection: redisUrl(), prefix: p, machines: { typed: defineTask(counter, { version: 7 }) } });
    const c = createClient({ connection: redisUrl(), prefix: p });
    closers.push(old, c);
    await old.spawn('typed', { id: 'v7' });
    const store = (c.registry as unknown as { store: { read: () => Promise<unknown> } }).store;
    const read = store.read.bind(store);
    let reads = 0;
    store.read = () => {
      reads++;
      return read();
    };
    // Checked against the newest version instead (its `inc` schema), read fresh once, not once per send.
    for (let i = 0; i < 20; i++) await c.send('v7', { type: 'inc', by: i });
    await expect(c.send('v7', { type: 'inc', by: 'x' })).rejects.toMatchObject({ code: 'INVALID_EVENT' });
    expect(reads).toBeLessThanOrEqual(2);
  });

  it('a client hears registry changes: a machine registered after its first read is known without a retry', async () => {
    const p = uniquePrefix('registry-notice');
    const first = await createRuntime({ connection: redisUrl(), prefix: p, machines: { typed: machines.typed } });
    const c = createClient({ connection: redisUrl(), prefix: p });
    closers.push(c);
    expect(await c.registry.names()).toEqual(['typed']);
    const second = await createRuntime({ connection: redisUrl(), prefix: p, machines: { closed: machines.closed } });
    // No invalidate(): the registry-changed notice marks the cached copy stale.
    await waitUntil(async () => (await c.registry.names()).includes('closed'), { timeout: 5000 });
    await second.close();
    await first.close();
  });
});
