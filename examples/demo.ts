/**
 * The halfway failure, for real: a seven-step task runs in a worker process
 * that is killed with SIGKILL during step 4; a fresh worker resumes it from
 * its last commit, and steps 1-3 are not run again.
 *
 * Run with `npm run demo` (starts a private Redis when REDIS_URL is unset).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createClient, type TaskView } from '../src/index.js';
import type { StepResult } from './seven-steps.js';

const prefix = `demo-${Date.now().toString(36)}`;
const taskId = 'research-1';
const started = Date.now();
const t = () => `${((Date.now() - started) / 1000).toFixed(2)}s`.padStart(7);
const log = (who: string, msg: string) => console.log(`${t()}  ${who.padEnd(14)} ${msg}`);

function worker(name: string, env: Record<string, string>): { proc: ChildProcess; lines: AsyncIterable<string> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', new URL('./demo-worker.ts', import.meta.url).pathname], {
    env: { ...process.env, BATON_PREFIX: prefix, TASK_ID: taskId, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  log(name, `started (pid ${proc.pid})`);
  return { proc, lines: createInterface({ input: proc.stdout! }) };
}

const client = createClient({ connection: process.env.REDIS_URL, prefix });
const commits: TaskView[] = [];

console.log('Baton demo: the halfway failure\n');
const a = worker('worker A', { SPAWN: '1', HANG_AT: '4' });
let unsubscribe: (() => void) | undefined;
for await (const line of a.lines) {
  const msg = JSON.parse(line) as { kind: string; step?: number; pid: number };
  if (msg.kind === 'spawned') {
    unsubscribe = await client.subscribeReady(taskId, (v) => {
      commits.push(v);
      log('redis commit', `seq ${v.seq} -> ${JSON.stringify(v.value)} (${(v.context as { results: unknown[] }).results.length} results)`);
    });
  }
  if (msg.kind === 'step') log('worker A', `runs step ${msg.step}`);
  if (msg.kind === 'step' && msg.step === 4) {
    a.proc.kill('SIGKILL');
    log('worker A', 'SIGKILL during step 4');
    break;
  }
}
await new Promise((r) => a.proc.once('exit', r));

const b = worker('worker B', {});
void (async () => {
  for await (const line of b.lines) {
    const msg = JSON.parse(line) as { kind: string; step?: number };
    if (msg.kind === 'step') log('worker B', `runs step ${msg.step}`);
  }
})();
const done = await client.waitFor(taskId, (v) => v.status === 'done', { timeout: 30_000 });
b.proc.kill('SIGTERM');
unsubscribe?.();

const results = (done.context as { results: StepResult[] }).results;
console.log('\nWhich process ran each committed step:');
for (const r of results) {
  const who = r.pid === a.proc.pid ? 'worker A' : r.pid === b.proc.pid ? 'worker B' : `pid ${r.pid}`;
  console.log(`  step ${r.step}  ${who.padEnd(9)} (pid ${r.pid})  ${r.summary}`);
}
const history = await client.history(taskId, { limit: 50 });
console.log(`\nAudit trail (${history.length} commits):`);
for (const h of history) console.log(`  #${h.seq} ${h.event.type.padEnd(34)} ${JSON.stringify(h.from)} -> ${JSON.stringify(h.to)}`);
const rerun = results.filter((r) => r.step <= 3 && r.pid !== a.proc.pid).length;
console.log(`\nSteps 1-3 re-run after the crash: ${rerun}. Task status: ${done.status}.`);
await new Promise((r) => b.proc.once('exit', r));
await client.close();
process.exit(rerun === 0 && results.length === 7 ? 0 : 1);
