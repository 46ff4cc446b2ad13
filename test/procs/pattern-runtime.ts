// A runtime running the pattern fixtures and their agents, for test/patterns.test.ts.
// Env: REDIS_URL, BATON_PREFIX, PATTERN_STALL (agent input name to stall), SPAWN_MACHINE/SPAWN_ID/SPAWN_INPUT.
import { Redis } from 'ioredis';
import { createRuntime } from '../../src/index.js';
import { patternAgents, patternMachines } from '../fixtures/patterns.js';

const prefix = process.env.BATON_PREFIX!;
const redis = new Redis(process.env.REDIS_URL!);
const runtime = await createRuntime({
  connection: process.env.REDIS_URL,
  prefix,
  machines: patternMachines,
  agents: patternAgents(redis, prefix, process.env.PATTERN_STALL),
  leaseMs: 600,
  agentLockMs: 800,
});
console.log(JSON.stringify({ ready: true, pid: process.pid }));
if (process.env.SPAWN_MACHINE) {
  await runtime.spawn(process.env.SPAWN_MACHINE, { id: process.env.SPAWN_ID, input: process.env.SPAWN_INPUT ? JSON.parse(process.env.SPAWN_INPUT) : undefined });
  console.log(JSON.stringify({ spawned: process.env.SPAWN_ID }));
}
