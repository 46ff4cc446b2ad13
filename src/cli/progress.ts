import yoctoSpinner from 'yocto-spinner';
import { colors, stateLabel, statusText } from './format.js';
import type { TaskView } from '../index.js';

/** A progress line shown while a command waits: a spinner on a terminal, nothing otherwise. */
export interface Progress {
  /** Replace the text next to the spinner. */
  update(text: string): void;
  /** Remove the line (the command then prints its result or its error line). */
  stop(): void;
}

const silent: Progress = { update() {}, stop() {} };

/**
 * Start a spinner on stderr when stderr is a terminal (so stdout stays clean
 * for `--json` and pipes); a no-op progress otherwise.
 */
export function startProgress(text: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return silent;
  const spinner = yoctoSpinner({ text, stream }).start();
  return {
    update: (t) => {
      spinner.text = t;
    },
    stop: () => void spinner.stop(),
  };
}

/** The spinner text for a task: its id, status, state and last commit. */
export function taskLine(view: TaskView): string {
  const c = colors();
  return `${c.bold(view.id)} ${statusText(view.status)} ${c.dim('in')} ${stateLabel(view.value)} ${c.dim(`(seq ${view.seq})`)}`;
}
