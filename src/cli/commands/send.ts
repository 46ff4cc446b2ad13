import type { Command } from 'commander';
import { colors } from '../format.js';
import { parseEvent, print, withClient } from '../context.js';

/** `baton send <id> <json> [--key]`: append an event to a task's mailbox. */
export function registerSend(program: Command): void {
  program
    .command('send <id> <event>')
    .description(`send an event, as JSON (e.g. '{"type":"approve"}'); resolves once it is durable`)
    .option('--key <idempotencyKey>', 'idempotency key: a repeat within the window is accepted once')
    .option('--wait', "return once the task applied the event (an error if the task's process refused it)")
    .action(async (id: string, text: string, o: { key?: string; wait?: boolean }, cmd: Command) => {
      const event = parseEvent(text);
      const r = await withClient(cmd, (c) => c.send(id, event, { idempotencyKey: o.key, ...(o.wait ? { wait: 'applied' as const } : {}) }));
      const c = colors();
      const what = r.duplicate ? c.yellow('duplicate (already sent)') : c.green(o.wait ? 'applied' : 'sent');
      print(cmd, r, () => `${what} ${event.type} ${c.dim(r.entryId)}`);
    });
}
