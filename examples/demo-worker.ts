/**
 * One worker process of the demo: runs Baton tasks and prints what it does as
 * JSON lines. With SPAWN=1 it creates the task; with HANG_AT=4 step 4 never
 * finishes in this process (the demo kills it there).
 */
import { createRuntime } from '../src/index.js';
import { sevenSteps, stepHooks } from './seven-steps.js';

const say = (o: Record<string, unknown>) => console.log(JSON.stringify({ pid: process.pid, ...o }));
const hangAt = Number(process.env.HANG_AT ?? 0);
stepHooks.onStart = async (step) => {
  say({ kind: 'step', step });
  if (step === hangAt) await new Promise(() => undefined);
};

const runtime = await createRuntime({
  connection: process.env.REDIS_URL,
  prefix: process.env.BATON_PREFIX ?? 'demo',
  machines: { sevenSteps },
  leaseMs: Number(process.env.LEASE_MS ?? 1500),
});
say({ kind: 'ready', owner: runtime.self });
if (process.env.SPAWN) {
  await runtime.spawn('sevenSteps', { id: process.env.TASK_ID ?? 'research-1', input: { topic: 'solid-state batteries' } });
  say({ kind: 'spawned' });
}
process.on('SIGTERM', () => void runtime.close().then(() => process.exit(0)));
