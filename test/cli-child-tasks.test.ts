// Child tasks (fromTask) from the terminal and the web view: `baton ps --tree`
// indents each task's child tasks under it, `--parent` lists one task's
// children, `baton show` names a child task's parent and a parent's child
// tasks, and the web view's task JSON, and the HTML its page renders from it,
// link parent and children both ways. The command runs as users run it
// (bin/baton.mjs in a child process); a runtime in this process runs the tasks.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime, TaskView } from '../src/index.js';
import type { TaskDetail } from '../src/cli/task-detail.js';
import { createUiApp } from '../src/cli/ui/server.js';
import { batonJson as json, batonLines } from './helpers/baton-cli.ts';
import { uniquePrefix, waitUntil } from './helpers/index.ts';
import { useBaton } from './helpers/setup.ts';
import { taskMachines } from './fixtures/task-machines.ts';

/** The page's renderers (plain browser JavaScript, no types): what the web view draws from the JSON. */
interface Panels {
  headerHtml(view: TaskView): string;
  childrenHtml(detail: TaskDetail, progress: Record<string, unknown>): string;
  taskRowHtml(view: TaskView, selected: boolean): string;
}
const PANELS = '../src/cli/ui/public/panels.js';

const prefix = uniquePrefix('cli-tasks');
const baton = useBaton({ close: 'all' });
const square = async ({ input }: { input: { n: number } }) => ({ sq: input.n * input.n });
let runtime: Runtime;
/** Child task ids of `fan` (done) and `sf` (three waiters, active), as the runtime lists them. */
let fanKids: string[];
let sfKids: string[];

/** The task ids an HTML fragment links to (`<a class="task-link" href="#task=<id>">`). */
const linkedTasks = (html: string) => [...html.matchAll(/<a class="task-link" href="#task=([^"]+)"/g)].map((m) => decodeURIComponent(m[1]!)).sort();
/** A `ps` line's id cell: its indentation, tree mark and id. */
const idCell = (line: string) => /^( *(?:└ )?)(\S+)/.exec(line) ?? ['', '', ''];

beforeAll(async () => {
  runtime = await baton.runtime(prefix, { machines: taskMachines(3), agents: { square } });
  await runtime.spawn('fanout', { id: 'fan' });
  await runtime.spawn('stopFanout', { id: 'sf' });
  await runtime.spawn('chain', { id: 'ch', input: { depth: 2 } });
  await runtime.handle('fan').waitFor((v) => v.status === 'done', { timeout: 20_000 });
  sfKids = await waitUntil(
    async () => {
      const kids = await runtime.list({ parent: 'sf' });
      return kids.length === 3 && kids.every((k) => k.seq >= 1) ? kids.map((k) => k.id).sort() : undefined;
    },
    { timeout: 20_000, message: 'three running children of sf' },
  );
  await waitUntil(async () => (await runtime.list({ machine: 'chain' })).some((v) => v.value === 'last'), { timeout: 20_000, message: 'a chain three tasks deep' });
  fanKids = (await runtime.list({ parent: 'fan' })).map((k) => k.id).sort();
  expect(fanKids).toHaveLength(3);
});

describe('child tasks in the CLI and the web view', () => {
  it('ps --tree indents child tasks under their parent, recursively; plain ps stays flat; --parent lists one task\'s children', async () => {
    const [flat, tree, treeJson, sfJson, sfLines, none] = await Promise.all([
      batonLines(prefix, ['ps']),
      batonLines(prefix, ['ps', '--tree']),
      json<TaskView[]>(prefix, ['ps', '--tree']),
      json<TaskView[]>(prefix, ['ps', '--parent', 'sf']),
      batonLines(prefix, ['ps', '--parent', 'sf']),
      batonLines(prefix, ['ps', '--parent', 'no-such-task']),
    ]);
    // Same columns either way; without --tree every id starts the line.
    expect(flat[0]).toMatch(/^ID\s+MACHINE\s+STATUS\s+SEQ\s+UPDATED\s+STATE$/);
    expect(tree[0]).toMatch(/^ID\s+MACHINE\s+STATUS\s+SEQ\s+UPDATED\s+STATE$/);
    expect(flat.slice(1).every((l) => /^\S/.test(l))).toBe(true);
    expect(flat).toHaveLength(tree.length);

    const rows = tree.slice(1);
    const at = (id: string) => rows.findIndex((l) => idCell(l)[2] === id);
    // Each parent at the margin, its three child tasks right after it, one level in, each once.
    for (const [parent, kids, machine, status] of [['fan', fanKids, 'leaf', 'done'], ['sf', sfKids, 'waiter', 'active']] as const) {
      const i = at(parent);
      expect(idCell(rows[i]!)[1], rows.join('\n')).toBe('');
      const below = rows.slice(i + 1, i + 4);
      expect(below.map((l) => idCell(l)[2]).sort()).toEqual(kids);
      for (const l of below) {
        expect(idCell(l)[1]).toBe('  └ ');
        expect(l).toMatch(new RegExp(`^  └ \\S+\\s+${machine}\\s+${status}\\s`));
      }
      for (const k of kids) expect(rows.filter((l) => idCell(l)[2] === k)).toHaveLength(1);
    }
    // A grandchild one level further in, under its own parent.
    const chain = rows.filter((l) => idCell(l)[2].startsWith('ch'));
    expect(chain.map((l) => idCell(l)[1])).toEqual(['', '  └ ', '    └ ']);
    expect(rows.indexOf(chain[2]!)).toBe(rows.indexOf(chain[1]!) + 1);
    expect(rows.indexOf(chain[1]!)).toBe(rows.indexOf(chain[0]!) + 1);

    // --json with --tree: the views, in the order drawn.
    expect(treeJson.map((v) => v.id)).toEqual(rows.map((l) => idCell(l)[2]));
    const sfAt = treeJson.findIndex((v) => v.id === 'sf');
    expect(treeJson.slice(sfAt + 1, sfAt + 4).every((v) => v.parent === 'sf')).toBe(true);

    // --parent: the child tasks of that task, and nothing else.
    expect(sfJson.map((v) => v.id).sort()).toEqual(sfKids);
    expect(sfJson.every((v) => v.parent === 'sf' && v.machine === 'waiter')).toBe(true);
    expect(sfLines.slice(1).map((l) => idCell(l)[2]).sort()).toEqual(sfKids);
    expect(none).toEqual(['(no tasks)']);
  });

  it('show names a child task\'s parent, and a parent\'s child actors by their task ids and machines', async () => {
    const [child, parent, childJson] = await Promise.all([
      batonLines(prefix, ['show', sfKids[0]!]),
      batonLines(prefix, ['show', 'sf']),
      json<TaskDetail>(prefix, ['show', sfKids[0]!]),
    ]);
    expect(child[0]).toMatch(new RegExp(`^${sfKids[0]!.replace(/\./g, '\\.')}\\s+waiter@1\\s+active$`));
    expect(child).toContain('  parent   sf');
    expect(childJson.view.parent).toBe('sf');
    expect(parent.some((l) => /^\s+parent\s/.test(l))).toBe(false); // a root task has none
    const shown = parent.filter((l) => l.includes('→ task'));
    expect(shown).toHaveLength(3);
    for (const id of sfKids) expect(shown.some((l) => new RegExp(`^\\s+t\\d\\s+child\\s+active\\s+→ task ${id.replace(/\./g, '\\.')} \\(waiter\\)$`).test(l))).toBe(true);
  });

  it('web view: the task JSON names parent and child tasks; the page\'s header, children and list rows link to them', async () => {
    const panels = (await import(PANELS)) as Panels;
    const app = createUiApp({ client: baton.client(prefix) });
    const get = async <T>(path: string) => {
      const res = await app.request(path);
      expect(res.status, path).toBe(200);
      return (await res.json()) as T;
    };
    const [child, parent, listed, all] = await Promise.all([
      get<TaskDetail>(`/api/tasks/${encodeURIComponent(sfKids[0]!)}`),
      get<TaskDetail>('/api/tasks/sf'),
      get<TaskView[]>('/api/tasks?parent=sf'),
      get<TaskView[]>('/api/tasks?limit=100'),
    ]);
    // The child's page: its parent, as a link to the parent's page.
    expect(child.view.parent).toBe('sf');
    expect(linkedTasks(panels.headerHtml(child.view))).toEqual(['sf']);
    // The parent's page: no parent link, each child task a link to its page.
    expect(linkedTasks(panels.headerHtml(parent.view))).toEqual([]);
    expect(Object.values(parent.view.children).map((c) => [c.task, c.machine]).sort()).toEqual(sfKids.map((id) => [id, 'waiter']));
    expect(linkedTasks(panels.childrenHtml(parent, {}))).toEqual(sfKids);
    // The list: `parent=` filters like `ps --parent`; a child task's row links its parent, a root's links nothing.
    expect(listed.map((v) => v.id).sort()).toEqual(sfKids);
    for (const v of listed) expect(linkedTasks(panels.taskRowHtml(v, false))).toEqual(['sf']);
    expect(all.length).toBeGreaterThanOrEqual(9);
    for (const v of all) expect(linkedTasks(panels.taskRowHtml(v, false))).toEqual(v.parent ? [v.parent] : []);
  });
});
