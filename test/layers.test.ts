import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// The layer rules of docs/architecture.md, checked on the sources (as a lint rule would).
const SRC = new URL('../src/', import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(join(SRC, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function imports(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  return [...text.matchAll(/(?:import|export)[^'"]*from\s+'([^']+)'|import\('([^']+)'\)/g)].map((m) => m[1] ?? m[2]!);
}

describe('layers', () => {
  it('src/machines imports only xstate, zod, itself and src/actors', () => {
    for (const f of files('machines')) {
      for (const i of imports(f)) {
        const ok = i === 'xstate' || i === 'zod' || (i.startsWith('./') && !i.includes('..')) || /^\.\.\/actors\/[a-zA-Z-]+\.js$/.test(i);
        expect(ok, `${f} imports ${i}`).toBe(true);
      }
    }
  });
  it('src/actors imports only xstate, zod and itself', () => {
    for (const f of files('actors')) {
      for (const i of imports(f)) {
        const ok = i === 'xstate' || i === 'zod' || (i.startsWith('./') && !i.includes('..'));
        expect(ok, `${f} imports ${i}`).toBe(true);
      }
    }
  });
  it('src/persistence does not import the runtime, actors or machines', () => {
    for (const f of files('persistence')) {
      for (const i of imports(f)) expect(/\/(runtime|actors|machines|cli)\//.test(i), `${f} imports ${i}`).toBe(false);
    }
  });
});
