import { createRequire } from 'node:module';

/**
 * bullmq and ioredis are CommonJS packages. Imported from ESM, Node first
 * scans each package's files for their named exports (about 60 ms at every
 * process start for bullmq's hundred re-exported modules, measured in
 * bench/peers workload B); `require` skips the scan and yields the very same
 * module instances (`instanceof` checks against a user's imports still hold).
 * bullmq (~100 ms to load) is loaded on first use: a restarted runtime takes
 * its own tasks back before it needs a queue.
 */
const require = createRequire(import.meta.url);

let bullmqModule: typeof import('bullmq') | undefined;
/** The bullmq module, loaded on first call. */
export function bullmq(): typeof import('bullmq') {
  bullmqModule ??= require('bullmq') as typeof import('bullmq');
  return bullmqModule;
}
/** The ioredis module (loaded where the persistence layer needs it too). */
export { ioredis } from '../persistence/ioredis.js';
