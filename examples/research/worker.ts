/**
 * The research task's worker module: `baton worker examples/research/worker.ts`
 * runs it, as does the demo's worker process. Its schemas reach every client
 * through the machine registry: `baton spawn research --input '{"topic":5}'`
 * is refused before anything is written.
 */
import { z } from 'zod';
import { defineTask } from '../../src/index.js';
import { research as machine } from './machine.js';
export { agents } from './agents.js';

export const research = defineTask(machine, {
  input: z.object({
    topic: z.string().min(1),
    scope: z.string().min(1),
    decisionDeadlineMs: z.number().int().positive().nullable().optional(),
  }),
  events: {
    'context.update': z.object({ type: z.literal('context.update'), update: z.record(z.string(), z.unknown()), by: z.string().optional() }),
    decision: z.object({ type: z.literal('decision'), decision: z.string().min(1), choice: z.string().min(1), by: z.string().optional() }),
  },
});

export const machines = { research };
