/**
 * The research task's worker module: `baton worker examples/research/worker.ts`
 * runs it, as does the demo's worker process.
 */
import { research } from './machine.js';
export { agents } from './agents.js';

export const machines = { research };
