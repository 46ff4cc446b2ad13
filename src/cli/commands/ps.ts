import type { Command } from 'commander';
import type { TaskStatus } from '../../index.js';
import { parseCount, print, withClient } from '../context.js';
import { renderTasks } from '../render.js';
import { taskTree } from '../tree.js';

const STATUSES = ['active', 'done', 'error', 'stopped', 'quarantined'];

interface PsOptions {
  status?: string;
  machine?: string;
  parent?: string;
  tree?: boolean;
  limit: string;
}

/**
 * `baton ps [--status] [--machine] [--parent] [--tree] [--limit]`: list tasks,
 * newest first; `--parent` only the child tasks of a task, `--tree` each task
 * followed by its child tasks, indented (with `--json`, the views in that order).
 */
export function registerPs(program: Command): void {
  program
    .command('ps')
    .description('list tasks, newest first')
    .option('--status <status>', `only tasks with this status (${STATUSES.join(', ')})`)
    .option('--machine <name>', 'only tasks of this machine')
    .option('--parent <id>', 'only the child tasks of this task')
    .option('--tree', 'child tasks indented under their parent')
    .option('--limit <n>', 'at most n tasks', '100')
    .action(async (o: PsOptions, cmd: Command) => {
      if (o.status && !STATUSES.includes(o.status)) throw new Error(`unknown status '${o.status}' (one of ${STATUSES.join(', ')})`);
      const limit = parseCount('--limit', o.limit);
      const views = await withClient(cmd, (c) => c.list({ status: o.status as TaskStatus | undefined, machine: o.machine, parent: o.parent, limit }));
      const shown = o.tree ? taskTree(views).map((r) => r.view) : views;
      print(cmd, shown, () => renderTasks(views, { tree: o.tree }));
    });
}
