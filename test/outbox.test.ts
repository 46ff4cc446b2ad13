// The outbox sends a step's effects after its commit landed, and never for a
// host that let the task go meanwhile (its lease lost while the commit
// drained): the next holder's restore re-dispatches, so a stale dispatch would
// run the agent work twice. Found by the chaos suite (agent-dropped).
import { describe, expect, it } from 'vitest';
import { Outbox } from '../src/runtime/outbox.js';

function recordingOutbox() {
  const sent: string[] = [];
  const outbox = new Outbox('t', { dispatch: async (_t, specs) => void sent.push(...specs.map((s) => s.jobId)), cancel: async () => undefined }, { spawn: async () => undefined, send: async () => undefined }, () => undefined);
  return { sent, outbox };
}

const spec = (jobId: string) => ({ jobId, agent: 'a', childPath: ['c'], input: {}, attempts: 1 }) as never;

describe('Outbox.perform', () => {
  it('sends the effects of a step while the host holds the task', async () => {
    const { sent, outbox } = recordingOutbox();
    outbox.dispatch(spec('j1'));
    await outbox.perform(outbox.take(), () => false);
    expect(sent).toEqual(['j1']);
  });

  it('sends nothing, not even a first try, once the host let the task go', async () => {
    const { sent, outbox } = recordingOutbox();
    outbox.dispatch(spec('j1'));
    let started = 0;
    outbox.start(() => void started++);
    await outbox.perform(outbox.take(), () => true);
    expect(sent).toEqual([]);
    expect(started).toBe(0);
  });

  it('`once` (a task that ended) tries one time whatever the host says', async () => {
    const { sent, outbox } = recordingOutbox();
    outbox.dispatch(spec('j2'));
    await outbox.perform(outbox.take(), () => true, true);
    expect(sent).toEqual(['j2']);
  });
});
