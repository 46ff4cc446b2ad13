import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { BatonError, createClient, createRuntime, type MachineEntry, type AgentEntry, type BatonClient } from '../index.js';

/**
 * `baton`: operate tasks from a terminal. Every command takes `--redis`
 * (default REDIS_URL) and `--prefix` (default 'baton'), prints JSON with
 * `--json`, and exits non-zero with one error line on failure.
 */
const program = new Command()
  .name('baton')
  .description('Operate Baton tasks: durable XState actors on Redis')
  .option('--redis <url>', 'Redis URL (default: REDIS_URL)')
  .option('--prefix <prefix>', 'key prefix', 'baton')
  .option('--json', 'print JSON');

type Global = { redis?: string; prefix: string; json?: boolean };
const globals = (): Global => program.opts<Global>();

async function withClient<T>(fn: (c: BatonClient) => Promise<T>): Promise<T> {
  const g = globals();
  const client = createClient({ connection: g.redis ?? process.env.REDIS_URL, prefix: g.prefix });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

function parseJson(what: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

function print(value: unknown, human: () => string): void {
  console.log(globals().json ? JSON.stringify(value, null, 2) : human());
}

program
  .command('ps')
  .description('list tasks')
  .option('--status <status>', 'only tasks with this status')
  .option('--machine <name>', 'only tasks of this machine')
  .option('--limit <n>', 'at most n tasks', '100')
  .action(async (o: { status?: string; machine?: string; limit: string }) => {
    const views = await withClient((c) => c.list({ status: o.status as never, machine: o.machine, limit: Number(o.limit) }));
    print(views, () =>
      views.length === 0
        ? '(no tasks)'
        : [
            `${'ID'.padEnd(38)} ${'MACHINE'.padEnd(16)} ${'STATUS'.padEnd(12)} ${'SEQ'.padStart(5)}  STATE`,
            ...views.map((v) => `${v.id.padEnd(38)} ${v.machine.padEnd(16)} ${v.status.padEnd(12)} ${String(v.seq).padStart(5)}  ${JSON.stringify(v.value)}`),
          ].join('\n'),
    );
  });

program
  .command('show <id>')
  .description('state, context, children, timers of a task')
  .action(async (id: string) => {
    const v = await withClient((c) => c.get(id));
    if (!v) throw new Error(`task '${id}' does not exist`);
    print(v, () => JSON.stringify(v, null, 2));
  });

program
  .command('history <id>')
  .description('committed transitions of a task')
  .option('--limit <n>', 'last n entries', '50')
  .action(async (id: string, o: { limit: string }) => {
    const h = await withClient((c) => c.history(id, { limit: Number(o.limit) }));
    print(h, () => h.map((e) => `#${e.seq} ${new Date(e.at).toISOString()} ${e.event.type} ${JSON.stringify(e.from)} -> ${JSON.stringify(e.to)}`).join('\n'));
  });

program
  .command('send <id> <event>')
  .description("send an event (JSON, e.g. '{\"type\":\"approve\"}')")
  .option('--key <idempotencyKey>', 'idempotency key')
  .action(async (id: string, event: string, o: { key?: string }) => {
    const r = await withClient((c) => c.send(id, parseJson('event', event) as { type: string }, { idempotencyKey: o.key }));
    print(r, () => `${r.duplicate ? 'duplicate (already sent)' : 'sent'}: ${r.entryId}`);
  });

program
  .command('spawn <machine>')
  .description('spawn a task (a runtime that knows the machine runs it)')
  .option('--input <json>', 'input JSON')
  .option('--id <id>', 'task id')
  .action(async (machine: string, o: { input?: string; id?: string }) => {
    const input = o.input ? parseJson('input', o.input) : undefined;
    const t = await withClient((c) => c.spawn(machine, { id: o.id, input }));
    print({ id: t.id }, () => t.id);
  });

program
  .command('stop <id>')
  .description('stop a task')
  .option('--timeout <ms>', 'wait at most this long', '30000')
  .action(async (id: string, o: { timeout: string }) => {
    const v = await withClient((c) => c.stop(id, { timeout: Number(o.timeout) }));
    print(v, () => `${id}: ${v.status}`);
  });

program
  .command('worker <module>')
  .description('run tasks and agents from a module exporting `machines` and/or `agents`')
  .option('--concurrency <n>', 'activations at once', '32')
  .action(async (modulePath: string, o: { concurrency: string }) => {
    const mod = (await import(pathToFileURL(resolve(modulePath)).href)) as {
      machines?: Record<string, MachineEntry>;
      agents?: Record<string, AgentEntry>;
    };
    const g = globals();
    const runtime = await createRuntime({
      connection: g.redis ?? process.env.REDIS_URL,
      prefix: g.prefix,
      machines: mod.machines,
      agents: mod.agents,
      activationConcurrency: Number(o.concurrency),
    });
    console.error(
      `baton worker ${runtime.self}: machines [${Object.keys(mod.machines ?? {}).join(', ')}], agents [${Object.keys(mod.agents ?? {}).join(', ')}]`,
    );
    const stop = () => void runtime.close().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  const code = err instanceof BatonError ? ` [${err.code}]` : '';
  console.error(`baton: ${(err as Error).message ?? String(err)}${code}`);
  process.exit(1);
});
