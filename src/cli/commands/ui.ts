import type { Command } from 'commander';
import { createClient } from '../../index.js';
import { connectionOf, globals, loadWorkerModule, parseCount } from '../context.js';
import { colors } from '../format.js';
import { startUiServer } from '../ui/server.js';

/** `baton ui [--port 4400] [--host 127.0.0.1] [--module <worker module>]`: the live web view. */
export function registerUi(program: Command): void {
  program
    .command('ui')
    .description('serve the live web view of tasks (statecharts, decisions, history)')
    .option('--port <port>', 'port to listen on', '4400')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--module <path>', 'worker module exporting `machines`: statecharts are drawn from these definitions (without it: from the machine registry)')
    .action(async (o: { port: string; host: string; module?: string }, cmd: Command) => {
      const port = o.port === '0' ? 0 : parseCount('--port', o.port);
      const mod = o.module ? await loadWorkerModule(o.module) : {};
      const client = createClient({ connection: connectionOf(cmd), prefix: globals(cmd).prefix, machines: mod.machines });
      const server = await startUiServer({ client, machines: mod.machines, port, host: o.host });
      // Handlers first: whoever reads the URL line may signal at once (a pipe write is synchronous on Linux).
      const stop = () => void server.close().then(() => client.close()).then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const c = colors();
      if (globals(cmd).json) process.stdout.write(`${JSON.stringify({ url: server.url, prefix: globals(cmd).prefix, machines: Object.keys(mod.machines ?? {}) })}\n`);
      else {
        process.stdout.write(`${c.green('baton ui')} ${c.bold(server.url)} ${c.dim(`prefix ${globals(cmd).prefix}`)}\n`);
        if (!o.module) {
          process.stdout.write(
            c.dim("  (no --module: statecharts and event forms come from the machine registry, as the runtimes published them; from a task's history only for machines no runtime registered)\n"),
          );
        }
      }
    });
}
