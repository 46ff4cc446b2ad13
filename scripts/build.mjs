// Compile src/ to dist/ (JavaScript + declarations) and copy the files the
// code reads at run time (Lua scripts, the web view's static files).
// Node built-ins only. `npm run build`; `npm run bench:peers` runs it first.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');

fs.rmSync(DIST, { recursive: true, force: true });
const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
if (r.status !== 0) {
  process.stderr.write('[baton/build] tsc failed\n');
  process.exit(r.status ?? 1);
}
for (const dir of ['persistence/lua', 'cli/ui/public']) {
  fs.cpSync(path.join(ROOT, 'src', dir), path.join(DIST, dir), { recursive: true });
}
process.stderr.write(`[baton/build] compiled src/ to ${path.relative(ROOT, DIST)}/\n`);
