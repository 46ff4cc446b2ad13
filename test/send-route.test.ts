// The shape of the runtime: the route from `send` to the commit goes one way.
// Each leg's stack (async frames included), read as the src files it passes
// through, visits no file twice: client → delivery → host → mailbox, and
// host → commit → task store. (Generic helpers a room calls back through,
// such as retry.ts, are left out.)
import { afterAll, describe, expect, it } from 'vitest';
import { createClient, createRuntime, type BatonClient, type Runtime } from '../src/index.js';
import { TaskStore } from '../src/persistence/task-store.js';
import { HostMailbox } from '../src/runtime/mailbox.js';
import { counter } from './fixtures/machines.js';
import { redisUrl, uniquePrefix, waitUntil } from './helpers/index.js';

Error.stackTraceLimit = 100; // whole routes, async frames included
const open: Array<Runtime | BatonClient> = [];
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
});

/** The src files a stack passes through, outermost first, consecutive repeats folded, ending at `target` (the spied call's own file). */
function route(stack: string, target: string): string[] {
  const files = stack
    .split('\n')
    .map((l) => /\/src\/([^:)]+\.ts)/.exec(l)?.[1])
    .filter((f): f is string => !!f && f !== 'runtime/retry.ts')
    .reverse();
  files.push(target);
  return files.filter((f, i) => f !== files[i - 1]);
}

function expectOneWay(leg: string[]): void {
  expect(new Set(leg).size, `route ${leg.join(' → ')} returns to a file it left`).toBe(leg.length);
}

/** Record the stack each time `obj[name]` is called. */
function spy<T extends object>(obj: T, name: keyof T, into: string[]): () => void {
  const original = obj[name] as unknown as (...a: unknown[]) => unknown;
  (obj as Record<keyof T, unknown>)[name] = function (this: unknown, ...args: unknown[]) {
    into.push(new Error().stack ?? '');
    return original.apply(this, args);
  };
  return () => void ((obj as Record<keyof T, unknown>)[name] = original);
}

describe('the send route', () => {
  it('a send to a task held here: client → delivery → host → mailbox; then host → commit → task store', async () => {
    const prefix = uniquePrefix('route');
    const rt = await createRuntime({ connection: redisUrl(), prefix, machines: { counter } });
    open.push(rt);
    const task = await rt.spawn('counter', { id: 'r1' });
    await task.waitFor((v) => v.seq >= 1);
    const offered: string[] = [];
    const committed: string[] = [];
    const undo = [spy(HostMailbox.prototype, 'offerLocal', offered), spy(TaskStore.prototype, 'commit', committed)];
    try {
      await rt.send('r1', { type: 'inc', n: '1' });
    } finally {
      undo.forEach((u) => u());
    }
    // (runtime.ts hands the call to its client without awaiting it, so it is not in the async stack.)
    const send = route(offered[0]!, 'runtime/mailbox.ts');
    expect(send).toEqual(['runtime/client.ts', 'runtime/runtime-delivery.ts', 'runtime/task-host.ts', 'runtime/mailbox.ts']);
    // An idle host applies the send at once, inside the same call: then the commit's stack is the whole
    // route from the send (a host already busy takes it in its running loop, from task-host.ts).
    const commit = route(committed[0]!, 'persistence/task-store.ts');
    expect([['runtime/client.ts', 'runtime/runtime-delivery.ts'], []]).toContainEqual(commit.slice(0, -3));
    expect(commit.slice(-3)).toEqual(['runtime/task-host.ts', 'runtime/commit.ts', 'persistence/task-store.ts']);
    expectOneWay(send);
    expectOneWay(commit);
  });

  it('a send from a client: client → delivery → task store; the holder: subscriber → residency → host → mailbox', async () => {
    const prefix = uniquePrefix('route-remote');
    const rt = await createRuntime({ connection: redisUrl(), prefix, machines: { counter } });
    const c = createClient({ connection: redisUrl(), prefix });
    open.push(rt, c);
    await (await rt.spawn('counter', { id: 'r2' })).waitFor((v) => v.seq >= 1);
    const appended: string[] = [];
    const offered: string[] = [];
    const undo = [spy(TaskStore.prototype, 'append', appended), spy(HostMailbox.prototype, 'offer', offered)];
    try {
      await c.send('r2', { type: 'inc', n: '1' });
      await waitUntil(() => offered.length > 0, { timeout: 5000 });
    } finally {
      undo.forEach((u) => u());
    }
    const send = route(appended[0]!, 'persistence/task-store.ts');
    expect(send).toEqual(['runtime/client.ts', 'runtime/delivery.ts', 'persistence/task-store.ts']);
    const wake = route(offered[0]!, 'runtime/mailbox.ts');
    // (The runtime wires the listener to its residency.)
    expect(wake).toEqual(['runtime/subscriber.ts', 'runtime/runtime.ts', 'runtime/residency.ts', 'runtime/task-host.ts', 'runtime/mailbox.ts']);
    expectOneWay(send);
    expectOneWay(wake);
  });
});
