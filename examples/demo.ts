/**
 * Baton's demo: a research task that meets three failures for real.
 *
 *   1. A sub-task answers in an unexpected schema (repaired on a recovery
 *      path), and the worker process is SIGKILLed during sub-task 4: a
 *      standby worker waits for the dead one's lease to lapse, then resumes
 *      the task at sub-task 4 without re-running sub-tasks 1-3.
 *   2. Two reviewers run in parallel and conflict: both originals and the
 *      reconciled result are kept. The reconciler's answer streams through the
 *      task's durable stream, and is printed word by word as it comes.
 *   3. The user changes the scope mid-run: assessed at the next checkpoint,
 *      surfaced as a decision, answered, and the remaining plan follows it.
 *
 * `npm run demo` (a private Redis is started when REDIS_URL is unset).
 *
 * `npm run demo -- --ui [--port 4400]` also serves the web view, and the
 * decision waits for you: answer it in the browser. The demo, its Redis and
 * the web view keep running after the task ends, until Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createClient, type TaskView } from '../src/index.js';
import type { ParallelResult, StepsOutput } from '../src/index.js';
import { startUiServer, type UiServer } from '../src/cli/ui/server.js';
import { research, type SubResult, ranges } from './research/machine.js';

const argv = process.argv.slice(2);
const ui = argv.includes('--ui');
const portAt = argv.indexOf('--port');
const port = portAt >= 0 ? Number(argv[portAt + 1]) : 4400;

const prefix = `demo-${Date.now().toString(36)}`;
const taskId = 'research-1';
const t0 = Date.now();
const stamp = () => `${((Date.now() - t0) / 1000).toFixed(2)}s`.padStart(7);
/** The reconciler's answer is printed word by word as it streams in: its line stays open until anything else is printed. */
let liveLine = false;
const endLive = () => {
  if (liveLine) process.stdout.write('\n');
  liveLine = false;
};
const print = (...args: unknown[]) => {
  endLive();
  console.log(...args);
};
const say = (who: string, msg: string) => print(`${stamp()}  ${who.padEnd(10)} ${msg}`);

interface Worker {
  name: string;
  proc: ChildProcess;
  /** Its runtime's owner id, once ready. */
  owner?: string;
  ready: Promise<void>;
  exited: Promise<void>;
  alive: boolean;
}
const workers: Worker[] = [];
const nameOf = (pid: unknown) => workers.find((w) => w.proc.pid === Number(pid))?.name ?? `pid ${pid}`;
const ownerName = (owner: string | null) => workers.find((w) => w.owner === owner)?.name ?? owner ?? 'nobody';

/** "1-3, 5" */

/** What the resume line needs: worker B's wait for the lease and its first piece of work. */
const takeover: { waitedMs?: number; first?: string; told?: boolean } = {};
/** Commit at which each sub-task's result was committed. */
const keptAt = new Map<number, number>();

function tellResume() {
  if (takeover.told || takeover.waitedMs === undefined || takeover.first === undefined) return;
  takeover.told = true;
  const kept = [...keptAt.entries()].sort(([a], [b]) => a - b);
  say(
    'worker B',
    `took the lease after ${(takeover.waitedMs / 1000).toFixed(2)} s and resumes ${taskId} at ${takeover.first} with sub-tasks ${ranges(kept.map(([k]) => k))} kept ` +
      `(commits ${kept.map(([, seq]) => `#${seq}`).join(', ')}): they are not run again`,
  );
}

function startWorker(name: string, env: Record<string, string>): Worker {
  const proc = spawn(process.execPath, ['--import', 'tsx', new URL('./research/demo-worker.ts', import.meta.url).pathname], {
    env: { ...process.env, BATON_PREFIX: prefix, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let ready!: () => void;
  const w: Worker = { name, proc, alive: true, ready: new Promise<void>((r) => (ready = r)), exited: new Promise<void>((r) => proc.once('exit', () => r())) };
  proc.once('exit', (code, signal) => {
    w.alive = false;
    if (!stopping && !(signal === 'SIGKILL' && name === 'worker A')) say(name, `exited (${signal ?? code})`);
  });
  workers.push(w);
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let o: { standby?: boolean; ready?: boolean; owner?: string; waiting?: { owner: string | null; ttlMs: number; dueInMs: number | null; leaseMs: number }; took?: { waitedMs: number } };
    try {
      o = JSON.parse(line);
    } catch {
      return print(line);
    }
    if (o.standby) say(name, `on standby (pid ${proc.pid}): it starts its runtime if a worker dies`);
    if (o.waiting) {
      const { owner, ttlMs, dueInMs, leaseMs } = o.waiting;
      const due = dueInMs !== null && dueInMs > ttlMs ? `, and the task comes due for a takeover ${dueInMs - ttlMs} ms after that` : '';
      if (owner && ttlMs > 0) {
        say(
          name,
          `starts, and waits before taking ${taskId}: ${ownerName(owner)}'s lease on it runs ${ttlMs} ms more${due}. A lease nobody renews must lapse ` +
            `(leaseMs ${leaseMs}) before another process may take the task over, so a slow but live holder is never written over`,
        );
      } else say(name, `starts; the lease on ${taskId} has lapsed already${due}`);
    }
    if (o.ready) {
      w.owner = o.owner;
      say(name, `ready (pid ${proc.pid})`);
      ready();
    }
    if (o.took) {
      takeover.waitedMs = o.took.waitedMs;
      tellResume();
    }
  });
  return w;
}

function where(v: TaskView): string {
  const root = typeof v.value === 'string' ? v.value : JSON.stringify(v.value).replace(/"/g, '');
  const child = Object.values(v.children).find((c) => c.status === 'active' && c.value !== undefined);
  const inner = child ? ` > ${typeof child.value === 'string' ? child.value : JSON.stringify(child.value).replace(/"/g, '')}` : '';
  return `${root}${inner}`;
}

let stopping = false;
let server: UiServer | undefined;
let progressOff: (() => void) | undefined;
/** Stops the reader of the task's stream. */
const streamStop = new AbortController();
const client = createClient({ connection: process.env.REDIS_URL, prefix });

/** Stops the web view, the workers and the client, then exits with `code` (the first call's). */
let stopped: Promise<never> | undefined;
function shutdown(code: number): Promise<never> {
  stopped ??= (async () => {
    stopping = true;
    if (ui) say('demo', 'stopping the web view and the workers');
    await server?.close().catch(() => undefined);
    progressOff?.();
    streamStop.abort();
    for (const w of workers) if (w.alive) w.proc.kill('SIGTERM');
    const slow = setTimeout(() => workers.forEach((w) => w.alive && w.proc.kill('SIGKILL')), 5000);
    await Promise.all(workers.map((w) => w.exited));
    clearTimeout(slow);
    await client.close().catch(() => undefined);
    process.exit(code);
  })();
  return stopped;
}
// Ctrl-C: with --ui that is how the demo ends (exit 0); without, it cuts the run short.
process.on('SIGINT', () => void shutdown(ui ? 0 : 130));
process.on('SIGTERM', () => void shutdown(ui ? 0 : 143));

print('Baton demo: a research task meets a crash, a conflict and a change of scope\n');
if (ui) {
  server = await startUiServer({ client, machines: { research }, port });
  say('web view', `${server.url}  (open it: the task's statechart, its commits, and the decision to answer)`);
}
const workerA = startWorker('worker A', { STALL_AT: '3', MALFORMED: '2' });
const workerB = startWorker('worker B', { STANDBY: '1', WATCH_TASK: taskId });
await workerA.ready;

let killed = false;
let scopeSent = false;
let asked = false;
let answerShown = false;
let reviewShown = false;
let failuresSeen = 0;
const progress = client.onProgress(taskId, (p) => {
  const d = p.data as { pid: number; what: string; attempt?: number };
  if (Number(d.pid) === workerB.proc.pid && takeover.first === undefined) {
    takeover.first = d.what;
    tellResume();
  }
  say(nameOf(d.pid), `runs ${d.what}${d.attempt && d.attempt > 1 ? ` (attempt ${d.attempt})` : ''}`);
  if (!killed && d.what === 'sub-task 4' && Number(d.pid) === workerA.proc.pid) {
    killed = true;
    workerA.proc.kill('SIGKILL');
    say('worker A', 'SIGKILL during sub-task 4 (failure 1: the halfway crash)');
    workerB.proc.stdin!.write('start\n');
  }
});
await progress.ready;
progressOff = progress;

const done = new Promise<TaskView>((resolve) => {
  client.subscribe(taskId, (v) => {
    say('redis', `commit #${v.seq} ${where(v)}`);
    const steps = v.children.subtasks?.context as
      | { results?: Record<string, unknown>; failures?: Array<{ step: string; error: { name?: string; message?: string }; decision: string }> }
      | undefined;
    const have = Object.keys(steps?.results ?? {}).map((name) => Number(name.slice(3)));
    for (const k of keptAt.keys()) if (steps && !have.includes(k)) keptAt.delete(k); // re-opened by a 'redo'
    for (const k of have) if (!keptAt.has(k)) keptAt.set(k, v.seq);
    // The answer with the unexpected schema, marked where it comes.
    for (const f of (steps?.failures ?? []).slice(failuresSeen)) {
      if (f.error.name === 'InvalidAgentOutput') {
        const decided = f.decision.startsWith('recover:') ? `the step takes its recovery path '${f.decision.slice(8)}', which asks again in the strict format` : `decided: ${f.decision}`;
        say('task', `sub-task ${f.step.slice(3)} answered in an unexpected schema (failure 1): ${f.error.message} -- not kept; ${decided}`);
      } else say('task', `${f.step} failed: ${f.error.message} (decided: ${f.decision})`);
    }
    failuresSeen = steps?.failures?.length ?? failuresSeen;
    if (!scopeSent && steps?.results && 'sub2' in steps.results) {
      scopeSent = true;
      say('user', "sends { type: 'context.update', update: { scope: 'EU only' } } (failure 3: stale context)");
      void client.send(taskId, { type: 'context.update', update: { scope: 'EU only' }, by: 'ana' });
    }
    if (v.awaiting && !asked) {
      asked = true;
      say('task', `awaits a decision: "${v.awaiting.question}" options ${JSON.stringify(v.awaiting.options)}`);
      if (ui) {
        say('you', `answer it in the web view, ${server!.url} (task ${taskId}): it waits as long as it takes`);
      } else {
        say('user', "answers 'absorb'");
        void client.send(taskId, { type: 'decision', decision: v.awaiting.decision, choice: 'absorb', by: 'ana' });
      }
    }
    if (ui && asked && !answerShown && !v.awaiting) {
      answerShown = true;
      void client.history(taskId, { limit: 20 }).then((h) => {
        const e = h.reverse().find((x) => x.event.type === 'decision')?.event as { choice?: string; by?: string } | undefined;
        if (e) say('you', `answered '${e.choice}' (by ${e.by ?? 'unknown'})`);
      });
    }
    const review = (v.context as { review?: ParallelResult }).review;
    if (review && !reviewShown) {
      reviewShown = true;
      print(`\n          conflict (failure 2): ${review.conflict?.summary}`);
      for (const [name, out] of Object.entries(review.originals)) print(`            original ${name.padEnd(11)} ${JSON.stringify(out)}`);
      print(`            reconciled by ${review.decidedBy}: ${JSON.stringify(review.reconciled)}\n`);
    }
    if (v.status !== 'active') resolve(v);
  });
});

await client.spawn('research', { id: taskId, input: { topic: 'solid-state batteries', scope: 'global', ...(ui ? { decisionDeadlineMs: null } : {}) } });
say('client', `spawned ${taskId}`);

// The task's durable stream, followed live: what agents write with `stream.write` (the reconciler's answer, word by
// word) as it is written, whichever worker writes it. It ends when the task ends.
const streamed = (async () => {
  let begun = false;
  for await (const item of client.stream(taskId, { signal: streamStop.signal })) {
    if (item.kind === 'attempt' && item.attempt > 1) say('reconciler', `starts again (attempt ${item.attempt}): what it wrote before is superseded`);
    if (item.kind !== 'chunk') continue;
    if (!liveLine) process.stdout.write(`${stamp()}  ${'reconciler'.padEnd(10)} ${begun ? '… ' : ''}`);
    liveLine = begun = true;
    process.stdout.write(String(item.data));
  }
  endLive();
})().catch((err: Error) => {
  if (!stopping) say('demo', `reading the task's stream failed: ${err.message}`);
});
const final = ui
  ? await done
  : await Promise.race([done, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the demo did not finish within 60 s')), 60_000).unref())]);
progressOff();
progressOff = undefined;
await streamed; // the stream's end follows the task's

const out = final.output as { steps: StepsOutput; review: ParallelResult; report: unknown };
print('\nSummary');
print(`  status: ${final.status}, ${final.seq} commits, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
const results = out.steps.results as Record<string, SubResult>;
for (let i = 1; i <= 7; i++) {
  const r = results[`sub${i}`];
  const note = out.steps.recovered[`sub${i}`] ? `  (recovered by '${out.steps.recovered[`sub${i}`]}' after: ${out.steps.failures.find((f) => f.step === `sub${i}`)?.error.message})` : '';
  print(`  sub-task ${i}  ${r ? nameOf(r.pid).padEnd(9) : '(skipped) '} ${r?.finding ?? ''}${note}`);
}
for (const d of out.steps.decisions) print(`  decision: ${d.decision} -> '${d.choice}' by ${d.by} (${d.source})`);
print(`  scope at the end: ${out.steps.input.scope}`);
print(`  report: ${JSON.stringify(out.report)}`);

const history = await client.history(taskId, { limit: 200 });
print(`\nAudit trail (${history.length} commits)`);
for (const h of history) {
  const e = h.event as { type: string; jobId?: string; choice?: string; update?: unknown };
  const detail = e.jobId ? e.jobId.replace(`${taskId}.`, 'job ') : e.choice ? `choice '${e.choice}'` : e.update ? JSON.stringify(e.update) : '';
  print(`  #${String(h.seq).padEnd(3)} ${e.type.padEnd(20)} ${JSON.stringify(h.to).padEnd(14)} ${detail}`);
}

const firstThree = [1, 2, 3].map((i) => results[`sub${i}`]?.pid);
const rerun = firstThree.filter((pid) => pid !== workerA.proc.pid).length;
print(`\nSub-tasks 1-3 re-run after the crash: ${rerun}. Task status: ${final.status}.`);

if (ui) {
  print(`\nThe web view stays up at ${server!.url} with the private Redis; Ctrl-C ends the demo.`);
  print(`To use the CLI on it meanwhile, in another terminal:\n  export REDIS_URL=${process.env.REDIS_URL} BATON_PREFIX=${prefix}\n  npx baton --prefix ${prefix} ps`);
  await new Promise(() => setInterval(() => undefined, 1 << 30)); // until SIGINT
}
await shutdown(final.status === 'done' && rerun === 0 ? 0 : 1);
