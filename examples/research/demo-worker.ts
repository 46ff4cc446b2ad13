/**
 * A worker process of the demo: runs research tasks and their agents. Its
 * environment tells it to stall at a sub-task (so the demo can SIGKILL it
 * there) and which sub-task answers in an unexpected shape.
 *
 * With STANDBY=1 it loads and waits for a `start` line on stdin before it
 * starts its runtime (a standby worker, ready to take over). With WATCH_TASK
 * set it reports, as JSON lines, who holds that task's lease when it starts
 * (`waiting`) and when it took the lease itself (`took`): the demo narrates
 * from these. It ends when its stdin closes (the demo is gone).
 */
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { createRuntime } from '../../src/index.js';
import { Keys } from '../../src/persistence/keys.js';
import { agents, hooks } from './agents.js';
import { machines } from './worker.js';

const LEASE_MS = 1500;
const prefix = process.env.BATON_PREFIX!;
const stallAt = process.env.STALL_AT ? Number(process.env.STALL_AT) : -1;
hooks.malformed = new Set((process.env.MALFORMED ?? '').split(',').filter(Boolean).map(Number));
hooks.onSubtask = (i) => (i === stallAt ? new Promise(() => undefined) : undefined);
const say = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

// The demo holds our stdin: when it ends (the demo is gone, however it went), so does this worker.
const lines = createInterface({ input: process.stdin });
let stop: () => void = () => process.exit(0);
lines.on('close', () => stop());
if (process.env.STANDBY === '1') {
  say({ standby: true, pid: process.pid });
  await new Promise<void>((resolve) => lines.on('line', (l) => l.trim() === 'start' && resolve()));
}

const watched = process.env.WATCH_TASK;
const redis = watched ? new Redis(process.env.REDIS_URL!) : undefined;
const keys = new Keys(prefix);
const lease = watched ? keys.task(watched).lease : '';
const startedAt = Date.now();
if (redis) {
  // Read before this runtime exists, so the holder can only be another process.
  // `due`: when a sweeper next looks at the task (a grace after the lease's expiry).
  const [owner, ttlMs, due] = await Promise.all([redis.get(lease), redis.pttl(lease), redis.zscore(keys.due, watched!)]);
  say({ waiting: { task: watched, owner, ttlMs, dueInMs: due === null ? null : Math.max(0, Number(due) - Date.now()), leaseMs: LEASE_MS } });
}

const runtime = await createRuntime({
  connection: process.env.REDIS_URL,
  prefix,
  machines,
  agents,
  leaseMs: LEASE_MS,
  agentLockMs: 2000,
});
say({ ready: true, pid: process.pid, owner: runtime.self });

if (redis) {
  // Until this process holds the lease (it takes it once the dead holder's lapses).
  const poll = setInterval(() => {
    void redis.get(lease).then((owner) => {
      if (owner !== runtime.self) return;
      clearInterval(poll);
      say({ took: { task: watched, waitedMs: Date.now() - startedAt } });
    });
  }, 20);
}

let closing = false;
const close = () => {
  if (closing) return;
  closing = true;
  redis?.disconnect();
  void runtime.close().then(() => process.exit(0));
};
stop = close;
process.on('SIGTERM', close);
process.on('SIGINT', close);
