// Child tasks in the web view, in headless Chromium: a child task's page
// links its parent, a parent's children table links each child task, a child
// task's row in the list links its parent, and Back returns to the task the
// link was followed from.
import { type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createRuntime, type BatonClient, type Runtime } from '../src/index.js';
import { startUiServer, type UiServer } from '../src/cli/ui/server.js';
import { ensureChromium, openBrowser } from './helpers/chromium.ts';
import { redisUrl, uniquePrefix, waitUntil } from './helpers/index.ts';
import { taskMachines } from './fixtures/task-machines.ts';

const prefix = uniquePrefix('ui-tasks');
let runtime: Runtime;
let client: BatonClient;
let server: UiServer;
let browser: BrowserContext;
let page: Page;
const errors: string[] = [];
/** The three child tasks of `sf` (waiters, active). */
let kids: string[];

const shownTask = () => page.locator('#task-header .task-id').textContent();
const linkTargets = (selector: string) => page.locator(selector).evaluateAll((els) => els.map((e) => e.getAttribute('data-task')));

beforeAll(async () => {
  ensureChromium();
  runtime = await createRuntime({ connection: redisUrl(), prefix, machines: taskMachines(3) });
  await runtime.spawn('stopFanout', { id: 'sf' });
  kids = await waitUntil(
    async () => {
      const list = await runtime.list({ parent: 'sf' });
      return list.length === 3 && list.every((k) => k.seq >= 1) ? list.map((k) => k.id).sort() : undefined;
    },
    { timeout: 20_000, message: 'three running children of sf' },
  );
  client = createClient({ connection: redisUrl(), prefix });
  server = await startUiServer({ client, port: 0 });
  ({ browser, page } = await openBrowser({ width: 1400, height: 1000 }, errors));
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await client?.close();
  await runtime?.close();
});

describe('baton ui: child tasks (headless Chromium)', () => {
  it('links a child task to its parent and a parent to its child tasks, from the page and the list', async () => {
    await page.goto(`${server.url}#task=${encodeURIComponent(kids[0]!)}`);
    await expect.poll(shownTask, { timeout: 15_000 }).toBe(kids[0]);
    // The child's header: its parent, a link.
    await page.locator('#task-parent a.task-link').waitFor({ timeout: 15_000 });
    expect(await linkTargets('#task-header a.task-link')).toEqual(['sf']);

    await page.locator('#task-parent a.task-link').click();
    await expect.poll(shownTask, { timeout: 15_000 }).toBe('sf');
    expect(await page.locator('#task-parent').count()).toBe(0);
    // The parent's children: each child task a link to its page.
    await expect.poll(async () => (await linkTargets('#children a.task-link')).sort(), { timeout: 15_000 }).toEqual(kids);
    await page.locator(`#children a.task-link[data-task="${kids[1]}"]`).click();
    await expect.poll(shownTask, { timeout: 15_000 }).toBe(kids[1]);
    // Back returns to the parent the link was followed from.
    await page.goBack();
    await expect.poll(shownTask, { timeout: 15_000 }).toBe('sf');

    // The list: a child task's row links its parent; following it opens the parent, not the row's task.
    const row = page.locator(`.task-row[data-id="${kids[2]}"]`);
    await row.waitFor({ timeout: 15_000 });
    expect(await linkTargets(`.task-row[data-id="${kids[2]}"] a.task-link`)).toEqual(['sf']);
    expect(await linkTargets('.task-row[data-id="sf"] a.task-link')).toEqual([]);
    await row.click(); // the row itself opens the child
    await expect.poll(shownTask, { timeout: 15_000 }).toBe(kids[2]);
    await row.locator('a.task-link').click();
    await expect.poll(shownTask, { timeout: 15_000 }).toBe('sf');
    await expect.poll(() => page.locator('.task-row.selected').getAttribute('data-id'), { timeout: 15_000 }).toBe('sf');
    expect(errors).toEqual([]);
  }, 120_000);
});
