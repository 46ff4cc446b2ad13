import type { Command } from 'commander';
import { parseCount, print, withClient } from '../context.js';
import { colors, statusText } from '../format.js';
import { startProgress, taskLine } from '../progress.js';

/** `baton stop <id> [--timeout]`: stop a task and wait until it has stopped, with a progress line on a terminal. */
export function registerStop(program: Command): void {
  program
    .command('stop <id>')
    .description('stop a task (its in-flight agent jobs are cancelled) and wait until it has stopped')
    .option('--timeout <ms>', 'wait at most this long', '30000')
    .action(async (id: string, o: { timeout: string }, cmd: Command) => {
      const timeout = parseCount('--timeout', o.timeout);
      const progress = startProgress(`stopping ${id}`);
      const view = await withClient(cmd, async (c) => {
        const off = c.subscribe(id, (v) => progress.update(`stopping ${taskLine(v)}`));
        await off.ready;
        try {
          return await c.stop(id, { timeout });
        } finally {
          off();
          progress.stop();
        }
      });
      print(cmd, view, () => `${colors().bold(id)}: ${statusText(view.status)}`);
    });
}
