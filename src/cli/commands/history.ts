import type { Command } from 'commander';
import { TaskNotFoundError } from '../../index.js';
import { globals, parseCount, print, withClient } from '../context.js';
import { namerFor, type AgentNamer } from '../jobs.js';
import { renderHistory } from '../render.js';

/**
 * `baton history <id> [--limit]`: committed transitions, oldest first. States
 * print as dotted paths, refused events with their reason, agent outcomes
 * with the agent and the commit that started it; `--json` is the raw entries.
 */
export function registerHistory(program: Command): void {
  program
    .command('history <id>')
    .description('committed transitions of a task, oldest first: states as dotted paths, refused events with their reason, agent jobs by agent and commit')
    .option('--limit <n>', 'the last n entries', '50')
    .action(async (id: string, o: { limit: string }, cmd: Command) => {
      const limit = parseCount('--limit', o.limit);
      const { entries, namer } = await withClient(cmd, async (c) => {
        const view = await c.get(id);
        if (!view) throw new TaskNotFoundError(id);
        const entries = await c.history(id, { limit });
        const namer: AgentNamer | undefined = globals(cmd).json ? undefined : await namerFor(c, view, entries);
        return { entries, namer };
      });
      print(cmd, entries, () => renderHistory(entries, { taskId: id, namer }));
    });
}
