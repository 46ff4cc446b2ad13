// Compile src/ to dist/ (JavaScript + declarations, `@internal` members
// stripped) and copy the files the code reads at run time next to their
// compiled modules (Lua scripts, the web view's static files).
// Node built-ins only.
//
//   node scripts/build.mjs               `npm run build`; `npm run bench:peers` runs it first
//   node scripts/build.mjs --prepack     npm's prepack: build, then write the packed manifest
//   node scripts/build.mjs --postpack    npm's postpack: put package.json back
//   node scripts/build.mjs --postpublish npm's postpublish: the same, after `npm publish`
//
// The checkout runs from source: package.json's `exports` and `types` point at
// src/index.ts, so tests, examples and bench (`node --import tsx`, vitest, tsc)
// resolve the self-reference 'baton' to the sources with no build step. What
// npm packs must run with plain node: for the length of `npm pack` (and
// `npm publish`) package.json is rewritten with the fields of its
// `packedManifest` (exports and types pointing at dist/); the original text is
// kept in .package.json.dev and put back byte for byte afterwards. A pack that
// died half-way leaves that file behind: the next run of this script puts it
// back. (Not a custom export condition for the sources: neither tsx nor tsc
// picks one up without `--conditions` / `customConditions`.)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');
const MANIFEST = path.join(ROOT, 'package.json');
const DEV_MANIFEST = path.join(ROOT, '.package.json.dev');
/** Read at run time through `new URL(…, import.meta.url)`: copied next to the compiled modules. */
const ASSETS = ['persistence/lua', 'cli/ui/public'];

function log(msg) {
  process.stderr.write(`[baton/build] ${msg}\n`);
}

function fail(msg) {
  log(msg);
  process.exit(1);
}

/** Put back a package.json a pack rewrote (no-op when none is pending). */
function restoreManifest(why) {
  if (!fs.existsSync(DEV_MANIFEST)) return false;
  fs.writeFileSync(MANIFEST, fs.readFileSync(DEV_MANIFEST));
  fs.rmSync(DEV_MANIFEST);
  log(`package.json restored (${why})`);
  return true;
}

function build() {
  fs.rmSync(DIST, { recursive: true, force: true });
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) fail('tsc failed');
  for (const dir of ASSETS) {
    fs.cpSync(path.join(ROOT, 'src', dir), path.join(DIST, dir), { recursive: true });
  }
  log(`compiled src/ to ${path.relative(ROOT, DIST)}/`);
}

/**
 * package.json as packed: the fields of `packedManifest` in place of the
 * checkout's. `scripts` stay: `npm publish` runs postpublish from the manifest
 * it reads after packing.
 */
function packedManifest(text) {
  const pkg = JSON.parse(text);
  const { packedManifest: packed, ...rest } = pkg;
  if (!packed || typeof packed !== 'object') fail('package.json has no `packedManifest` to pack with');
  const out = {};
  for (const [key, value] of Object.entries(rest)) out[key] = key in packed ? packed[key] : value;
  for (const [key, value] of Object.entries(packed)) if (!(key in out)) out[key] = value;
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** Every file the packed manifest names must be there, or the package would not load. */
function checkEntryPoints(text) {
  const pkg = JSON.parse(text);
  const targets = [];
  const walk = (v) => {
    if (typeof v === 'string') targets.push(v);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk([pkg.main, pkg.types, pkg.exports, pkg.bin]);
  const missing = targets.filter((t) => !fs.existsSync(path.join(ROOT, t)));
  if (missing.length) fail(`the packed manifest names files that do not exist: ${missing.join(', ')}`);
}

const mode = process.argv[2];
switch (mode) {
  case undefined:
    restoreManifest('left behind by an interrupted pack');
    build();
    break;
  case '--prepack': {
    restoreManifest('left behind by an interrupted pack');
    build();
    const text = fs.readFileSync(MANIFEST, 'utf8');
    const packed = packedManifest(text);
    checkEntryPoints(packed);
    fs.writeFileSync(DEV_MANIFEST, text);
    fs.writeFileSync(MANIFEST, packed);
    log('package.json rewritten for packing (exports, types, main -> dist/); postpack puts it back');
    break;
  }
  case '--postpack':
    // `npm publish` sends the manifest it reads after packing to the registry: keep
    // the packed one until postpublish (a publish that fails leaves .package.json.dev,
    // which the next build puts back).
    if (process.env.npm_command === 'publish') log('publishing: package.json is put back after publish');
    else restoreManifest('pack done');
    break;
  case '--postpublish':
    restoreManifest('publish done');
    break;
  default:
    fail(`unknown option '${mode}' (use --prepack, --postpack or --postpublish, or nothing to build)`);
}
