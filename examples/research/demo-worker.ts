/**
 * A worker process of the demo: runs research tasks and their agents. Its
 * environment tells it to stall at a sub-task (so the demo can SIGKILL it
 * there) and which sub-task answers in an unexpected shape.
 */
import { createRuntime } from '../../src/index.js';
import { agents, hooks } from './agents.js';
import { machines } from './worker.js';

const stallAt = process.env.STALL_AT ? Number(process.env.STALL_AT) : -1;
hooks.malformed = new Set((process.env.MALFORMED ?? '').split(',').filter(Boolean).map(Number));
hooks.onSubtask = (i) => (i === stallAt ? new Promise(() => undefined) : undefined);

const runtime = await createRuntime({
  connection: process.env.REDIS_URL,
  prefix: process.env.BATON_PREFIX!,
  machines,
  agents,
  leaseMs: 1500,
  agentLockMs: 2000,
});
console.log(JSON.stringify({ ready: true, pid: process.pid, owner: runtime.self }));
process.on('SIGTERM', () => void runtime.close().then(() => process.exit(0)));
