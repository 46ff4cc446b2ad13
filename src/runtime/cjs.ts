import { createRequire } from 'node:module';

/**
 * bullmq and ioredis are CommonJS packages. Imported from ESM, Node first
 * scans each package's files for their named exports (about 60 ms at every
 * process start for bullmq's hundred re-exported modules, measured in
 * bench/peers workload B); `require` skips the scan and yields the very same
 * module instances (`instanceof` checks against a user's imports still hold).
 */
const require = createRequire(import.meta.url);

/** The bullmq module. */
export const bullmq: typeof import('bullmq') = require('bullmq');
/** The ioredis module. */
export const ioredis: typeof import('ioredis') = require('ioredis');
