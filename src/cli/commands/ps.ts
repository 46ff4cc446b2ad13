import type { Command } from 'commander';
import type { TaskStatus } from '../../index.js';
import { parseCount, print, withClient } from '../context.js';
import { renderTasks } from '../render.js';

const STATUSES = ['active', 'done', 'error', 'stopped', 'quarantined'];

/** `baton ps [--status] [--machine] [--limit]`: list tasks, newest first. */
export function registerPs(program: Command): void {
  program
    .command('ps')
    .description('list tasks, newest first')
    .option('--status <status>', `only tasks with this status (${STATUSES.join(', ')})`)
    .option('--machine <name>', 'only tasks of this machine')
    .option('--limit <n>', 'at most n tasks', '100')
    .action(async (o: { status?: string; machine?: string; limit: string }, cmd: Command) => {
      if (o.status && !STATUSES.includes(o.status)) throw new Error(`unknown status '${o.status}' (one of ${STATUSES.join(', ')})`);
      const limit = parseCount('--limit', o.limit);
      const views = await withClient(cmd, (c) => c.list({ status: o.status as TaskStatus | undefined, machine: o.machine, limit }));
      print(cmd, views, () => renderTasks(views));
    });
}
