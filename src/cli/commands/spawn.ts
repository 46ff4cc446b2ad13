import type { Command } from 'commander';
import { parseJson, print, withClient } from '../context.js';

/** `baton spawn <machine> [--input <json>] [--id]`: create a task; a runtime that knows the machine runs it. */
export function registerSpawn(program: Command): void {
  program
    .command('spawn <machine>')
    .description('spawn a task (a runtime that knows the machine runs it)')
    .option('--input <json>', 'input, as JSON')
    .option('--id <id>', 'task id (default: a random UUID)')
    .action(async (machine: string, o: { input?: string; id?: string }, cmd: Command) => {
      const input = o.input !== undefined ? parseJson('input', o.input) : undefined;
      const task = await withClient(cmd, (c) => c.spawn(machine, { id: o.id, input }));
      print(cmd, { id: task.id, machine }, () => task.id);
    });
}
