import { Command } from 'commander';
import { BatonError } from '../index.js';
import { registerHistory } from './commands/history.js';
import { registerPs } from './commands/ps.js';
import { registerSend } from './commands/send.js';
import { registerShow } from './commands/show.js';
import { registerSpawn } from './commands/spawn.js';
import { registerStop } from './commands/stop.js';
import { registerTail } from './commands/tail.js';
import { registerUi } from './commands/ui.js';
import { registerWait } from './commands/wait.js';
import { registerWorker } from './commands/worker.js';
import { colorWanted, setColor } from './format.js';

/**
 * `baton`: operate tasks from a terminal. Every command takes `--redis`
 * (default REDIS_URL) and `--prefix` (default 'baton'), prints JSON with
 * `--json`, and exits non-zero with one error line on failure. Colour only
 * on a terminal, without NO_COLOR, and not with `--no-color`.
 */
export function buildProgram(): Command {
  const program = new Command()
    .name('baton')
    .description('Operate Baton tasks: durable XState actors on Redis')
    .option('--redis <url>', 'Redis URL: redis://host:port, or redis-sentinel://host:port[,host:port...]/<master> (default: REDIS_URL)')
    .option('--prefix <prefix>', 'key prefix', 'baton')
    .option('--json', 'print JSON (for scripts)')
    .option('--no-color', 'no colour, even on a terminal')
    // Usage errors too are one line: `baton: unknown command 'x'`.
    .configureOutput({ outputError: (text, write) => write(`baton: ${text.replace(/^error: /, '')}`) })
    .hook('preAction', (_root, action) => {
      if (action.optsWithGlobals<{ color?: boolean }>().color === false) setColor(false);
    });
  for (const register of [registerPs, registerShow, registerHistory, registerSend, registerSpawn, registerStop, registerWait, registerTail, registerWorker, registerUi]) {
    register(program);
  }
  return program;
}

/** One error line on stderr: `baton: <message> [<CODE>]`. */
export function errorLine(err: unknown): string {
  const code = err instanceof BatonError ? ` [${err.code}]` : '';
  const message = err instanceof Error ? err.message : String(err);
  const head = colorWanted(process.stderr) ? '\u001b[31mbaton:\u001b[39m' : 'baton:';
  return `${head} ${message.split('\n')[0]}${code}`;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    process.stderr.write(`${errorLine(err)}\n`);
    process.exit(1);
  });
