import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runChild, startSentinelGroup, waitUntil } from './helpers/index.js';

// The README shows examples/quickstart.ts and runs examples/demo.ts: both must work as printed.
describe('examples', () => {
  it('quickstart prints what the README says', async () => {
    const child = runChild('examples/quickstart.ts');
    const exit = await child.exited;
    expect(exit.code, child.lines.join('\n')).toBe(0);
    expect(child.lines).toContain("approved { notes: 1 }");
    expect(child.lines).toContain("[ '1 baton.spawn', '2 note', '3 approve' ]");
  });

  it('checked-client prints what the README says, and the README shows the file as it is', async () => {
    const file = readFileSync('examples/checked-client.ts', 'utf8');
    expect(readFileSync('README.md', 'utf8')).toContain('```ts\n' + file + '```');
    const child = runChild('examples/checked-client.ts');
    const exit = await child.exited;
    expect(exit.code, child.lines.join('\n')).toBe(0);
    expect(child.lines.slice(0, 5)).toEqual(['UNKNOWN_MACHINE', 'INVALID_EVENT', 'INVALID_EVENT', 'INVALID_EVENT', 'accepted']);
    expect(child.lines).toContain("{ notes: [ 'ship it' ] } [ 'does not match its schema: text: blank' ]");
  });

  it('child-tasks prints what the README says, and the README shows the file as it is', async () => {
    const file = readFileSync('examples/child-tasks.ts', 'utf8');
    expect(readFileSync('README.md', 'utf8')).toContain('```ts\n' + file + '```');
    const child = runChild('examples/child-tasks.ts');
    const exit = await child.exited;
    const out = child.lines.join('\n');
    expect(exit.code, out).toBe(0);
    expect(out).toContain("verdict: '3 chapters: approved'");
    for (const line of ["'book.1.chapter1 done'", "'book.1.chapter2 error'", "'book.1.chapter2.r2 done'", "'book.1.chapter3 done'"]) expect(out).toContain(line);
  });

  it('high-availability runs on a Sentinel group as printed, and the README shows the file as it is', async () => {
    const file = readFileSync('examples/high-availability.ts', 'utf8');
    expect(readFileSync('README.md', 'utf8')).toContain('```ts\n' + file + '```');
    const group = await startSentinelGroup(3);
    try {
      const child = runChild('examples/high-availability.ts', { env: { BATON_SENTINEL_URL: group.url } });
      const exit = await child.exited;
      expect(exit.code, child.lines.join('\n')).toBe(0);
      expect(child.lines).toContain("{ entries: [ 'opened', 'paid' ] }");
    } finally {
      await group.stop();
    }
  }, 60_000);

  it('demo: the research task survives a SIGKILL, a conflict and a scope change', async () => {
    const child = runChild('examples/demo.ts');
    const exit = await child.exited;
    const out = child.lines.join('\n');
    expect(exit.code, out).toBe(0);
    expect(out).toContain('SIGKILL during sub-task 4');
    expect(out).toContain('Sub-tasks 1-3 re-run after the crash: 0. Task status: done.');
    for (const n of [1, 2, 3]) expect(out).toMatch(new RegExp(`sub-task ${n}  worker A`));
    for (const n of [5, 6, 7]) expect(out).toMatch(new RegExp(`sub-task ${n}  worker B`));
    expect(out).toMatch(/recovered by 'repair'/);
    expect(out).toMatch(/original regulatory .*no-go/);
    expect(out).toMatch(/original technical .*"go"/);
    expect(out).toMatch(/reconciled by agent:llm-reconciler/);
    expect(out).toContain("decision: context.update -> 'absorb' by ana (answer)");
    expect(out).toContain('scope at the end: EU only');

    // Each failure is named where it happens, not only in the summary.
    const at = (re: RegExp) => child.lines.findIndex((l) => re.test(l));
    const summary = child.lines.indexOf('Summary');
    const schema = at(/task +sub-task 3 answered in an unexpected schema \(failure 1\): agent 'subtask' output: .* recovery path 'repair'/);
    const kill = at(/SIGKILL during sub-task 4/);
    const waits = at(/worker B +starts, and waits before taking research-1: worker A's lease on it runs \d+ ms more/);
    const resumes = at(/worker B +took the lease after [\d.]+ s and resumes research-1 at sub-task 4 with sub-tasks 1-3 kept \(commits #\d+, #\d+, #\d+\): they are not run again/);
    expect([schema, kill, waits, resumes].every((i) => i >= 0), out).toBe(true);
    expect(schema).toBeLessThan(kill);
    expect(kill).toBeLessThan(waits);
    expect(waits).toBeLessThan(resumes);
    expect(resumes).toBeLessThan(summary);
    // The reconciler's answer is printed as it streams in from the task's durable stream: all of it, in order
    // (a line another line cut short goes on in a line of its own, marked '… '), before its result is committed.
    const streamed = child.lines.flatMap((l, i) => {
      const m = /^ *[\d.]+s  reconciler (?:… )?(.*)$/.exec(l);
      return m ? [{ i, text: m[1]! }] : [];
    });
    expect(streamed.length, out).toBeGreaterThan(0);
    expect(streamed.map((s) => s.text).join('').trimEnd()).toBe(
      '{ "verdict": "go-with-conditions", "rationale": "Technically feasible; proceed only within the regulatory limits the regulatory review names." }',
    );
    expect(streamed[0]!.i).toBeLessThan(at(/reconciled by agent:llm-reconciler/));
    // The commits it names are the ones that committed sub-tasks 1-3.
    const [c1, c2, c3] = [...child.lines[resumes]!.matchAll(/#(\d+)/g)].map((m) => Number(m[1]));
    const trail = (seq: number | undefined) => child.lines.find((l) => l.startsWith(`  #${String(seq).padEnd(3)} `)) ?? '';
    expect(trail(c1)).toMatch(/baton\.agent\.result .*step_0\.running/);
    expect(trail(c2)).toMatch(/baton\.agent\.result .*step_1\.running/);
    expect(trail(c3)).toMatch(/baton\.agent\.result .*step_2\.recover_repair/);
  }, 90_000);

  it('demo --ui: serves the web view, the task waits at its decision until a person answers, Ctrl-C ends it cleanly', async () => {
    const child = runChild('examples/demo.ts', { args: ['--ui', '--port', '0'] });
    try {
      const url = (await child.waitForLine(/web view +http:\/\/127\.0\.0\.1:\d+\//, 30_000)).match(/http:\/\/\S+\//)![0];
      // The task is listed, waiting at its decision (no deadline: it waits for the person).
      const listed = await waitUntil(
        async () => {
          const tasks = (await (await fetch(`${url}api/tasks`)).json()) as Array<{ id: string; status: string; awaiting?: { decision: string; options: string[]; deadline?: number } }>;
          return tasks.find((t) => t.id === 'research-1' && t.awaiting);
        },
        { timeout: 30_000, message: 'research-1 waiting at its decision in /api/tasks' },
      );
      expect(listed.status).toBe('active');
      expect(listed.awaiting).toMatchObject({ decision: 'context.update', options: ['absorb', 'redo', 'ignore'] });
      expect(listed.awaiting!.deadline).toBeUndefined();
      await child.waitForLine(/you +answer it in the web view/, 10_000);
      expect(child.lines.some((l) => /user +answers/.test(l))).toBe(false); // nobody answered for the person

      // Answered as the page does: POST the decision to the server.
      const res = await fetch(`${url}api/tasks/research-1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'decision', decision: 'context.update', choice: 'absorb', by: 'newcomer' }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ applied: true });
      await child.waitForLine(/you +answered 'absorb' \(by newcomer\)/, 10_000);
      const detail = await waitUntil(
        async () => {
          const d = (await (await fetch(`${url}api/tasks/research-1`)).json()) as { view: { status: string; output?: { scope: string } } };
          return d.view.status === 'done' ? d.view : undefined;
        },
        { timeout: 30_000, message: 'research-1 done' },
      );
      expect(detail.output?.scope).toBe('EU only');
      await child.waitForLine('Ctrl-C ends the demo', 10_000);
      // Still serving after the task ended.
      expect((await fetch(`${url}api/tasks`)).status).toBe(200);

      await child.kill('SIGINT');
      expect(await child.exited).toEqual({ code: 0, signal: null });
      await expect(fetch(`${url}api/tasks`)).rejects.toThrow(); // the web view is closed
    } finally {
      await child.kill('SIGKILL');
    }
  }, 90_000);
});
