import { createRequire } from 'node:module';

/**
 * The ioredis module, loaded with `require`: it is CommonJS, and imported
 * from ESM Node would first scan its files for named exports
 * (src/runtime/cjs.ts says why that matters). The very same module instance
 * as a user's import, so `instanceof` checks hold.
 */
export const ioredis: typeof import('ioredis') = createRequire(import.meta.url)('ioredis');
