// Agents' live text on the task page, in headless Chromium: the text arrives
// as the agent writes it, with the agent's latest progress; the page keeps it
// exactly once across a server restart (the EventSource resends its last id)
// and across a reload in the middle of the stream (read from the start again);
// a retry's attempt marker clears the superseded attempt's text.
import { join } from 'node:path';
import { type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentContext, type BatonClient, type Runtime } from '../src/index.js';
import { startUiServer, type UiServer } from '../src/cli/ui/server.js';
import { talk } from './fixtures/stream-machines.js';
import { ensureChromium, openBrowser } from './helpers/chromium.ts';
import { REPO_ROOT, uniquePrefix } from './helpers/index.ts';
import { useBaton } from './helpers/setup.ts';

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

const ARTIFACTS = join(REPO_ROOT, 'test/artifacts');
const prefix = uniquePrefix('ui-stream-page');
const baton = useBaton({ close: 'all' });
const gates = [gate(), gate(), gate()];
let runtime: Runtime;
let client: BatonClient;
let server: UiServer;
let browser: BrowserContext;
let page: Page;
const errors: string[] = [];

/** Task `words` writes its words in four parts, waiting at a gate after each but the last (reporting progress); task `retry` fails its first attempt halfway. */
const talker = async ({ input, stream, progress, attempt, taskId }: AgentContext<{ words: string[] }>) => {
  if (taskId === 'retry' && attempt === 1) {
    await stream.write('superseded text');
    throw new Error('the model timed out');
  }
  const parts = [0, 3, 6, 9].map((at) => input.words.slice(at, at + 3));
  for (const [i, part] of parts.entries()) {
    for (const w of part) await stream.write(w);
    await progress({ said: parts.slice(0, i + 1).flat().length });
    if (taskId === 'words' && i < 3) await gates[i]!.opened;
  }
  return {};
};

const text = (p: Page) => p.locator('#agent-text .agent-text pre.agent-out').allTextContents();
const WORDS = ['The ', 'quick ', 'brown ', 'fox ', 'jumps ', 'over ', 'the ', 'lazy ', 'dog, ', 'twice ', 'a ', 'day.'];
const upTo = (n: number) => WORDS.slice(0, n).join('');

beforeAll(async () => {
  ensureChromium();
  runtime = await baton.runtime(prefix, { machines: { talk }, agents: { talker } });
  client = baton.client(prefix);
  server = await startUiServer({ client, port: 0 });
  ({ browser, page } = await openBrowser({ width: 1400, height: 1000 }, errors));
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('baton ui: agent text (headless Chromium)', () => {
  it('shows the text as it arrives, once, across a server restart and a reload mid-stream', async () => {
    await runtime.spawn('talk', { id: 'words', input: { words: WORDS } });
    await page.goto(`${server.url}#task=words`);
    await expect.poll(() => text(page), { timeout: 15_000 }).toEqual([upTo(3)]);
    expect(await page.locator('#agent-text-card').isVisible()).toBe(true);
    expect(await page.locator('#agent-text').getAttribute('data-stream')).toBe('live');
    await expect.poll(() => page.locator('#agent-text .agent-progress').textContent(), { timeout: 15_000 }).toBe('progress: {"said":3}');
    await expect.poll(() => page.locator('#agent-text .agent-name').textContent(), { timeout: 15_000 }).toBe('talker');
    // Counts text taken off the panel: a stream replayed from the start would clear it (its attempt marker) and show it again.
    await page.evaluate(`window.removed = 0;
      new MutationObserver((ms) => ms.forEach((m) => (window.removed += m.removedNodes.length)))
        .observe(document.querySelector('#agent-text pre.agent-out'), { childList: true });`);
    // The next part, live.
    gates[0]!.open();
    await expect.poll(() => text(page), { timeout: 15_000 }).toEqual([upTo(6)]);
    await expect.poll(() => page.locator('#agent-text .agent-progress').textContent(), { timeout: 15_000 }).toBe('progress: {"said":6}');

    // The server goes away mid-stream and comes back: the page's EventSource reconnects with its last id.
    const { port } = server;
    await server.close();
    gates[1]!.open();
    await expect.poll(async () => (await runtime.handle('words').get())?.progress?.['0.talk.talking']?.data, { timeout: 15_000 }).toEqual({ said: 9 });
    server = await startUiServer({ client, port });
    await expect.poll(() => text(page), { timeout: 15_000 }).toEqual([upTo(9)]);
    expect(await page.evaluate('window.removed')).toBe(0); // resumed, not replayed

    // A reload in the middle of the stream: read from the start again, shown once; the progress from the view.
    await page.reload();
    await expect.poll(() => text(page), { timeout: 15_000 }).toEqual([upTo(9)]);
    await expect.poll(() => page.locator('#agent-text .agent-progress').textContent(), { timeout: 15_000 }).toBe('progress: {"said":9}');
    // The rest arrives live after the reload, once.
    gates[2]!.open();
    await expect.poll(() => page.locator('#agent-text').getAttribute('data-stream'), { timeout: 15_000 }).toBe('ended');
    expect(await text(page)).toEqual([upTo(12)]);
    expect(await page.locator('#agent-text').getAttribute('data-status')).toBe('done');
    await expect.poll(() => page.locator('#agent-text .agent-progress').textContent(), { timeout: 15_000 }).toBe('progress: {"said":12}');
    await page.locator('#agent-text-card').screenshot({ path: join(ARTIFACTS, 'ui-agent-text.png') });
    expect(await page.locator('#agent-text .agent-text').count()).toBe(1);
    expect(errors).toEqual([]);
  }, 120_000);

  it("a retry's attempt marker clears the superseded text and shows the attempt", async () => {
    await (await runtime.spawn('talk', { id: 'retry', input: { words: ['second ', 'try'] } })).waitFor((v) => v.status === 'done', { timeout: 15_000 });
    await page.goto(`${server.url}#task=retry`);
    await expect.poll(() => page.locator('#agent-text').getAttribute('data-stream'), { timeout: 15_000 }).toBe('ended');
    expect(await text(page)).toEqual(['second try']);
    expect(await page.locator('#agent-text .attempt').textContent()).toBe('attempt 2');
    await page.locator('#agent-text-card').screenshot({ path: join(ARTIFACTS, 'ui-agent-text-retry.png') });
    expect(errors).toEqual([]);
  }, 60_000);
});
