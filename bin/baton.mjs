#!/usr/bin/env node
// The `baton` command.
//
// In a checkout (src/ is there) it runs the TypeScript sources through tsx,
// a dev dependency: no build step. Installed from the package (no src/), it
// runs the compiled build, dist/, with plain node.
//
// A module given on the command line (`baton worker ./worker.ts`,
// `baton ui --module ./machines.ts`) may be TypeScript: then tsx is
// registered, the one of the current directory's project or else one next to
// Baton (a global install). Without tsx, and on a node that cannot load
// TypeScript itself, the command fails with one line saying so.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(here), '..');
const source = path.join(root, 'src', 'cli', 'main.ts');
const TYPESCRIPT = /\.(?:[cm]?ts|tsx)$/i;

/** tsx's ESM `register`, from the first of `places` that resolves tsx; undefined without tsx. */
async function findTsx(places) {
  for (const from of places) {
    let manifest;
    try {
      manifest = createRequire(from).resolve('tsx/package.json');
    } catch {
      continue;
    }
    // The ESM build of tsx/esm/api (its CommonJS one cannot be imported from here).
    let target = JSON.parse(readFileSync(manifest, 'utf8')).exports?.['./esm/api'];
    while (target && typeof target === 'object') target = target.import ?? target.default;
    if (typeof target !== 'string') continue;
    const { register } = await import(pathToFileURL(path.join(path.dirname(manifest), target)).href);
    if (typeof register === 'function') return register;
  }
  return undefined;
}

if (existsSync(source)) {
  const register = await findTsx([here]);
  if (!register) {
    process.stderr.write("baton: this checkout runs from src/ and needs tsx (run 'npm install')\n");
    process.exit(1);
  }
  register();
  await import(pathToFileURL(source).href);
} else {
  const typescript = process.argv.slice(2).find((arg) => TYPESCRIPT.test(arg) && existsSync(path.resolve(arg)));
  if (typescript) {
    const register = await findTsx([path.join(process.cwd(), 'package.json'), here]);
    if (register) register();
    else if (!process.features.typescript) {
      process.stderr.write(
        `baton: cannot load '${typescript}': a TypeScript module needs tsx (npm install --save-dev tsx), or give a compiled .js module\n`,
      );
      process.exit(1);
    }
  }
  await import('../dist/cli/main.js');
}
