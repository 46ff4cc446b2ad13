/**
 * Figure 3 from a separate process: a plain client (no runtime) sends to a
 * task held by the benchmark's runtime and times the commit notices. Started
 * by bench/index.ts; prints one JSON line `{ afterSend, total, send }` (ms).
 *
 * Env: REDIS_URL, BENCH_PREFIX, BENCH_TASK, BENCH_SAMPLES, BENCH_WARMUP.
 */
import { createClient } from '../src/index.js';
import { latency } from './core.js';

const need = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const client = createClient({ connection: need('REDIS_URL'), prefix: need('BENCH_PREFIX') });
try {
  const out = await latency(client, need('BENCH_TASK'), Number(need('BENCH_SAMPLES')), Number(need('BENCH_WARMUP')));
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  await client.close();
}
