// Invariant 5 (boundary half): bad input gets a clear error code, and a
// rejected call writes nothing, neither task keys nor BullMQ keys.
import { beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type BatonClient, type Runtime } from '../src/index.js';
import { strictCounter } from './fixtures/durable.js';
import { counter } from './fixtures/machines.js';
import { redisUrl, rejectsWritingNothing, uniquePrefix } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

const machines = { counter, strict: strictCounter };
const prefix = uniquePrefix('validation');
const baton = useBaton({ close: 'all', runtime: { machines, leaseMs: 1000 } });
const { redis } = baton;
let client: BatonClient;

/** The call must reject with `code` and leave every key of the prefix exactly as it was. */
const rejects = (call: () => Promise<unknown>, code: string) => rejectsWritingNothing(redis, prefix, call, code).then(() => undefined);

type Counter = { count: number; seen: string[] };

beforeAll(async () => {
  // Fixtures: an active task, a strict one, a done one. Then the runtime goes away, so
  // nothing but the calls under test writes to the prefix.
  const rt = await createRuntime({ connection: redisUrl(), prefix, machines, leaseMs: 1000 });
  await rt.spawn('counter', { id: 'live' });
  await rt.spawn('strict', { id: 'strict-1', input: { start: 1 } });
  const fin = await rt.spawn('counter', { id: 'finished' });
  await fin.send({ type: 'finish' });
  await fin.waitFor((v) => v.status === 'done');
  await rt.close();
  client = baton.client(prefix, { machines });
});

const circular = (): Record<string, unknown> => {
  const o: Record<string, unknown> = { type: 'inc' };
  o.self = o;
  return o;
};

describe('send rejects bad events and writes nothing', () => {
  it('not an object', async () => {
    for (const ev of ['inc', 42, null, undefined, ['inc'], true]) await rejects(() => client.send('live', ev as never), 'INVALID_EVENT');
  });
  it('no type, or a type that is not a non-empty string', async () => {
    for (const ev of [{}, { n: '1' }, { type: 5 }, { type: null }, { type: '' }, { type: { name: 'inc' } }, { type: ['inc'] }]) {
      await rejects(() => client.send('live', ev as never), 'INVALID_EVENT');
    }
  });
  it('reserved types (baton.*, xstate.*)', async () => {
    for (const type of ['baton.stop', 'baton.spawn', 'baton.rejected', 'xstate.init', 'xstate.done.actor.x', 'xstate.after.1000.counter.counting']) {
      await rejects(() => client.send('live', { type }), 'INVALID_EVENT');
    }
  });
  it('values JSON cannot hold', async () => {
    const bad: Array<Record<string, unknown>> = [
      { type: 'inc', f: () => 1 },
      { type: 'inc', big: 10n },
      { type: 'inc', n: Number.NaN },
      { type: 'inc', n: Number.POSITIVE_INFINITY },
      circular(),
      { type: 'inc', when: new Date() },
      { type: 'inc', map: new Map([[1, 2]]) },
      { type: 'inc', sym: Symbol('s') },
      { type: 'inc', nested: { deep: [1, { f: () => 2 }] } },
    ];
    for (const ev of bad) await rejects(() => client.send('live', ev as never), 'INVALID_EVENT');
  });
  it('over the size limit', async () => {
    await rejects(() => client.send('live', { type: 'inc', n: 'x'.repeat(256 * 1024) }), 'PAYLOAD_TOO_LARGE');
    const small = baton.client(prefix, { maxEventBytes: 100 });
    await rejects(() => small.send('live', { type: 'inc', n: 'y'.repeat(100) }), 'PAYLOAD_TOO_LARGE');
  });
  it("failing the machine's zod event schema", async () => {
    for (const ev of [{ type: 'inc', n: 'abc' }, { type: 'inc' }, { type: 'inc', n: '1', extra: true }, { type: 'inc', n: 1 }]) {
      await rejects(() => client.send('strict-1', ev as never), 'INVALID_EVENT');
    }
  });
  it('bad task ids and idempotency keys', async () => {
    for (const id of ['a:b', '{a}', 'a{b', 'a}b', '', ' ', '-a', 'a b', 'é', 'x'.repeat(129)]) {
      await rejects(() => client.send(id, { type: 'inc' }), 'INVALID_ID');
    }
    for (const key of ['', 'has space', 'x'.repeat(201), 'tab\t']) {
      await rejects(() => client.send('live', { type: 'inc' }, { idempotencyKey: key }), 'INVALID_ID');
    }
  });
  it('an unknown task', async () => {
    await rejects(() => client.send('ghost', { type: 'inc' }), 'TASK_NOT_FOUND');
    await rejects(() => client.send('ghost', { type: 'inc' }, { idempotencyKey: 'k-ghost' }), 'TASK_NOT_FOUND');
  });
  it('a done task', async () => {
    await rejects(() => client.send('finished', { type: 'inc' }), 'TASK_NOT_RUNNING');
    await rejects(() => client.send('finished', { type: 'inc' }, { idempotencyKey: 'k-done' }), 'TASK_NOT_RUNNING');
  });
});

describe('spawn rejects bad requests and writes nothing', () => {
  it('an unknown machine', async () => {
    await rejects(() => client.spawn('nope', { id: 'n1' }), 'UNKNOWN_MACHINE');
  });
  it("input failing the machine's zod input schema", async () => {
    for (const input of [undefined, { start: 'x' }, { start: 1.5 }, { start: 1, extra: true }, 'start']) {
      await rejects(() => client.spawn('strict', { id: 's-bad', input }), 'INVALID_INPUT');
    }
  });
  it('input JSON cannot hold', async () => {
    const self: Record<string, unknown> = {};
    self.self = self;
    for (const input of [{ f: () => 1 }, { big: 1n }, { n: Number.NaN }, self, { d: new Date() }, () => 1]) {
      await rejects(() => client.spawn('counter', { id: 'c-bad', input }), 'INVALID_INPUT');
    }
  });
  it('input over the size limit', async () => {
    await rejects(() => client.spawn('counter', { id: 'c-big', input: { pad: 'x'.repeat(1024 * 1024) } }), 'PAYLOAD_TOO_LARGE');
  });
  it('bad ids', async () => {
    for (const id of ['a:b', '{a}', 'a}b', '', '.a', 'x'.repeat(129)]) await rejects(() => client.spawn('counter', { id }), 'INVALID_ID');
  });
  it('an existing id (active or done)', async () => {
    await rejects(() => client.spawn('counter', { id: 'live' }), 'TASK_EXISTS');
    await rejects(() => client.spawn('counter', { id: 'finished' }), 'TASK_EXISTS');
  });
});

describe('a runtime rejects the same way', () => {
  let rt: Runtime;
  beforeAll(async () => {
    // A runtime that holds no task: its idle worker writes nothing between our dumps.
    rt = await baton.runtime(prefix);
  });

  it('bad events, bad ids, unknown machine, bad input', async () => {
    await rejects(() => rt.send('live', { type: 'baton.stop' }), 'INVALID_EVENT');
    await rejects(() => rt.send('strict-1', { type: 'inc', n: 'abc' }), 'INVALID_EVENT');
    await rejects(() => rt.send('finished', { type: 'inc' }), 'TASK_NOT_RUNNING');
    await rejects(() => rt.send('ghost', { type: 'inc' }), 'TASK_NOT_FOUND');
    await rejects(() => rt.spawn('nope'), 'UNKNOWN_MACHINE');
    await rejects(() => rt.spawn('strict', { id: 'rs', input: { start: 'x' } }), 'INVALID_INPUT');
    await rejects(() => rt.spawn('counter', { id: 'a:b' }), 'INVALID_ID');
  });

  // BUG (src/runtime/runtime.ts, Runtime.spawn, fixed): the task was put in the due set (store.setDue)
  // before the spawn script found the id taken, so a TASK_EXISTS spawn wrote a due-set entry
  // (here `finished`, a done task, which a sweeper then woke for nothing). On one node the spawn
  // script now writes the due entry itself, after its check; on a cluster an EXISTS check comes first.
  it('spawn with an existing id', async () => {
    await rejects(() => rt.spawn('counter', { id: 'finished' }), 'TASK_EXISTS');
    await rejects(() => rt.spawn('counter', { id: 'live' }), 'TASK_EXISTS');
  });
});

describe('an event that bypassed the boundary check', () => {
  it("is checked again before it is applied: recorded as rejected, the task's context untouched", async () => {
    const p = uniquePrefix('validation-apply');
    const rt = await baton.runtime(p);
    const task = await rt.spawn('strict', { id: 'strict-2', input: { start: 0 } });
    // (The schema is per machine: the same event is fine for the plain counter.)
    const plain = await rt.spawn('counter', { id: 'plain' });
    await plain.send({ type: 'inc', n: 'not-a-number' });
    await plain.waitFor((x) => (x.context as Counter).count === 1);
    // An entry written past every client's check (straight into the mailbox, as a buggy or older sender might).
    const raw = (event: object) => rt.store.append(task.id, { event: JSON.stringify(event), idemTtlSec: 60, now: Date.now(), owner: '' });
    await raw({ type: 'inc', n: 'not-a-number' });
    await raw({ type: 'inc', n: '7' });
    const v = await task.waitFor((x) => (x.context as Counter).seen.length > 0, { timeout: 10_000 });
    expect(v.context).toEqual({ count: 1, seen: ['7'] });
    const history = await task.history();
    expect(history.map((h) => h.event.type)).toEqual(['baton.spawn', 'baton.rejected', 'inc']);
  });
});
