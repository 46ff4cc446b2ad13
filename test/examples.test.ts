import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runChild } from './helpers/index.js';

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
  }, 90_000);
});
