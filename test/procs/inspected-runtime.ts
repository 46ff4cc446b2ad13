// A runtime whose tasks are inspected by @statelyai/inspect's WebSocket inspector (test/inspector.test.ts).
import { createWebSocketInspector } from '@statelyai/inspect';
import { createRuntime } from '../../src/index.js';
import { parent } from '../fixtures/machines.js';

const inspector = createWebSocketInspector({ url: process.env.INSPECT_URL! });
const runtime = await createRuntime({
  connection: process.env.REDIS_URL,
  prefix: process.env.BATON_PREFIX!,
  machines: { parent },
  leaseMs: 600,
  inspect: inspector.inspect,
});
if (process.env.SPAWN_ID) await runtime.spawn('parent', { id: process.env.SPAWN_ID });
console.log(JSON.stringify({ ready: true, pid: process.pid }));
