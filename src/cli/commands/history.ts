import type { Command } from 'commander';
import { TaskNotFoundError } from '../../index.js';
import { parseCount, print, withClient } from '../context.js';
import { renderHistory } from '../render.js';

/** `baton history <id> [--limit]`: committed transitions, oldest first. */
export function registerHistory(program: Command): void {
  program
    .command('history <id>')
    .description('committed transitions of a task, oldest first')
    .option('--limit <n>', 'the last n entries', '50')
    .action(async (id: string, o: { limit: string }, cmd: Command) => {
      const limit = parseCount('--limit', o.limit);
      const entries = await withClient(cmd, async (c) => {
        if (!(await c.get(id))) throw new TaskNotFoundError(id);
        return c.history(id, { limit });
      });
      print(cmd, entries, () => renderHistory(entries));
    });
}
