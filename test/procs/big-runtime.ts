// A runtime holding test/fixtures/big.ts's machines in its own process, for
// the delta-commit crash test. Environment and output as test/procs/runtime.ts.
import { createRuntime } from '../../src/index.js';
import { bigTask } from '../fixtures/big.js';
import { out, reportHeld, serve } from './serve.js';

const prefix = process.env.BATON_PREFIX;
if (!prefix) throw new Error('BATON_PREFIX is required');
const owner = `big-${process.pid}`;
const runtime = await createRuntime({
  connection: process.env.REDIS_URL,
  prefix,
  leaseMs: Number(process.env.BATON_LEASE_MS ?? 500),
  owner,
  machines: { bigTask },
  log: (msg, extra) => out({ log: msg, ...extra }),
  inspect: reportHeld,
});
await serve(runtime, owner, async () => undefined);
