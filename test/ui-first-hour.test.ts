// A newcomer's first hour with the web view, in headless Chromium: the task
// list grouped by machine with readable names, paged and searched by the
// server; why a task refused an event, next to it; the send card at the top;
// a wide child statechart drawn inside its panel; a decision's confirmation
// (or error) next to its buttons; and a connection badge that says "live"
// with nothing selected, "reconnecting…" while the server is away.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createRuntime, type BatonClient, type Runtime } from '../src/index.js';
import { createUiApp, startUiServer, type UiServer } from '../src/cli/ui/server.js';
import { ensureChromium, openBrowser } from './helpers/chromium.ts';
import { REPO_ROOT, redisUrl, uniquePrefix, waitUntil } from './helpers/index.ts';
import { agents, counter, intakeTask, launch, pipeline, STAGES } from './fixtures/ui-machines.ts';

const ARTIFACTS = join(REPO_ROOT, 'test/artifacts');
const prefix = uniquePrefix('ui-first');
const COUNTERS = 56;
const LONG_ID = 'research-0b7c5e52-8f0a-4c5a-9d6e-2a7f1c3b9e41';
const VIEWPORT = { width: 1400, height: 1000 };
let runtime: Runtime;
let client: BatonClient;
let server: UiServer;
let browser: BrowserContext;
let page: Page;
const errors: string[] = [];

const rowIds = () => page.locator('#tasks .task-row').evaluateAll((els) => els.map((e) => e.getAttribute('data-id')));
const groups = () => page.locator('#tasks li.group').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-machine')}:${e.querySelector('.count')?.textContent}`));
const pageInfo = () => page.locator('#page-info').textContent();
const box = async (l: Locator) => {
  const b = await l.boundingBox();
  if (!b) throw new Error('not rendered');
  return b;
};
/** `inner` lies within `outer` (half a pixel of rounding allowed). */
const within = (inner: { x: number; y: number; width: number; height: number }, outer: typeof inner) =>
  inner.x >= outer.x - 0.5 && inner.y >= outer.y - 0.5 && inner.x + inner.width <= outer.x + outer.width + 0.5 && inner.y + inner.height <= outer.y + outer.height + 0.5;

async function selectTask(id: string) {
  await page.locator('#filter-text').fill(id);
  await page.locator(`.task-row[data-id="${id}"]`).click();
  await page.locator('#task-header .task-id', { hasText: id }).waitFor({ timeout: 15_000 });
}

beforeAll(async () => {
  ensureChromium();
  mkdirSync(ARTIFACTS, { recursive: true });
  runtime = await createRuntime({ connection: redisUrl(), prefix, machines: { counter, pipeline, intake: intakeTask, launch }, agents });
  // No machines: statecharts, forms and checks come from the registry the runtime published.
  client = createClient({ connection: redisUrl(), prefix });
  for (let i = 0; i < COUNTERS; i++) await runtime.spawn('counter', { id: `count-${String(i).padStart(3, '0')}` });
  await runtime.spawn('pipeline', { id: LONG_ID });
  for (let i = 0; i < 4; i++) await runtime.handle(LONG_ID).send({ type: 'next' });
  await runtime.handle(LONG_ID).waitFor((v) => JSON.stringify(v.value) === JSON.stringify({ researching: { step_3: 'running' } }), { timeout: 15_000 });
  await runtime.spawn('intake', { id: 'intake-a' });
  await runtime.handle('intake-a').waitFor((v) => v.value === 'drafting', { timeout: 15_000 });
  server = await startUiServer({ client, port: 0 });
  ({ browser, page } = await openBrowser(VIEWPORT, errors));
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await client?.close();
  await runtime?.close();
});

describe('baton ui: a newcomer\'s first hour (headless Chromium)', () => {
  it('GET /api/tasks groups by machine, pages with limit and offset, searches ids with q, and counts', async () => {
    const app = createUiApp({ client });
    const res = await app.request('/api/tasks?group=machine&limit=5&offset=54');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-total-count')).toBe(String(COUNTERS + 2));
    expect(JSON.parse(decodeURIComponent(res.headers.get('x-machines')!))).toEqual({ counter: COUNTERS, intake: 1, pipeline: 1 });
    expect(res.headers.get('x-truncated')).toBe('false');
    // Newest first within a machine, machines by name: the page ends with the two oldest counters, then intake, then pipeline.
    expect(((await res.json()) as Array<{ id: string }>).map((t) => t.id)).toEqual(['count-001', 'count-000', 'intake-a', LONG_ID]);

    const search = await app.request('/api/tasks?q=COUNT-01&limit=3');
    expect(search.headers.get('x-total-count')).toBe('10');
    expect(((await search.json()) as Array<{ id: string }>).map((t) => t.id)).toEqual(['count-019', 'count-018', 'count-017']);
    const one = await app.request('/api/tasks?machine=pipeline');
    expect(((await one.json()) as Array<{ id: string; value: unknown }>).map((t) => t.id)).toEqual([LONG_ID]);
    // Without group=machine: newest first, as before.
    expect(((await (await app.request('/api/tasks?limit=2')).json()) as Array<{ id: string }>).map((t) => t.id)).toEqual(['intake-a', LONG_ID]);
  });

  it('lists tasks grouped by machine with short ids and dotted states, 50 a page, and finds one by id', async () => {
    await page.goto(server.url);
    await expect.poll(pageInfo, { timeout: 15_000 }).toBe(`1–50 of ${COUNTERS + 2}`);
    expect(await page.locator('#tasks .task-row').count()).toBe(50);
    expect(await groups()).toEqual([`counter:${COUNTERS}`]);
    expect(await page.locator('#page-prev').isDisabled()).toBe(true);

    await page.locator('#page-next').click();
    await expect.poll(pageInfo).toBe(`51–${COUNTERS + 2} of ${COUNTERS + 2}`);
    expect(await groups()).toEqual([`counter:${COUNTERS}`, 'intake:1', 'pipeline:1']);
    expect(await rowIds()).toEqual([...Array.from({ length: 6 }, (_, i) => `count-${String(5 - i).padStart(3, '0')}`), 'intake-a', LONG_ID]);
    expect(await page.locator('#page-next').isDisabled()).toBe(true);
    // A long id is shortened, whole in its title; the state is a dotted path.
    const row = page.locator(`.task-row[data-id="${LONG_ID}"]`);
    expect(await row.locator('.id').textContent()).toBe('research-0b7c5e52…1c3b9e41');
    expect(await row.locator('.id').getAttribute('title')).toBe(LONG_ID);
    expect(await row.locator('.state').textContent()).toBe('researching.step_3.running');
    expect(await row.locator('.machine').textContent()).toContain('pipeline');
    await page.screenshot({ path: join(ARTIFACTS, 'ui-list-page2.png') });

    await page.locator('#page-prev').click();
    await expect.poll(pageInfo).toBe(`1–50 of ${COUNTERS + 2}`);

    // Search by id, done by the server over the whole list, not the page on screen.
    await page.locator('#filter-text').fill('count-01');
    await expect.poll(pageInfo).toBe('1–10 of 10');
    expect(await rowIds()).toEqual(Array.from({ length: 10 }, (_, i) => `count-0${19 - i}`));
    expect(await groups()).toEqual(['counter:10']);
    await page.locator('#filter-text').fill('0b7c5e52');
    await expect.poll(rowIds).toEqual([LONG_ID]);
    await page.locator('#filter-text').fill('no-such-task');
    await expect.poll(() => page.locator('#tasks-empty:not([hidden])').textContent()).toContain('No task id contains “no-such-task”');
    await page.locator('#filter-text').fill('');
    await page.locator('#filter-machine').selectOption('intake');
    await expect.poll(rowIds).toEqual(['intake-a']);
    await page.locator('#filter-machine').selectOption('');
    await expect.poll(pageInfo).toBe(`1–50 of ${COUNTERS + 2}`);
    expect(errors).toEqual([]);
  }, 60_000);

  it('shows why a task refused an event next to it in the list and in the panel header', async () => {
    // A blank scope passes the JSON Schema; the refinement only the task's process checks refuses it.
    await client.send('intake-a', { type: 'context.update', scope: '   ' });
    await waitUntil(async () => (await client.get('intake-a'))?.rejections?.length === 1, { timeout: 10_000 });

    await page.locator('#filter-text').fill('intake-a');
    const tag = page.locator('.task-row[data-id="intake-a"] .refused-tag');
    await tag.waitFor({ timeout: 10_000 });
    expect(await tag.getAttribute('title')).toMatch(/^refused context\.update: .*scope must not be blank$/);
    expect(await page.locator('.task-row .refused-tag').count()).toBe(1);
    await page.locator('.task-row[data-id="intake-a"]').click();
    const latest = page.locator('#task-header #refused-latest');
    await latest.waitFor({ timeout: 10_000 });
    expect(await latest.locator('code').textContent()).toBe('context.update');
    expect(await latest.locator('.reason').textContent()).toBe((await client.get('intake-a'))?.rejections?.at(-1)?.reason);
    expect(await latest.locator('.reason').textContent()).toContain('scope must not be blank');
    await page.screenshot({ path: join(ARTIFACTS, 'ui-refused-reason.png') });
  });

  it('puts "Send an event" at the top of the task panel: a context update is sent without scrolling', async () => {
    await selectTask('intake-a');
    const update = page.locator('#event-forms form.event-form[data-type="context.update"]');
    await update.waitFor({ timeout: 10_000 });
    const card = await box(page.locator('#events-card'));
    const chart = await box(page.locator('#diagram').locator('xpath=ancestor::div[contains(@class,"card")][1]'));
    expect(card.y).toBeLessThan(chart.y);
    const form = await box(update);
    expect(form.y + form.height).toBeLessThanOrEqual(VIEWPORT.height);
    expect(await page.evaluate(() => (globalThis as unknown as { scrollY: number }).scrollY)).toBe(0);

    await update.locator('[data-field="scope"]').fill('billing');
    await update.locator('button.send-event').click();
    await expect.poll(() => update.locator('.form-result').textContent(), { timeout: 10_000 }).toMatch(/^applied context.update/);
    expect(((await client.get('intake-a'))?.context as { scope: string }).scope).toBe('billing');
    expect(await page.evaluate(() => (globalThis as unknown as { scrollY: number }).scrollY)).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, 'ui-send-at-top.png') });
  });

  it("draws a wide child machine's statechart inside its panel, and at actual size on request", async () => {
    await selectTask(LONG_ID);
    const child = page.locator('.child-diagram[data-child="stages"]');
    const svg = child.locator('svg.statechart[data-graph="child:stages"]');
    await svg.locator(`g.node[data-path="${STAGES[0]}"].active`).waitFor({ timeout: 20_000 });
    await page.locator('svg[data-graph="root"] g.node[data-path="researching.step_3.running"].active').waitFor({ timeout: 10_000 });

    const container = child.locator('.diagram');
    const natural = await svg.evaluate((e) => (e as unknown as { viewBox: { baseVal: { width: number } } }).viewBox.baseVal.width);
    const drawn = await box(svg);
    expect(natural).toBeGreaterThan(drawn.width * 1.5); // it needed shrinking, by more than the old 0.6 limit
    expect(within(drawn, await box(container))).toBe(true);
    expect(within(drawn, await box(page.locator('#diagram').locator('xpath=ancestor::div[contains(@class,"card")][1]')))).toBe(true);
    expect(await container.evaluate((e) => e.scrollWidth <= e.clientWidth && e.scrollHeight <= e.clientHeight)).toBe(true);
    // Every stage is drawn, the last one too, inside the panel.
    const last = await box(svg.locator(`g.node[data-path="${STAGES.at(-1)}"] > rect:not(.inner)`));
    expect(within(last, await box(container))).toBe(true);
    expect(within(await box(page.locator('svg[data-graph="root"]')), await box(page.locator('#diagram')))).toBe(true);

    // The fitted chart follows the child.
    await client.send(LONG_ID, { type: 'advance' });
    await svg.locator(`g.node[data-path="${STAGES[1]}"].active`).waitFor({ timeout: 10_000 });
    expect(await svg.locator('g.node.active').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')))).toEqual([STAGES[1]]);
    await page.screenshot({ path: join(ARTIFACTS, 'ui-child-chart-fit.png'), fullPage: true });

    // "actual size" draws it at its size, scrolling; "fit" brings it back.
    const zoom = child.locator('button.zoom');
    expect(await zoom.textContent()).toBe('actual size');
    await zoom.click();
    await expect.poll(async () => (await box(svg)).width).toBeCloseTo(natural, 0);
    expect(await container.evaluate((e) => e.scrollWidth > e.clientWidth)).toBe(true);
    expect(await zoom.textContent()).toBe('fit');
    await zoom.click();
    await expect.poll(async () => within(await box(svg), await box(container))).toBe(true);
    expect(errors).toEqual([]);
  }, 60_000);

  it('puts the confirmation of a decision, or its error, right by its buttons', async () => {
    await runtime.spawn('launch', { id: 'launch-x', input: { product: 'rocket' } });
    await runtime.handle('launch-x').waitFor((v) => v.awaiting?.decision === 'reconcile', { timeout: 20_000 });
    await selectTask('launch-x');
    const card = page.locator('#awaiting .awaiting[data-decision="reconcile"]');
    await card.locator('button.decision-option[data-choice="legal"]').waitFor({ timeout: 15_000 });

    // An error from the server (here: the send is answered 409, as for a task that ended meanwhile) is shown by the buttons.
    const events = `**/api/tasks/launch-x/events`;
    await page.route(events, (route) =>
      route.fulfill({ status: 409, contentType: 'application/json', body: JSON.stringify({ error: "task 'launch-x' is not running", code: 'TASK_NOT_RUNNING' }) }),
    );
    await card.locator('button.decision-option[data-choice="tech"]').click();
    const result = card.locator('.options .decision-result');
    await expect.poll(() => result.textContent(), { timeout: 10_000 }).toBe("tech not sent: task 'launch-x' is not running [TASK_NOT_RUNNING]");
    expect(await result.getAttribute('class')).toContain('error-text');
    expect(await card.locator('button.decision-option:not([disabled])').count()).toBe(2); // try again
    const button = await box(card.locator('button.decision-option[data-choice="legal"]'));
    const said = await box(result);
    expect(Math.abs(said.y + said.height / 2 - (button.y + button.height / 2))).toBeLessThan(button.height); // on the buttons' line
    expect(await page.locator('#send-result').textContent()).toBe('');
    expect(await page.locator('#forms-result').textContent()).toBe('');
    expect((await client.get('launch-x'))?.awaiting?.decision).toBe('reconcile');
    await page.screenshot({ path: join(ARTIFACTS, 'ui-decision-error.png') });
    await page.unroute(events);

    await card.locator('button.decision-option[data-choice="legal"]').click();
    const receipt = page.locator('#awaiting .decision-receipt[data-decision="reconcile"] .options');
    await expect.poll(() => receipt.locator('.decision-result').textContent(), { timeout: 15_000 }).toMatch(/^legal: applied \(\d+-\d+\)$/);
    expect(await receipt.locator('button.chosen').getAttribute('data-choice')).toBe('legal');
    await page.locator('#awaiting .awaiting[data-decision="publish"]').waitFor({ timeout: 15_000 });
    expect(((await client.get('launch-x'))?.context as { review: { decidedBy: string } }).review.decidedBy).toBe('human:ui');
    await page.screenshot({ path: join(ARTIFACTS, 'ui-decision-confirmed.png') });
    expect(errors).toEqual([]);
  }, 60_000);

  it('the connection badge says "live" with nothing selected, "reconnecting…" while the server is away, and "live" again', async () => {
    const fresh = await browser.newPage();
    fresh.on('pageerror', (e) => errors.push(e.message));
    // Every text the badge shows, from the first paint on.
    await fresh.addInitScript({
      content: `window.badges = [];
        document.addEventListener('DOMContentLoaded', () => {
          const live = document.getElementById('live');
          window.badges.push(live.textContent);
          new MutationObserver(() => window.badges.push(live.textContent)).observe(live, { childList: true, characterData: true, subtree: true });
        });`,
    });
    const badge = fresh.locator('#live');
    const { port } = server;
    await fresh.goto(server.url);
    await expect.poll(() => badge.textContent(), { timeout: 10_000 }).toBe('live');
    expect(await fresh.locator('#placeholder').isVisible()).toBe(true); // nothing selected
    await fresh.screenshot({ path: join(ARTIFACTS, 'ui-live-nothing-selected.png') });

    await server.close();
    await expect.poll(() => badge.textContent(), { timeout: 10_000 }).toBe('reconnecting…');
    expect(await badge.getAttribute('class')).toContain('off');
    await fresh.screenshot({ path: join(ARTIFACTS, 'ui-live-reconnecting.png') });
    server = await startUiServer({ client, port });
    await expect.poll(() => badge.textContent(), { timeout: 15_000 }).toBe('live');

    // With a task open: both streams come back, and the task's own stream carries commits again.
    await fresh.locator('#filter-text').fill('count-000');
    await fresh.locator('.task-row[data-id="count-000"]').click();
    await expect.poll(() => fresh.locator('#context').textContent(), { timeout: 10_000 }).toContain('"n": 0');
    await server.close();
    await expect.poll(() => badge.textContent(), { timeout: 10_000 }).toBe('reconnecting…');
    server = await startUiServer({ client, port });
    await expect.poll(() => badge.textContent(), { timeout: 15_000 }).toBe('live');
    await client.send('count-000', { type: 'inc', by: 5 });
    await expect.poll(() => fresh.locator('#context').textContent(), { timeout: 10_000 }).toContain('"n": 5');
    await fresh.screenshot({ path: join(ARTIFACTS, 'ui-live-again.png') });

    const seen = await fresh.evaluate(() => (globalThis as unknown as { badges: string[] }).badges);
    expect(seen).not.toContain('offline');
    expect(new Set(seen)).toEqual(new Set(['connecting…', 'live', 'reconnecting…']));
    await fresh.close();

    // A link to a task that does not exist: the panel says so, the page does not keep asking, the badge stays "live".
    const missing = await browser.newPage();
    await missing.goto(`${server.url}#task=no-such-task`);
    await expect.poll(() => missing.locator('#task-header .error-text').textContent(), { timeout: 10_000 }).toContain('no-such-task');
    expect(await missing.locator('#live').textContent()).toBe('live');
    await missing.close();
    expect(errors).toEqual([]);
  }, 90_000);
});
