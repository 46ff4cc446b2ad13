// Baton as a user gets it: `npm pack`, the tarball installed into a fresh
// project, the README's quickstart run there with plain `node` (no tsx, no dev
// dependency), the `baton` command run from node_modules/.bin, and the
// declarations checked from a TypeScript file.
//
// The pack runs in a copy of the checkout (everything but node_modules, which
// is linked, dist/ and .git): packing rewrites package.json and rebuilds
// dist/ while it runs, which must not happen under the feet of other tests or
// of anyone working in the checkout. Dependencies of the installed package
// come from the npm registry (or npm's cache).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisUrl, uniquePrefix } from './helpers/redis-url.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
/** Left out of the copy that is packed: what a pack never reads, and what it writes. */
const NOT_COPIED = new Set(['node_modules', '.git', 'dist', '.package.json.dev', 'artifacts', '.bench-out', '.scratch', '.baton']);

/** The environment of a user's shell: no npm_* variables of an `npm test` around us, no NODE_OPTIONS (plain node). */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'INIT_CWD' || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return { ...env, npm_config_update_notifier: 'false', NO_COLOR: '1', REDIS_URL: redisUrl(), ...extra };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  pid: number | undefined;
}

function run(file: string, args: string[], cwd: string, timeout = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { cwd, env: userEnv(), timeout, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr, pid: child.pid });
    });
  });
}

async function ok(file: string, args: string[], cwd: string): Promise<Run> {
  const r = await run(file, args, cwd);
  expect(r.code, `${path.basename(file)} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r;
}

/** A long-running command: resolves with its first output line matching `re` (stdout or stderr). */
function startUntil(args: string[], cwd: string, re: RegExp, timeout = 20_000): { proc: ChildProcess; line: Promise<string>; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, args, { cwd, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const line = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeout} ms:\n${lines.join('\n')}`)), timeout);
    for (const stream of [proc.stdout, proc.stderr]) {
      createInterface({ input: stream! }).on('line', (l) => {
        lines.push(l);
        if (re.test(l)) {
          clearTimeout(timer);
          resolve(l);
        }
      });
    }
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`exited (code ${code}) before a line matching ${re}:\n${lines.join('\n')}`));
    });
  });
  line.catch(() => {}); // awaited by the test; do not count as unhandled meanwhile
  return { proc, line, exited };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'));
}

// The README's quickstart (examples/quickstart.ts) in plain JavaScript, importing the installed 'baton'.
const QUICKSTART = `import { assign, setup } from 'xstate';
import { z } from 'zod';
import { createRuntime, defineTask } from 'baton';

const review = setup({}).createMachine({
  id: 'review',
  context: ({ input }) => ({ doc: input.doc, notes: [] }),
  initial: 'open',
  states: {
    open: {
      on: {
        note: { actions: assign({ notes: ({ context, event }) => [...context.notes, event.text] }) },
        approve: 'approved',
      },
      after: { 86_400_000: 'expired' }, // a day; survives restarts and passivation
    },
    approved: { type: 'final' },
    expired: { type: 'final' },
  },
  output: ({ context }) => ({ notes: context.notes.length }),
});

const runtime = await createRuntime({
  connection: process.env.REDIS_URL,
  prefix: \`quickstart-\${process.pid}\`,
  machines: {
    review: defineTask(review, {
      input: z.object({ doc: z.string().min(1) }),
      events: { note: z.object({ type: z.literal('note'), text: z.string().max(500) }) },
    }),
  },
});

const task = await runtime.spawn('review', { input: { doc: 'Q3 plan' } });
await task.send({ type: 'note', text: 'tighten the budget' }, { idempotencyKey: 'note-1' });
await task.send({ type: 'note', text: 'tighten the budget' }, { idempotencyKey: 'note-1' }); // applied once
await task.send({ type: 'approve' });
const view = await task.waitFor((v) => v.status === 'done');
console.log(view.value, view.output); // 'approved' { notes: 1 }
console.log((await task.history()).map((h) => \`\${h.seq} \${h.event.type}\`)); // [ '1 baton.spawn', '2 note', '3 approve' ]
await runtime.close();
`;

// A TypeScript user of the declarations: what they accept, and that internals are not among them.
const CHECK_TS = `import { createClient, createRuntime, defineTask, BatonError, type TaskView } from 'baton';
import { setup } from 'xstate';

const runtime = await createRuntime({ connection: process.env.REDIS_URL, machines: { m: defineTask(setup({}).createMachine({})) } });
const task = await runtime.spawn('m', { id: 'x' });
const view: TaskView = await task.waitFor((v) => v.status === 'done', { timeout: 1000 });
const owner: string = runtime.self;
// @ts-expect-error the machine name is a string
await runtime.spawn(42);
// @ts-expect-error internal: stripped from the declarations
runtime.store;
// @ts-expect-error internal: stripped from the declarations
runtime.hosts;
const client = createClient({ prefix: 'p' });
// @ts-expect-error internal: stripped from the declarations
client.registry;
export const seen = [view.status, owner, BatonError.name, client];
`;

describe('the package: npm pack, installed into a fresh project, run with plain node', () => {
  let tmp: string;
  let stage: string;
  let app: string;
  let packed: { filename: string; files: Array<{ path: string }> };
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      timings[name] = Date.now() - t0;
    }
  };

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'baton-package-'));
    stage = path.join(tmp, 'baton');
    app = path.join(tmp, 'app');
    cpSync(REPO_ROOT, stage, { recursive: true, filter: (src) => !NOT_COPIED.has(path.basename(src)) });
    symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(stage, 'node_modules'), 'junction');
    const manifestBefore = readFileSync(path.join(stage, 'package.json'), 'utf8');

    // prepack builds dist/ and writes the packed manifest; postpack puts package.json back.
    const pack = await timed('npm pack (build included)', () => ok(NPM, ['pack', '--json', '--pack-destination', tmp], stage));
    const json = pack.stdout.slice(pack.stdout.indexOf('['));
    [packed] = JSON.parse(json) as [typeof packed];
    expect(readFileSync(path.join(stage, 'package.json'), 'utf8')).toBe(manifestBefore);
    expect(existsSync(path.join(stage, '.package.json.dev'))).toBe(false);

    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), `${JSON.stringify({ name: 'baton-user', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`);
    await timed('npm install <tarball>', () =>
      ok(NPM, ['install', path.join(tmp, packed.filename), '--no-audit', '--no-fund', '--prefer-offline'], app),
    );
    writeFileSync(path.join(app, 'quickstart.mjs'), QUICKSTART);
  }, 240_000);

  afterAll(() => {
    if (Object.keys(timings).length) process.stderr.write(`[package.test] ${Object.entries(timings).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(', ')}\n`);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('ships what runs: dist/ (with the Lua scripts and the web view), bin/, README.md; no sources, tests or tooling', () => {
    const files = packed.files.map((f) => f.path);
    expect(files.filter((f) => /^(src|test|bench|examples|scripts|docs|\.ci)\//.test(f) || /(^|\/)tsconfig|vitest|\.ts$/.test(f.replace(/\.d\.ts$/, '')))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'bin/baton.mjs', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js']));
    for (const dir of ['persistence/lua', 'cli/ui/public']) {
      const want = filesUnder(path.join(stage, 'src', dir)).map((f) => `dist/${dir}/${f}`);
      expect(want.length).toBeGreaterThan(0);
      expect(files).toEqual(expect.arrayContaining(want));
    }
    expect(files.every((f) => f === 'package.json' || f === 'README.md' || f === 'LICENSE' || /^(dist|bin)\//.test(f)), files.join('\n')).toBe(true);
  });

  it('the installed manifest points at the build, and nothing of the checkout is installed with it', () => {
    const pkg = JSON.parse(readFileSync(path.join(app, 'node_modules/baton/package.json'), 'utf8')) as Record<string, any>;
    expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' });
    expect(pkg.types).toBe('./dist/index.d.ts');
    expect(pkg.bin).toEqual({ baton: 'bin/baton.mjs' });
    expect(pkg.packedManifest).toBeUndefined();
    expect(existsSync(path.join(app, 'node_modules/baton/src'))).toBe(false);
    for (const dev of ['tsx', 'typescript', 'vitest']) expect(existsSync(path.join(app, 'node_modules', dev)), dev).toBe(false);
  });

  it('declarations: dist/index.d.ts, with no @internal member', () => {
    const dist = path.join(app, 'node_modules/baton/dist');
    expect(existsSync(path.join(dist, 'index.d.ts'))).toBe(true);
    const dts = filesUnder(dist).filter((f) => f.endsWith('.d.ts'));
    for (const f of dts) expect(readFileSync(path.join(dist, f), 'utf8'), f).not.toContain('@internal');
    const read = (f: string) => readFileSync(path.join(dist, f), 'utf8');
    expect(read('runtime/client.d.ts')).toMatch(/export declare class BatonClient/);
    expect(read('runtime/client.d.ts')).not.toMatch(/\bassertOpen\b|readonly store\b|readonly registry\b/);
    expect(read('runtime/runtime.d.ts')).not.toMatch(/readonly hosts\b/);
    expect(read('actors/agent-bridge.d.ts')).not.toMatch(/\bregisterBridge\b|\bbridgeOf\b/);
    expect(read('errors.d.ts')).not.toMatch(/StaleMailboxError/);
  });

  it("the README's quickstart runs with plain node, and `baton ps` (plain node) lists its task", async () => {
    const r = await timed('quickstart', () => ok(process.execPath, ['quickstart.mjs'], app));
    expect(r.stdout.trimEnd().split('\n')).toEqual(['approved { notes: 1 }', "[ '1 baton.spawn', '2 note', '3 approve' ]"]);

    const ps = await ok(process.execPath, ['node_modules/.bin/baton', '--prefix', `quickstart-${r.pid}`, 'ps', '--json'], app);
    const tasks = JSON.parse(ps.stdout) as Array<{ machine: string; status: string }>;
    expect(tasks.map((t) => [t.machine, t.status])).toEqual([['review', 'done']]);
  });

  it('baton worker runs a .js module with plain node, and refuses a TypeScript one without tsx, saying so', async () => {
    writeFileSync(
      path.join(app, 'worker.mjs'),
      "import { setup } from 'xstate';\nimport { defineTask } from 'baton';\nexport const machines = { idle: defineTask(setup({}).createMachine({ id: 'idle' })) };\n",
    );
    writeFileSync(path.join(app, 'worker.ts'), 'export const machines: Record<string, never> = {};\n');
    const refused = await run(process.execPath, ['node_modules/.bin/baton', 'worker', './worker.ts'], app);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trimEnd()).toBe("baton: cannot load './worker.ts': a TypeScript module needs tsx (npm install --save-dev tsx), or give a compiled .js module");

    const worker = startUntil(['node_modules/.bin/baton', '--prefix', uniquePrefix('package-worker'), 'worker', './worker.mjs', '--json'], app, /"ready":true/);
    try {
      expect(JSON.parse(await worker.line)).toMatchObject({ ready: true, machines: ['idle'], agents: [] });
      worker.proc.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
    } finally {
      worker.proc.kill('SIGKILL');
    }
  });

  it('baton ui serves the web view from the installed package', async () => {
    const ui = startUntil(['node_modules/.bin/baton', '--prefix', uniquePrefix('package-ui'), 'ui', '--port', '0', '--json'], app, /"url"/);
    try {
      const { url } = JSON.parse(await ui.line) as { url: string };
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<html/i);
      expect((await fetch(`${url}api/tasks`)).status).toBe(200);
      ui.proc.kill('SIGTERM');
      expect(await ui.exited).toBe(0);
    } finally {
      ui.proc.kill('SIGKILL');
    }
  });

  it('a TypeScript user type-checks against the declarations (internals are not there)', async () => {
    writeFileSync(path.join(app, 'check.ts'), CHECK_TS);
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: false, // check Baton's .d.ts too
        types: ['node'],
        typeRoots: [path.join(REPO_ROOT, 'node_modules/@types')],
      },
      files: ['check.ts'],
    };
    writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    // The checkout's compiler, as a tool: nothing is installed into the project for it.
    const r = await timed('tsc', () => run(process.execPath, [path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', '.'], app));
    // Errors inside other packages' declarations (ioredis without @types/redis-errors) are theirs.
    const ours = r.stdout.split('\n').filter((l) => /^(check\.ts|node_modules\/baton\/)/.test(l));
    expect(ours, r.stdout).toEqual([]);
    expect(r.stdout.split('\n').filter((l) => /error TS/.test(l) && !/^node_modules\//.test(l)), r.stdout).toEqual([]);
  });
});
