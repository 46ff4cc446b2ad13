import { describe, expect, it } from 'vitest';
import { echoTask } from './fixtures/agents.js';
import { uniquePrefix } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

describe('agents smoke', () => {
  const { runtime } = useBaton({ close: 'all' });
  it('runs an agent and completes the child', async () => {
    let calls = 0;
    const rt = await runtime(uniquePrefix('agents'), {
      machines: { echoTask },
      agents: { echo: async ({ input }: { input: { text: string } }) => { calls++; return { text: input.text.toUpperCase() }; } },
      leaseMs: 1000,
    });
    const t = await rt.spawn('echoTask', { input: { text: 'hi' } });
    const v = await t.waitFor((v) => v.status === 'done', { timeout: 5000 });
    expect(v.value).toBe('done');
    expect(v.context).toMatchObject({ result: 'HI' });
    expect(calls).toBe(1);
    expect((await t.history()).map((h) => h.event.type)).toEqual(['baton.spawn', 'baton.agent.result']);
  });
});
