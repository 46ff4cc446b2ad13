import { afterAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { createClient } from '../src/index.js';
import { freePort, redisUrl, runChild, uniquePrefix, waitUntil, type ChildHandle } from './helpers/index.js';

// The Stately inspector bridge: @statelyai/inspect's WebSocket inspector in
// two runtime processes sends to a local receiver; the task keeps one identity.
describe('Stately inspector', () => {
  const children: ChildHandle[] = [];
  afterAll(async () => {
    await Promise.all(children.map((c) => c.kill('SIGKILL')));
  });

  it('forwards well-formed events with stable ids for a task that moves across two processes', async () => {
    const port = await freePort();
    const wss = new WebSocketServer({ port, host: '127.0.0.1' });
    const received: Array<{ type: string; sessionId: string; rootId: string; parentId?: string; definition?: string; name?: string; event?: { type: string }; snapshot?: unknown; from: number }> = [];
    let connection = 0;
    wss.on('connection', (ws) => {
      const n = ++connection;
      ws.on('message', (data) => received.push({ ...JSON.parse(String(data)), from: n }));
    });
    const prefix = uniquePrefix('inspect');
    const env = { REDIS_URL: redisUrl(), BATON_PREFIX: prefix, INSPECT_URL: `ws://127.0.0.1:${port}` };
    const a = runChild('test/procs/inspected-runtime.ts', { env: { ...env, SPAWN_ID: 'insp-1' } });
    children.push(a);
    await a.waitForJson((o) => o.ready === true, 20_000);
    const client = createClient({ connection: redisUrl(), prefix });
    await client.send('insp-1', { type: 'kid.go' });
    await client.waitFor('insp-1', (v) => v.children.kid?.value === 'rested', { timeout: 10_000 });
    await waitUntil(() => received.some((e) => e.from === 1 && e.type === '@xstate.snapshot' && e.sessionId === 'insp-1/kid'), { timeout: 10_000 });
    await a.kill('SIGKILL');

    const b = runChild('test/procs/inspected-runtime.ts', { env });
    children.push(b);
    await b.waitForJson((o) => o.ready === true, 20_000);
    await client.send('insp-1', { type: 'kid.go' }); // wakes the task in process B
    await waitUntil(() => received.some((e) => e.from === 2 && e.type === '@xstate.event' && e.event?.type === 'kid.go'), {
      timeout: 15_000,
      message: 'events from the second process',
    });

    for (const from of [1, 2]) {
      const mine = received.filter((e) => e.from === from);
      // Same identities in both processes: the task id for the root, task/child for the child.
      expect(new Set(mine.map((e) => e.sessionId))).toEqual(new Set(['insp-1', 'insp-1/kid']));
      expect(mine.every((e) => e.rootId === 'insp-1')).toBe(true);
      const actor = mine.find((e) => e.type === '@xstate.actor' && e.sessionId === 'insp-1');
      expect(actor?.name).toBe('parent'); // the inspector names a root by its machine id
      expect(JSON.parse(actor!.definition!)).toMatchObject({ id: 'parent' });
      const kid = mine.find((e) => e.type === '@xstate.actor' && e.sessionId === 'insp-1/kid');
      expect(kid?.parentId).toBe('insp-1');
      expect(mine.filter((e) => e.type === '@xstate.snapshot').every((e) => e.snapshot && typeof e.snapshot === 'object')).toBe(true);
    }
    await client.close();
    wss.close();
  });
});
