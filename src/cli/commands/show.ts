import type { Command } from 'commander';
import { print, withClient } from '../context.js';
import { renderDetail } from '../render.js';
import { readDetail } from '../task-detail.js';

/** `baton show <id>`: state, context, children and agent jobs, pending timers, decisions. */
export function registerShow(program: Command): void {
  program
    .command('show <id>')
    .description('state, context, children and agents, pending timers and decisions of a task')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const detail = await withClient(cmd, (c) => readDetail(c, id));
      print(cmd, detail, () => renderDetail(detail));
    });
}
