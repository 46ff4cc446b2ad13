import { assign, setup } from 'xstate';
import { createRuntime, NotReplicatedError } from 'baton';

const ledger = setup({
  types: { context: {} as { entries: string[] }, events: {} as { type: 'entry'; text: string } },
}).createMachine({
  context: { entries: [] },
  on: { entry: { actions: assign({ entries: ({ context, event }) => [...context.entries, event.text] }) } },
});

// Your Sentinels and the master's name, e.g. redis-sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/baton
const runtime = await createRuntime({
  connection: process.env.BATON_SENTINEL_URL,
  prefix: `ha-${process.pid}`,
  durability: { replicas: 1, timeoutMs: 1000 }, // act on a write only once a replica holds it
  machines: { ledger },
});

/** Send until a replica holds it: NOT_REPLICATED means "kept or not", and the same key makes a resend safe. */
async function sendReplicated(id: string, event: { type: 'entry'; text: string }, key: string): Promise<void> {
  for (;;) {
    try {
      await runtime.send(id, event, { idempotencyKey: key });
      return;
    } catch (err) {
      if (!(err instanceof NotReplicatedError)) throw err;
      console.log(`not replicated yet, resending ${key}`);
    }
  }
}

const task = await runtime.spawn('ledger', { id: 'ledger-1' });
for (const text of ['opened', 'paid']) await sendReplicated(task.id, { type: 'entry', text }, `ledger-1-${text}`);
const view = await task.waitFor((v) => (v.context as { entries: string[] }).entries.length === 2);
console.log(view.context); // { entries: [ 'opened', 'paid' ] }
await runtime.close();
