import type { Command } from 'commander';
import type { StreamItem } from '../../index.js';
import { globals, withClient } from '../context.js';
import { colors } from '../format.js';

/**
 * The text `baton tail` prints for one stream item: a string chunk as it is,
 * any other chunk as compact JSON on a line of its own, an attempt marker as
 * `[attempt N of <jobId>]` on its own line; the end prints nothing.
 * `atLineStart`: whether what was printed so far ends a line.
 */
export function tailText(item: StreamItem, atLineStart: boolean): string {
  const nl = atLineStart ? '' : '\n';
  if (item.kind === 'end') return '';
  if (item.kind === 'attempt') return `${nl}${colors().dim(`[attempt ${item.attempt} of ${item.jobId}]`)}\n`;
  return typeof item.data === 'string' ? item.data : `${nl}${JSON.stringify(item.data)}\n`;
}

/**
 * `baton tail <id> [--from start|end|<entry id>]`: print a task's durable
 * stream (agents' `stream.write` chunks) as it comes, from the start by
 * default, and exit 0 at its end. `--json`: one stream item per line.
 */
export function registerTail(program: Command): void {
  program
    .command('tail <id>')
    .description("print a task's stream (what its agents write) as it comes, until the task ends")
    .option('--from <position>', "'start', 'end' (only what comes from now on) or an entry id (what came after it)", 'start')
    .action(async (id: string, o: { from: string }, cmd: Command) => {
      const json = globals(cmd).json;
      const out = process.stdout;
      let atLineStart = true;
      let end: StreamItem | undefined;
      await withClient(cmd, async (c) => {
        for await (const item of c.stream(id, { from: o.from })) {
          if (item.kind === 'end') end = item;
          const text = json ? `${JSON.stringify(item)}\n` : tailText(item, atLineStart);
          if (!text) continue;
          out.write(text);
          atLineStart = text.endsWith('\n');
        }
      });
      // On a terminal: end the last line, and say how the task ended.
      if (!json && out.isTTY) out.write(`${atLineStart ? '' : '\n'}${colors().dim(`[${end?.kind === 'end' ? `task ${end.status}` : 'task ended'}]`)}\n`);
    });
}
