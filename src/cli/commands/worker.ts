import type { Command } from 'commander';
import { createRuntime } from '../../index.js';
import { connectionOf, globals, loadWorkerModule, parseCount } from '../context.js';
import { colors } from '../format.js';

/** `baton worker <module>`: run the tasks and agents a module exports, until SIGINT/SIGTERM. */
export function registerWorker(program: Command): void {
  program
    .command('worker <module>')
    .description('run tasks and agents from a module exporting `machines` and/or `agents`')
    .option('--concurrency <n>', 'activations at once', '32')
    .option('--owner <id>', 'stable worker id (e.g. the pod name): a restart takes its tasks back at once (default: $BATON_OWNER, else random)')
    .action(async (modulePath: string, o: { concurrency: string; owner?: string }, cmd: Command) => {
      const concurrency = parseCount('--concurrency', o.concurrency);
      const owner = o.owner ?? (process.env.BATON_OWNER || undefined);
      const mod = await loadWorkerModule(modulePath);
      const runtime = await createRuntime({
        connection: connectionOf(cmd),
        prefix: globals(cmd).prefix,
        machines: mod.machines,
        agents: mod.agents,
        activationConcurrency: concurrency,
        ...(owner !== undefined ? { owner } : {}),
      });
      const c = colors();
      const names = (o: object | undefined) => Object.keys(o ?? {}).join(', ') || '-';
      const info = { worker: runtime.owner, prefix: globals(cmd).prefix, machines: Object.keys(mod.machines ?? {}), agents: Object.keys(mod.agents ?? {}) };
      // Handlers first: whoever reads the banner may signal at once (a pipe write is synchronous on Linux).
      const stop = () => void runtime.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      // The banner goes to stderr (stdout stays free); with --json it is one JSON line.
      process.stderr.write(
        globals(cmd).json
          ? `${JSON.stringify({ ready: true, ...info })}\n`
          : `${c.green('baton worker')} ${c.bold(runtime.owner)} ${c.dim('prefix')} ${info.prefix} ${c.dim('machines')} [${names(mod.machines)}] ${c.dim('agents')} [${names(mod.agents)}]\n`,
      );
    });
}
