/** Child processes of the benchmark (`node [flags] --import tsx bench/<file>.ts`), never left behind. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** JSON lines printed on stdout so far. */
  readonly json: Array<Record<string, unknown>>;
  /** Resolves with the first JSON line that satisfies `pred` (rejects after `timeoutMs` or on exit). */
  waitFor(pred: (o: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Send `signal` and wait for the exit (SIGKILL after `graceMs`). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

const live = new Set<Child>();

/**
 * Start `bench/<file>` with `env` added to this process's environment; stderr
 * is passed through. With `stdin`, the child's stdin is a pipe (`proc.stdin`)
 * for commands to it.
 */
export function startChild(file: string, env: Record<string, string>, nodeFlags: string[] = [], opts: { stdin?: boolean } = {}): Child {
  const proc = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', path.join('bench', file)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'inherit'],
  });
  const json: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      try {
        json.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        continue;
      }
      for (const w of [...waiters]) w();
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
      for (const w of [...waiters]) w();
    });
    proc.on('error', () => resolve({ code: null, signal: null }));
  });
  const child: Child = {
    proc,
    pid: proc.pid ?? -1,
    json,
    exited,
    waitFor(pred, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`bench/${file}: no expected output within ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          const hit = json.find(pred);
          if (hit || proc.exitCode !== null || proc.signalCode !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            if (hit) resolve(hit);
            else reject(new Error(`bench/${file} exited (${proc.exitCode ?? proc.signalCode}) before the expected output`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  live.add(child);
  return child;
}

/** SIGKILL every child still running (on the way out, whatever happened). */
export async function killChildren(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop('SIGKILL', 1000)));
}
