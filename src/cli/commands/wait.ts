import type { Command } from 'commander';
import { matchesState, type StateValue } from 'xstate';
import type { TaskView } from '../../index.js';
import { parseCount, print, withClient } from '../context.js';
import { colors, stateLabel, statusText } from '../format.js';
import { startProgress, taskLine } from '../progress.js';

const FOREVER = 2_147_483_647; // the longest setTimeout

/**
 * `baton wait <id> [--status s] [--state path] [--timeout ms]`: wait until the
 * task has the status (default: any status but active) and/or is in the state
 * (`a.b` matches `{ a: 'b' }`). A task that ends in another status is a failure.
 */
export function registerWait(program: Command): void {
  program
    .command('wait <id>')
    .description('wait until a task reaches a status (default: it is no longer active) or a state, showing its progress')
    .option('--status <status>', 'the status to wait for (done, error, stopped, quarantined, active)')
    .option('--state <path>', "a state to wait for, as a dotted path ('reviewing', 'review.asking')")
    .option('--timeout <ms>', 'give up after this long (default: wait forever)')
    .action(async (id: string, o: { status?: string; state?: string; timeout?: string }, cmd: Command) => {
      const timeout = o.timeout === undefined ? FOREVER : parseCount('--timeout', o.timeout);
      const wanted = (v: TaskView) =>
        (o.status ? v.status === o.status : o.state ? true : v.status !== 'active') &&
        (!o.state || (v.value !== undefined && matchesState(o.state, v.value as StateValue)));
      const what = [o.status && `status ${o.status}`, o.state && `state ${o.state}`].filter(Boolean).join(' and ') || 'the end';
      const progress = startProgress(`waiting for ${what}: ${id}`);
      let view: TaskView;
      try {
        view = await withClient(cmd, (c) =>
          c.waitFor(
            id,
            (v) => {
              progress.update(`waiting for ${what}: ${taskLine(v)}`);
              return wanted(v) || v.status !== 'active';
            },
            { timeout },
          ),
        );
      } finally {
        progress.stop();
      }
      if (!wanted(view)) throw new Error(`task '${id}' ended ${view.status} in ${stateLabel(view.value)} before reaching ${what}`);
      print(cmd, view, () => `${colors().bold(id)}: ${statusText(view.status)} in ${stateLabel(view.value)}`);
    });
}
