import { afterAll, describe, expect, it } from 'vitest';
import { createRuntime, type Runtime } from '../src/index.js';
import { echoTask } from './fixtures/agents.js';
import { redisUrl, uniquePrefix } from './helpers/index.js';

describe('agents smoke', () => {
  let rt: Runtime;
  afterAll(async () => rt?.close());
  it('runs an agent and completes the child', async () => {
    let calls = 0;
    rt = await createRuntime({
      connection: redisUrl(),
      prefix: uniquePrefix('agents'),
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
