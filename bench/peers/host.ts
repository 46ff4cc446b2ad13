/**
 * A benchmark host: one process per peer, started by bench/peers/index.ts
 * (fork with an IPC channel; context in PEERS_CTX). It sets the peer up once
 * and runs the slices of work the orchestrator asks for, so the peers take
 * turns on the same machine without sharing an event loop or a heap.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ctxFromEnv, loadPeer, PEERS_DIR, ROOT, type Peer } from './lib/peer.js';
import { nowMs, windowed, withTimeout } from './lib/stats.js';
import { checkParallel, checkResults } from './lib/work.js';

export type Command =
  | { cmd: 'setup' }
  | { cmd: 'warmup'; tasks: number; batch: number; concurrency: number }
  | { cmd: 'single'; n: number }
  | { cmd: 'batch'; tasks: number; concurrency: number }
  | { cmd: 'parallel'; n: number }
  | { cmd: 'crash'; timeoutMs: number }
  | { cmd: 'notes' }
  | { cmd: 'teardown' };

export interface CrashResult {
  /** Executions of steps 1..7, counted in a file the peer does not know about. */
  counts: number[];
  /** True when any of steps 1–3 ran more than once. */
  rerunEarly: boolean;
  /** Fresh process spawned → task complete (ms). */
  restartToDoneMs: number;
  /** Fresh process spawned → its worker ready (ms). */
  bootMs: number;
  /** Worker ready → task complete (ms). */
  readyToDoneMs: number;
}

const ctx = ctxFromEnv();
let peer: Peer | undefined;
let seq = 0;
const nextId = (kind: string) => `${ctx.runId}-${kind}-${++seq}`;

async function one(kind: 'task' | 'par'): Promise<number> {
  const id = nextId(kind);
  const t0 = nowMs();
  const r = kind === 'task' ? await peer!.runTask(id) : await peer!.runParallel(id);
  const ms = nowMs() - t0;
  if (kind === 'task') checkResults(id, r);
  else checkParallel(id, r);
  return ms;
}

/** A process of the crash child, with its stdout lines. */
class Child {
  readonly proc: ChildProcess;
  private buf = '';
  private readonly seen: Array<{ line: string; at: number }> = [];
  private waiters: Array<() => void> = [];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  private stderr = '';

  constructor(mode: 'start' | 'resume', taskId: string, execLog: string) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', path.join(PEERS_DIR, 'crash-child.ts'), mode, taskId], {
      cwd: ROOT,
      env: { ...process.env, PEERS_EXEC_LOG: execLog },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout!.on('data', (d: Buffer) => {
      const at = nowMs();
      this.buf += d.toString();
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.seen.push({ line: this.buf.slice(0, i), at });
        this.buf = this.buf.slice(i + 1);
      }
      this.wake();
    });
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => {
      resolve({ code, signal });
      this.wake();
    }));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Time (nowMs) at which `line` was printed; rejects on FAIL, exit or timeout. */
  async line(want: string, timeoutMs: number): Promise<number> {
    const deadline = nowMs() + timeoutMs;
    for (;;) {
      const hit = this.seen.find((l) => l.line === want);
      if (hit) return hit.at;
      const fail = this.seen.find((l) => l.line.startsWith('FAIL'));
      if (fail) throw new Error(`crash child failed: ${fail.line.slice(5, 1500)}`);
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(`crash child exited (${this.proc.exitCode ?? this.proc.signalCode}) before '${want}'; stderr: ${this.stderr.slice(-1500)}`);
      }
      const left = deadline - nowMs();
      if (left <= 0) throw new Error(`crash child: no '${want}' within ${timeoutMs} ms; stderr: ${this.stderr.slice(-1500)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

async function crashTrial(timeoutMs: number): Promise<CrashResult> {
  const taskId = nextId('crash');
  const execLog = path.join(process.env.PEERS_TMP ?? '/tmp', `exec-${ctx.peer}-${taskId}.log`);
  writeFileSync(execLog, '');
  const first = new Child('start', taskId, execLog);
  let second: Child | undefined;
  try {
    await first.line('CRASH', timeoutMs);
    first.proc.kill('SIGKILL'); // the pid is node itself: `node --import tsx crash-child.ts`
    await first.exited;
    const t0 = nowMs();
    second = new Child('resume', taskId, execLog);
    const ready = await second.line('READY', timeoutMs);
    const done = await second.line('DONE', timeoutMs);
    await withTimeout(second.exited, 10_000, 'the resumed crash child to exit').catch(() => second?.kill());
    const counts = [1, 2, 3, 4, 5, 6, 7].map(() => 0);
    for (const l of readFileSync(execLog, 'utf8').split('\n')) if (l) counts[Number(l) - 1]! += 1;
    return {
      counts,
      rerunEarly: counts.slice(0, 3).some((c) => c > 1),
      restartToDoneMs: done - t0,
      bootMs: ready - t0,
      readyToDoneMs: done - ready,
    };
  } finally {
    first.kill();
    second?.kill();
  }
}

async function handle(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case 'setup': {
      const mod = await loadPeer(ctx.peer);
      peer = mod.createPeer(ctx);
      await peer.setup();
      return { config: peer.config };
    }
    case 'warmup': {
      for (let i = 0; i < c.tasks; i++) await one('task');
      for (let i = 0; i < c.tasks; i++) await one('par');
      await windowed(c.batch, c.concurrency, () => one('task'));
      return null;
    }
    case 'single': {
      const ms: number[] = [];
      for (let i = 0; i < c.n; i++) ms.push(await one('task'));
      return ms;
    }
    case 'batch': {
      const lat: number[] = [];
      const t0 = nowMs();
      await windowed(c.tasks, c.concurrency, async () => void lat.push(await one('task')));
      return { elapsedMs: nowMs() - t0, latencies: lat };
    }
    case 'parallel': {
      const ms: number[] = [];
      for (let i = 0; i < c.n; i++) ms.push(await one('par'));
      return ms;
    }
    case 'crash':
      return crashTrial(c.timeoutMs);
    case 'notes':
      return peer?.notes?.() ?? [];
    case 'teardown':
      await peer?.teardown();
      return null;
  }
}

process.on('message', (m: { id: number; command: Command }) => {
  handle(m.command).then(
    (result) => process.send!({ id: m.id, ok: true, result }),
    (err: unknown) => process.send!({ id: m.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true });
