// The web view end to end in headless Chromium (Debian's package, driven by
// playwright-core): a task waits at a human reconciliation, the page draws its
// statechart with the active state highlighted, a click on a decision option
// moves the task on, and the page follows over Server-Sent Events.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createRuntime, type BatonClient, type Runtime } from '../src/index.js';
import { createUiApp, startUiServer, type UiServer } from '../src/cli/ui/server.js';
import { ensureChromium, openBrowser } from './helpers/chromium.ts';
import { REPO_ROOT, redisUrl, uniquePrefix } from './helpers/index.ts';
import { agents, machines } from './fixtures/ui-machines.ts';

const ARTIFACTS = join(REPO_ROOT, 'test/artifacts');
const prefix = uniquePrefix('ui');
let runtime: Runtime;
let client: BatonClient;
let server: UiServer;
let browser: BrowserContext;
let page: Page;

const activePaths = (graph: string) =>
  page.locator(`svg[data-graph="${graph}"] g.node.active`).evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));

beforeAll(async () => {
  ensureChromium(); // apt-get install -y chromium when missing (root); a clear error otherwise
  mkdirSync(ARTIFACTS, { recursive: true });
  runtime = await createRuntime({ connection: redisUrl(), prefix, machines, agents });
  client = createClient({ connection: redisUrl(), prefix, machines });
  server = await startUiServer({ client, machines, port: 0 });
  ({ browser, page } = await openBrowser({ width: 1400, height: 1000 }));
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await client?.close();
  await runtime?.close();
});

describe('baton ui (headless Chromium)', () => {
  it('draws the running task, answers its decisions from the page and follows it live', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await runtime.spawn('counter', { id: 'count-ui', input: { start: 3 } });
    const task = await runtime.spawn('launch', { id: 'launch-ui', input: { product: 'rocket' } });
    await task.waitFor((v) => v.awaiting?.decision === 'reconcile', { timeout: 20_000 });

    await page.goto(server.url);
    await page.locator('.task-row[data-id="launch-ui"]').click();
    const root = 'svg[data-graph="root"]';
    await page.locator(`${root} g.node[data-path="reviewing"].active`).waitFor({ timeout: 20_000 });
    await page.locator('svg[data-graph="child:review"] g.node[data-path="reconciling"].active').waitFor({ timeout: 20_000 });
    await page.locator('#awaiting button.decision-option[data-choice="tech"]').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'ui-running.png'), fullPage: true });

    // The active state, and only it, is highlighted; every state of the definition is drawn.
    expect(await activePaths('root')).toEqual(['reviewing']);
    expect(await page.locator(`${root} g.node[data-path="reviewing"]`).getAttribute('data-active')).toBe('true');
    const drawn = await page.locator(`${root} g.node`).evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
    expect(drawn.sort()).toEqual(['', 'approval', 'cancelled', 'published', 'publishing', 'reviewing'].sort());
    // The conflict with both originals, as committed.
    await expect.poll(async () => (await page.locator('#awaiting .original h3').allTextContents()).sort()).toEqual(['legal', 'tech']);
    expect(await page.locator('#awaiting .question').textContent()).toContain('Whose verdict stands?');
    expect(await page.locator('#history li').count()).toBeGreaterThanOrEqual(1);

    // Answer from the page: the page is not reloaded, the diagram moves by the SSE stream alone.
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));
    await page.locator('#awaiting button.decision-option[data-choice="tech"]').click();
    await page.locator(`${root} g.node[data-path="approval"].active`).waitFor({ timeout: 15_000 });
    expect(await activePaths('root')).toEqual(['approval']);
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42);
    await page.locator('#awaiting .awaiting[data-decision="publish"]').waitFor({ timeout: 15_000 });
    // The confirmation sits by the buttons it answers (a receipt of the decision the task moved past), not in the send card.
    const receipt = page.locator('#awaiting .decision-receipt[data-decision="reconcile"] .options');
    await expect.poll(() => receipt.locator('.decision-result').textContent(), { timeout: 10_000 }).toMatch(/^tech: applied \(\d+-\d+\)$/);
    expect(await receipt.locator('button.decision-option.chosen').getAttribute('data-choice')).toBe('tech');
    expect(await receipt.locator('button.decision-option:not([disabled])').count()).toBe(0);
    expect(await page.locator('#send-result').textContent()).toBe('');
    const afterReconcile = await client.get('launch-ui');
    expect(afterReconcile?.value).toBe('approval');
    expect((afterReconcile?.context as { review: { decidedBy: string; reconciled: { verdict: string } } }).review).toMatchObject({
      decidedBy: 'human:ui',
      reconciled: { verdict: 'go' },
    });
    // The reconciliation with its originals is listed under conflicts and decisions.
    await expect.poll(() => page.locator('#decisions .reconciliation').count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator('#decisions').textContent()).toContain('human:ui');

    // Second decision: publishing, with its pending timer shown.
    await page.locator('#awaiting button.decision-option[data-choice="yes"]').click();
    await page.locator(`${root} g.node[data-path="publishing"].active`).waitFor({ timeout: 15_000 });
    await expect.poll(() => page.locator('#timers').textContent()).toContain('xstate.after');
    expect(await page.locator('#awaiting .awaiting').count()).toBe(0);
    await expect.poll(() => page.locator('#awaiting .decision-receipt[data-decision="publish"] .decision-result').textContent(), { timeout: 10_000 }).toMatch(/^yes: applied/);
    await page.screenshot({ path: join(ARTIFACTS, 'ui-decided.png'), fullPage: true });
    expect((await client.get('launch-ui'))?.context).toMatchObject({ approval: { choice: 'yes', by: 'ui' } });

    // Any event from the page: publish ends the task.
    await page.locator('#raw-event summary').click();
    await page.locator('#send-json').fill('{"type":"publish"}');
    await page.locator('#send-button').click();
    await page.locator(`${root} g.node[data-path="published"].active`).waitFor({ timeout: 15_000 });
    await expect.poll(() => page.locator('#task-header .badge').textContent()).toBe('done');
    await expect.poll(() => page.locator('.task-row[data-id="launch-ui"] .badge').textContent(), { timeout: 10_000 }).toBe('done');

    // Filters: status 'active' leaves the counter only.
    await page.locator('#filter-status').selectOption('active');
    await expect.poll(() => page.locator('.task-row').evaluateAll((els) => els.map((e) => e.getAttribute('data-id')))).toEqual(['count-ui']);
    expect(errors).toEqual([]);
  }, 120_000);

  it('serves state trees for layout: from the definition, else the registry, else inferred from history', async () => {
    const withDefs = createUiApp({ client, machines });
    const tree = (await (await withDefs.request('/api/machines/launch')).json()) as { root: { children: Array<{ path: string }> }; actors: Record<string, unknown> };
    expect(tree.root.children.map((c) => c.path)).toContain('publishing');
    expect(Object.keys(tree.actors).sort()).toEqual(['approve', 'review']);

    const counter = client.handle('count-ui');
    await counter.send({ type: 'finish' });
    await counter.waitFor((v) => v.status === 'done');
    type Graph = { source: string; version?: number; root: { children: Array<{ path: string; events: string[] }> }; edges: Array<{ source: string; target: string; label: string }> };
    // Without the definitions: the statechart the runtime published in the registry.
    const bare = createUiApp({ client });
    const registered = (await (await bare.request('/api/tasks/count-ui/graph')).json()) as Graph;
    expect(registered).toMatchObject({ source: 'definition', version: 1 });
    expect(registered.root.children.find((c) => c.path === 'counting')?.events.sort()).toEqual(['finish', 'inc']);
    expect(((await (await bare.request('/api/machines/launch')).json()) as Graph).root.children.map((c) => c.path)).toContain('publishing');

    // No registry record either (a prefix whose registry is gone, its runtime too): inferred from the task's history.
    const p2 = uniquePrefix('ui-infer');
    const rt2 = await createRuntime({ connection: redisUrl(), prefix: p2, machines: { counter: machines.counter } });
    const c2 = createClient({ connection: redisUrl(), prefix: p2 });
    try {
      await rt2.spawn('counter', { id: 'count-done' });
      await rt2.spawn('counter', { id: 'count-open' });
      await rt2.handle('count-done').send({ type: 'finish' });
      await rt2.handle('count-done').waitFor((v) => v.status === 'done');
      await rt2.handle('count-open').waitFor((v) => v.seq >= 1);
      await rt2.close();
      await c2.store.redis.del(c2.keys.registryMachines, c2.keys.registryProcs);
      const inferring = createUiApp({ client: c2 });
      const graph = (await (await inferring.request('/api/tasks/count-done/graph')).json()) as Graph;
      expect(graph.source).toBe('history');
      expect(graph.root.children.map((c) => c.path).sort()).toEqual(['counting', 'finished']);
      expect(graph.edges).toContainEqual(expect.objectContaining({ source: 'counting', target: 'finished', label: 'finish' }));
      // Nothing known about its events: no forms (the page keeps its raw JSON box).
      expect(await (await inferring.request('/api/tasks/count-open/events')).json()).toEqual({ source: 'none', closed: false, events: [] });
    } finally {
      await rt2.close();
      await c2.close();
    }

    const missing = await bare.request('/api/tasks/nope/graph');
    expect(missing.status).toBe(404);
    const crossSite = await bare.request('/api/tasks/count-ui/events', {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'http://evil.example', host: '127.0.0.1:4400' },
      body: '{"type":"x"}',
    });
    expect(crossSite.status).toBe(403);
  });
});
