import type { Command } from 'commander';
import type { HistoryEntry } from '../../index.js';
import { globals, print, withClient } from '../context.js';
import { namerFor, type AgentNamer } from '../jobs.js';
import { renderDetail } from '../render.js';
import { readDetail } from '../task-detail.js';

/** How many commits the summary ends with. */
const RECENT = 5;

/**
 * `baton show <id> [--context]`: a short summary (status, state, children and
 * agents, pending timers, the open decision, refused events, the last
 * commits); `--context` adds the context, `--json` prints the whole detail.
 */
export function registerShow(program: Command): void {
  program
    .command('show <id>')
    .description('a task in short: status, state, children and agents, timers, the open decision, refused events, last commits (--json: everything)')
    .option('--context', 'also print the context (and output) in full')
    .action(async (id: string, o: { context?: boolean }, cmd: Command) => {
      const json = globals(cmd).json;
      const { detail, recent, namer } = await withClient(cmd, async (c) => {
        const detail = await readDetail(c, id);
        if (json) return { detail, recent: [] as HistoryEntry[], namer: undefined };
        const recent = await c.history(id, { limit: RECENT });
        const namer: AgentNamer = await namerFor(c, detail.view, recent);
        return { detail, recent, namer };
      });
      print(cmd, detail, () => renderDetail(detail, { recent, namer, context: o.context }));
    });
}
