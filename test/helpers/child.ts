// Run a TypeScript file in a separate node process (for crash / kill -9 tests).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { killedOnExit } from './reap.ts';

/** Repository root (test/helpers/../..). */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export type LinePredicate = string | RegExp | ((line: string) => boolean);

export interface RunChildOptions {
  /** Merged over process.env. */
  env?: Record<string, string>;
  args?: string[];
}

export interface ChildExit {
  code: number | null;
  signal: string | null;
}

export interface ChildHandle {
  /** pid of the node process itself (not a wrapper). */
  pid: number;
  proc: ChildProcess;
  /** stdout and stderr lines in arrival order. */
  lines: string[];
  /**
   * Resolves with the first line (at index >= from, default 0, so lines already
   * printed count) matching predicate: a string matches as a substring. Rejects
   * on timeout (default 10 s) or if the child exits first.
   */
  waitForLine(predicate: LinePredicate, timeout?: number, from?: number): Promise<string>;
  /** Like waitForLine over lines starting with '{' that parse as JSON. */
  waitForJson<T = any>(predicate: (o: any) => boolean, timeout?: number, from?: number): Promise<T>;
  /** Sends signal (default SIGKILL) and waits for exit. No-op if already exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  exited: Promise<ChildExit>;
}

/** Every child started here, killed synchronously if the test process exits. */
const live = killedOnExit();

function toMatcher(p: LinePredicate): (line: string) => boolean {
  if (typeof p === 'string') return (l) => l.includes(p);
  if (p instanceof RegExp) return (l) => p.test(l);
  return p;
}

function parseJson(line: string): unknown {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Spawns `node --import tsx <file> ...args` with cwd = repo root.
 * Set BATON_TEST_ECHO=1 to echo the child's output to stderr.
 */
export function runChild(file: string, opts: RunChildOptions = {}): ChildHandle {
  const proc = spawn(process.execPath, ['--import', 'tsx', file, ...(opts.args ?? [])], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) throw new Error(`could not spawn node for ${file}`);
  live.add(proc);

  const lines: string[] = [];
  const listeners = new Set<() => void>();
  const echo = process.env.BATON_TEST_ECHO === '1';
  let exit: ChildExit | undefined;
  let openStreams = 0;

  const notify = () => {
    for (const l of [...listeners]) l();
  };

  // `exited` resolves after the process exit AND both output streams are drained,
  // so every line printed before exit is in `lines`.
  let resolveExited!: (e: ChildExit) => void;
  const exited = new Promise<ChildExit>((r) => (resolveExited = r));
  let processExit: ChildExit | undefined;
  const maybeDone = () => {
    if (processExit && openStreams === 0 && !exit) {
      exit = processExit;
      live.delete(proc);
      resolveExited(exit);
      notify();
    }
  };

  for (const [name, stream] of [['out', proc.stdout], ['err', proc.stderr]] as const) {
    if (!stream) continue;
    openStreams++;
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    rl.on('line', (line) => {
      lines.push(line);
      if (echo) process.stderr.write(`[child ${proc.pid} ${name}] ${line}\n`);
      notify();
    });
    rl.on('close', () => {
      openStreams--;
      maybeDone();
    });
  }
  proc.on('exit', (code, signal) => {
    processExit = { code, signal };
    maybeDone();
    // A grandchild may keep the pipes open: do not wait for them forever.
    setTimeout(() => {
      openStreams = 0;
      maybeDone();
    }, 2000).unref();
  });
  proc.on('error', (err) => {
    processExit = { code: null, signal: null };
    lines.push(`[spawn error] ${err.message}`);
    openStreams = 0;
    maybeDone();
  });

  function waitFor<R>(
    test: (line: string) => R | undefined,
    what: string,
    timeout: number,
    from: number,
  ): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let next = Math.max(from, 0);
      const cleanup = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      const tailText = () => lines.slice(-20).join('\n');
      const check = () => {
        for (; next < lines.length; next++) {
          const r = test(lines[next] ?? '');
          if (r !== undefined) {
            cleanup();
            resolve(r);
            return;
          }
        }
        if (exit) {
          cleanup();
          reject(
            new Error(
              `child ${proc.pid} (${file}) exited (code ${exit.code}, signal ${exit.signal}) before ${what}; last output:\n${tailText()}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeout} ms waiting for ${what} from child ${proc.pid} (${file}); last output:\n${tailText()}`));
      }, timeout);
      listeners.add(check);
      check();
    });
  }

  return {
    pid: proc.pid,
    proc,
    lines,
    waitForLine(predicate, timeout = 10_000, from = 0) {
      const match = toMatcher(predicate);
      return waitFor((l) => (match(l) ? l : undefined), `a line matching ${String(predicate)}`, timeout, from);
    },
    waitForJson<T = any>(predicate: (o: any) => boolean, timeout = 10_000, from = 0) {
      return waitFor<T>(
        (l) => {
          const o = parseJson(l);
          return o !== undefined && predicate(o) ? (o as T) : undefined;
        },
        'a matching JSON line',
        timeout,
        from,
      );
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!exit && proc.exitCode === null && proc.signalCode === null) {
        try {
          proc.kill(signal);
        } catch {
          /* already gone */
        }
      }
      await exited;
    },
    exited,
  };
}
