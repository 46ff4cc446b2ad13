// The web view's event forms in headless Chromium: a server started without
// the machines' code draws, for the task's current state, one typed form per
// event that state accepts, from the JSON Schemas the runtime published in
// the machine registry. A filled form changes the committed context; a
// refused one says why next to its button and writes nothing; refusals made
// where the task runs are listed; a task no live process runs is flagged.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createRuntime, type BatonClient, type Runtime } from '../src/index.js';
import { createUiApp, startUiServer, type UiServer } from '../src/cli/ui/server.js';
import { ensureChromium, openBrowser } from './helpers/chromium.ts';
import { REPO_ROOT, redisUrl, uniquePrefix, waitUntil } from './helpers/index.ts';
import { formMachines, intakeTask } from './fixtures/ui-machines.ts';

const ARTIFACTS = join(REPO_ROOT, 'test/artifacts');
const prefix = uniquePrefix('ui-forms');
let runtime: Runtime;
let client: BatonClient;
let server: UiServer;
let redis: Redis;
let browser: BrowserContext;
let page: Page;
const errors: string[] = [];

type IntakeCtx = { scope: string; urgent: boolean; notes: unknown[]; approvedBy?: string };
const ctx = async (id: string) => (await client.get(id))?.context as IntakeCtx;
const mailbox = (id: string) => redis.xrange(client.keys.task(id).mailbox, '-', '+');
const formTypes = () => page.locator('#event-forms form.event-form').evaluateAll((els) => els.map((e) => e.getAttribute('data-type')));
const form = (type: string) => page.locator(`#event-forms form.event-form[data-type="${type}"]`);
const field = (type: string, name: string) => form(type).locator(`[data-field="${name}"]`);

beforeAll(async () => {
  ensureChromium();
  mkdirSync(ARTIFACTS, { recursive: true });
  redis = new Redis(redisUrl());
  runtime = await createRuntime({ connection: redisUrl(), prefix, machines: formMachines });
  // No machines here: the client checks against the registry, the page's forms come from it.
  client = createClient({ connection: redisUrl(), prefix, unservedAfterMs: 300 });
  server = await startUiServer({ client, port: 0 });
  ({ browser, page } = await openBrowser({ width: 1400, height: 1100 }, errors));
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await client?.close();
  await runtime?.close();
  redis?.disconnect();
});

describe('baton ui event forms (headless Chromium)', () => {
  it('offers a typed form per event the current state accepts, and a filled form changes the committed context', async () => {
    await runtime.spawn('intake', { id: 'intake-1' });
    await runtime.handle('intake-1').waitFor((v) => v.value === 'drafting', { timeout: 15_000 });

    // The API: what 'drafting' and the root accept, with the registry's schemas.
    const accepts = (await (await createUiApp({ client }).request('/api/tasks/intake-1/events')).json()) as {
      source: string;
      events: Array<{ type: string; schema: { properties?: Record<string, unknown>; required?: string[] } | null }>;
    };
    expect(accepts.source).toBe('registry');
    expect(accepts.events.map((e) => e.type)).toEqual(['context.update', 'note', 'submit']);
    expect(accepts.events[0]!.schema?.required).toEqual(['type', 'scope']);

    await page.goto(server.url);
    await page.locator('.task-row[data-id="intake-1"]').click();
    await form('context.update').waitFor({ timeout: 15_000 });
    expect(await formTypes()).toEqual(['context.update', 'note', 'submit']);
    await expect.poll(() => page.locator('#graph-source').textContent()).toContain('from the registry');

    // Typed fields: string → text (required marked), boolean → checkbox, integer → number, enum → select, array → JSON.
    expect(await field('context.update', 'scope').getAttribute('type')).toBe('text');
    expect(await form('context.update').locator('.field[data-name="scope"] .req').count()).toBe(1);
    expect(await field('context.update', 'urgent').getAttribute('type')).toBe('checkbox');
    expect(await form('context.update').locator('.field[data-name="urgent"] .req').count()).toBe(0);
    expect(await field('note', 'priority').getAttribute('type')).toBe('number');
    expect(await field('note', 'level').evaluate((e) => e.tagName)).toBe('SELECT');
    expect(await field('note', 'tags').evaluate((e) => e.tagName)).toBe('TEXTAREA');
    expect(await form('submit').locator('[data-field]').count()).toBe(0);

    await field('context.update', 'scope').fill('billing');
    await field('context.update', 'urgent').check();
    await form('context.update').locator('button.send-event').click();
    await expect.poll(() => form('context.update').locator('.form-result').textContent(), { timeout: 15_000 }).toMatch(/^applied context\.update/);
    await waitUntil(async () => (await ctx('intake-1')).scope === 'billing', { timeout: 10_000 });
    expect(await ctx('intake-1')).toMatchObject({ scope: 'billing', urgent: true });
    await expect.poll(() => page.locator('#context').textContent()).toContain('billing');

    await field('note', 'text').fill('call back on Monday');
    await field('note', 'priority').fill('2');
    await field('note', 'level').selectOption('high');
    await field('note', 'tags').fill('["phone", "billing"]');
    await form('note').locator('button.send-event').click();
    await waitUntil(async () => (await ctx('intake-1')).notes.length === 1, { timeout: 10_000 });
    expect((await ctx('intake-1')).notes).toEqual([{ text: 'call back on Monday', priority: 2, level: 'high', tags: ['phone', 'billing'] }]);
    await expect.poll(() => form('note').locator('.form-result').textContent()).toMatch(/^applied note/);
    await page.screenshot({ path: join(ARTIFACTS, 'ui-forms-filled.png'), fullPage: true });

    // Submitting moves the task on: the forms follow the state ('reject' has no schema: a form without fields).
    await form('submit').locator('button.send-event').click();
    await expect.poll(formTypes, { timeout: 15_000 }).toEqual(['approve', 'context.update', 'reject']);
    expect(await form('reject').textContent()).toContain('no schema');
    expect((await client.get('intake-1'))?.value).toBe('review');
    expect(errors).toEqual([]);
  }, 120_000);

  it('a refused submission shows its error next to the button and writes nothing; refusals where the task runs are listed', async () => {
    await page.locator('.task-row[data-id="intake-1"]').click();
    await form('context.update').waitFor();
    const before = { mailbox: await mailbox('intake-1'), view: await client.get('intake-1') };

    // An empty scope fails the schema's minLength: the client refuses it (INVALID_EVENT) before anything is written.
    await field('context.update', 'scope').fill('');
    await form('context.update').locator('button.send-event').click();
    const result = form('context.update').locator('.form-result');
    await expect.poll(() => result.textContent(), { timeout: 10_000 }).toContain('INVALID_EVENT');
    expect(await result.getAttribute('class')).toContain('error-text');
    expect(await result.textContent()).toMatch(/scope/);
    await page.screenshot({ path: join(ARTIFACTS, 'ui-forms-refused.png'), fullPage: true });
    // The same through the API: 400, `{ error: message, code }`.
    const res = await createUiApp({ client }).request('/api/tasks/intake-1/events', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'context.update', scope: '' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'INVALID_EVENT', error: expect.stringMatching(/scope/) });
    expect(await mailbox('intake-1')).toEqual(before.mailbox);
    const after = await client.get('intake-1');
    expect({ seq: after?.seq, cursor: after?.cursor, context: after?.context }).toEqual({ seq: before.view?.seq, cursor: before.view?.cursor, context: before.view?.context });

    // A blank scope passes the JSON Schema but not the refinement: the task's process refuses it when applying it.
    await field('context.update', 'scope').fill('   ');
    await form('context.update').locator('button.send-event').click();
    await expect.poll(() => result.textContent(), { timeout: 15_000 }).toContain('scope must not be blank');
    expect(await result.textContent()).toContain('INVALID_EVENT');
    await page.locator('#rejections-card:not([hidden]) tr.rejection').first().waitFor({ timeout: 10_000 });
    expect(await page.locator('#rejections tr.rejection code').first().textContent()).toBe('context.update');
    expect(await page.locator('#rejections tr.rejection .reason').first().textContent()).toContain('scope must not be blank');
    expect((await ctx('intake-1')).scope).toBe('billing');
    expect((await client.get('intake-1'))?.rejections?.at(-1)).toMatchObject({ type: 'context.update' });

    // The approval form finishes the task; the forms say it takes no more events.
    await field('approve', 'by').fill('ana');
    await form('approve').locator('button.send-event').click();
    await waitUntil(async () => (await client.get('intake-1'))?.status === 'done', { timeout: 10_000 });
    expect((await ctx('intake-1')).approvedBy).toBe('ana');
    await expect.poll(() => page.locator('#forms-none').textContent(), { timeout: 10_000 }).toContain('takes no more events');
    expect(errors).toEqual([]);
  }, 120_000);

  it('flags a task no live process runs, in the list and in the panel, and queues what is sent to it', async () => {
    // Another process runs 'orphan', takes a task, and goes away: its registry record stays, no live process runs it.
    const other = await createRuntime({ connection: redisUrl(), prefix, machines: { orphan: intakeTask } });
    await other.spawn('orphan', { id: 'orphan-1' });
    await other.handle('orphan-1').waitFor((v) => v.value === 'drafting', { timeout: 15_000 });
    await other.close();
    await waitUntil(async () => (await client.get('orphan-1'))?.unserved, { timeout: 10_000 });

    await page.goto(`${server.url}`);
    const tag = page.locator('.task-row[data-id="orphan-1"] .unserved-tag');
    await tag.waitFor({ timeout: 15_000 });
    expect(await tag.getAttribute('title')).toContain("no live process runs machine 'orphan'");
    expect(await page.locator('.task-row[data-id="intake-1"] .unserved-tag').count()).toBe(0);
    await page.locator('.task-row[data-id="orphan-1"]').click();
    await page.locator('#unserved').waitFor({ timeout: 15_000 });
    expect(await page.locator('#unserved').textContent()).toContain("no live process runs machine 'orphan'");
    expect(await page.locator('#task-header .badge.unserved').count()).toBe(1);

    // Its forms still come from the registry; what is sent waits in the mailbox for a process to come back.
    await form('note').waitFor({ timeout: 10_000 });
    const before = (await mailbox('orphan-1')).length;
    await field('note', 'text').fill('for later');
    await form('note').locator('button.send-event').click();
    await expect.poll(() => form('note').locator('.form-result').textContent(), { timeout: 10_000 }).toMatch(/^queued note/);
    expect(await mailbox('orphan-1')).toHaveLength(before + 1);
    await page.screenshot({ path: join(ARTIFACTS, 'ui-forms-unserved.png'), fullPage: true });
    expect(errors).toEqual([]);
  }, 60_000);
});
