/**
 * Baton's demo: a research task that meets three failures for real.
 *
 *   1. A sub-task answers in an unexpected schema (repaired on a recovery
 *      path), and the worker process is SIGKILLed during sub-task 4: a fresh
 *      worker resumes without re-running sub-tasks 1-3.
 *   2. Two reviewers run in parallel and conflict: both originals and the
 *      reconciled result are kept.
 *   3. The user changes the scope mid-run: assessed at the next checkpoint,
 *      surfaced as a decision, answered, and the remaining plan follows it.
 *
 * `npm run demo` (a private Redis is started when REDIS_URL is unset).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createClient, type TaskView } from '../src/index.js';
import type { ParallelResult, StepsOutput } from '../src/index.js';
import type { SubResult } from './research/machine.js';

const prefix = `demo-${Date.now().toString(36)}`;
const taskId = 'research-1';
const t0 = Date.now();
const workers = new Map<number, string>();
const stamp = () => `${((Date.now() - t0) / 1000).toFixed(2)}s`.padStart(7);
const say = (who: string, msg: string) => console.log(`${stamp()}  ${who.padEnd(10)} ${msg}`);
const nameOf = (pid: unknown) => workers.get(Number(pid)) ?? `pid ${pid}`;

function startWorker(name: string, env: Record<string, string>): Promise<ChildProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', new URL('./research/demo-worker.ts', import.meta.url).pathname], {
    env: { ...process.env, BATON_PREFIX: prefix, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  workers.set(proc.pid!, name);
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (line.includes('"ready"')) {
        say(name, `ready (pid ${proc.pid})`);
        resolve(proc);
      }
    });
    proc.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}

function where(v: TaskView): string {
  const root = typeof v.value === 'string' ? v.value : JSON.stringify(v.value);
  const child = Object.values(v.children).find((c) => c.status === 'active' && c.value !== undefined);
  const inner = child ? ` > ${typeof child.value === 'string' ? child.value : JSON.stringify(child.value).replace(/"/g, '')}` : '';
  return `${root}${inner}`;
}

console.log('Baton demo: a research task meets a crash, a conflict and a change of scope\n');
const client = createClient({ connection: process.env.REDIS_URL, prefix });
let workerA = await startWorker('worker A', { STALL_AT: '3', MALFORMED: '2' });
let workerB: ChildProcess | undefined;

let killed = false;
let scopeSent = false;
let answered = false;
let reviewShown = false;
const progressOff = await client.onProgress(taskId, (p) => {
  const d = p.data as { pid: number; what: string; attempt?: number };
  say(nameOf(d.pid), `runs ${d.what}${d.attempt && d.attempt > 1 ? ` (attempt ${d.attempt})` : ''}`);
  if (!killed && d.what === 'sub-task 4' && Number(d.pid) === workerA.pid) {
    killed = true;
    workerA.kill('SIGKILL');
    say('worker A', 'SIGKILL during sub-task 4 (failure 1: the halfway crash)');
    void startWorker('worker B', {}).then((p) => (workerB = p));
  }
});

const done = new Promise<TaskView>((resolve) => {
  void client.subscribeReady(taskId, (v) => {
    say('redis', `commit #${v.seq} ${where(v)}`);
    const steps = v.children.subtasks?.context as { results?: Record<string, unknown> } | undefined;
    if (!scopeSent && steps?.results && 'sub2' in steps.results) {
      scopeSent = true;
      say('user', "sends { type: 'context.update', update: { scope: 'EU only' } } (failure 3: stale context)");
      void client.send(taskId, { type: 'context.update', update: { scope: 'EU only' }, by: 'ana' });
    }
    if (v.awaiting && !answered) {
      answered = true;
      say('task', `awaits a decision: "${v.awaiting.question}" options ${JSON.stringify(v.awaiting.options)}`);
      say('user', "answers 'absorb'");
      void client.send(taskId, { type: 'decision', decision: v.awaiting.decision, choice: 'absorb', by: 'ana' });
    }
    const review = (v.context as { review?: ParallelResult }).review;
    if (review && !reviewShown) {
      reviewShown = true;
      console.log(`\n          conflict (failure 2): ${review.conflict?.summary}`);
      for (const [name, out] of Object.entries(review.originals)) console.log(`            original ${name.padEnd(11)} ${JSON.stringify(out)}`);
      console.log(`            reconciled by ${review.decidedBy}: ${JSON.stringify(review.reconciled)}\n`);
    }
    if (v.status !== 'active') resolve(v);
  });
});

await client.spawn('research', { id: taskId, input: { topic: 'solid-state batteries', scope: 'global' } });
say('client', `spawned ${taskId}`);
const final = await Promise.race([
  done,
  new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the demo did not finish within 60 s')), 60_000)),
]);
progressOff();

const out = final.output as { steps: StepsOutput; review: ParallelResult; report: unknown };
console.log('\nSummary');
console.log(`  status: ${final.status}, ${final.seq} commits, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
const results = out.steps.results as Record<string, SubResult>;
for (let i = 1; i <= 7; i++) {
  const r = results[`sub${i}`];
  const note = out.steps.recovered[`sub${i}`] ? `  (recovered by '${out.steps.recovered[`sub${i}`]}' after: ${out.steps.failures.find((f) => f.step === `sub${i}`)?.error.message})` : '';
  console.log(`  sub-task ${i}  ${r ? nameOf(r.pid).padEnd(9) : '(skipped) '} ${r?.finding ?? ''}${note}`);
}
for (const d of out.steps.decisions) console.log(`  decision: ${d.decision} -> '${d.choice}' by ${d.by} (${d.source})`);
console.log(`  scope at the end: ${out.steps.input.scope}`);
console.log(`  report: ${JSON.stringify(out.report)}`);

const history = await client.history(taskId, { limit: 200 });
console.log(`\nAudit trail (${history.length} commits)`);
for (const h of history) {
  const e = h.event as { type: string; jobId?: string; choice?: string; update?: unknown };
  const detail = e.jobId ? e.jobId.replace(`${taskId}.`, 'job ') : e.choice ? `choice '${e.choice}'` : e.update ? JSON.stringify(e.update) : '';
  console.log(`  #${String(h.seq).padEnd(3)} ${e.type.padEnd(20)} ${JSON.stringify(h.to).padEnd(14)} ${detail}`);
}

const firstThree = [1, 2, 3].map((i) => results[`sub${i}`]?.pid);
const rerun = firstThree.filter((pid) => pid !== workerA.pid).length;
console.log(`\nSub-tasks 1-3 re-run after the crash: ${rerun}. Task status: ${final.status}.`);
workerB?.kill('SIGTERM');
await client.close();
await new Promise((r) => setTimeout(r, 200));
process.exit(final.status === 'done' && rerun === 0 ? 0 : 1);
