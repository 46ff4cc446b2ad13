// Debian's Chromium for browser tests: installed with apt-get when missing and
// we are root; a clear error otherwise (a browser test never skips silently).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

function run(cmd: string, args: string[], timeoutMs: number): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
  return { ok: r.status === 0, out: out.slice(-2000) };
}

/**
 * Make sure /usr/bin/chromium exists, installing Debian's `chromium` package
 * (apt-get update, apt-get install -y chromium) when missing and running as
 * root. Throws a readable error when it cannot be had. Returns its path.
 */
export function ensureChromium(): string {
  if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    throw new Error(`${CHROMIUM_PATH} is missing and this is not root: install Debian's chromium package (apt-get install -y chromium) to run the web view test`);
  }
  const update = run('apt-get', ['update'], 300_000);
  if (!update.ok) throw new Error(`apt-get update failed, cannot install chromium for the web view test:\n${update.out}`);
  const install = run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium', 'fonts-dejavu-core'], 900_000);
  if (!install.ok || !existsSync(CHROMIUM_PATH)) {
    throw new Error(`apt-get install chromium failed, the web view test needs ${CHROMIUM_PATH}:\n${install.out}`);
  }
  return CHROMIUM_PATH;
}

/**
 * Launch arguments for headless Chromium in a container. The fresh
 * `--user-data-dir` is given to playwright's `launchPersistentContext`
 * (which refuses it among the args): see {@link freshProfileDir}.
 */
export function chromiumArgs(): string[] {
  return [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ];
}

/** A new, empty profile directory (Chromium's --user-data-dir). */
export function freshProfileDir(): string {
  return mkdtempSync(join(tmpdir(), 'baton-chromium-'));
}

/** A headless Chromium with a fresh profile and its first page (page errors collected in `errors`). */
export async function openBrowser(viewport: { width: number; height: number }, errors: string[] = []): Promise<{
  browser: import('playwright-core').BrowserContext;
  page: import('playwright-core').Page;
  errors: string[];
}> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launchPersistentContext(freshProfileDir(), { executablePath: CHROMIUM_PATH, headless: true, args: chromiumArgs(), viewport });
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.on('pageerror', (e) => errors.push(e.message));
  return { browser, page, errors };
}
