// Running the `baton` command as users run it: bin/baton.mjs in a child process
// against the test Redis (stdout is a pipe, so no colour).
import { execFile } from 'node:child_process';
import { expect } from 'vitest';
import { REPO_ROOT } from './child.ts';
import { redisUrl } from './redis-url.ts';

export interface BatonRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `node bin/baton.mjs --prefix <prefix> ...args` and collect its output. */
export function baton(prefix: string, args: string[]): Promise<BatonRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/baton.mjs', '--prefix', prefix, ...args],
      { cwd: REPO_ROOT, env: { ...process.env, REDIS_URL: redisUrl() }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Run with `--json`: exit 0, nothing on stderr, and the parsed output. */
export async function batonJson<T>(prefix: string, args: string[]): Promise<T> {
  const r = await baton(prefix, [...args, '--json']);
  expect(r.stderr, `baton ${args.join(' ')}`).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** Run for people: exit 0, nothing on stderr, no colour; the printed lines. */
export async function batonLines(prefix: string, args: string[]): Promise<string[]> {
  const r = await baton(prefix, args);
  expect(r.stderr, `baton ${args.join(' ')}`).toBe('');
  expect(r.code, r.stdout).toBe(0);
  expect(r.stdout).not.toMatch(/\u001b\[/);
  return r.stdout.trimEnd().split('\n');
}

/** A failure: exit 1, stdout empty, one line on stderr; that line. */
export async function batonFailure(prefix: string, args: string[]): Promise<string> {
  const r = await baton(prefix, args);
  expect(r.code, r.stdout).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^baton: /);
  return lines[0]!;
}
