/**
 * What `durability: { replicas: 1 }` costs: one task fed by sequential sends
 * and by 64 sends in flight, with `replicas: 0` and `replicas: 1`, on a
 * private master with one replica (loopback, started here), alternating in
 * rounds. The baseline, measured in the same run: the bare commit script
 * awaited in a loop, without and with a `WAIT 1` after each commit's reply.
 *
 *   node --import tsx bench/replicas.ts [--rounds=5] [--ms=1500]
 *
 * Not part of `npm run bench` (it needs its own pair of servers); results in
 * bench/results/README.md.
 */
import { Redis } from 'ioredis';
import { createRuntime, type Runtime } from '../src/index.js';
import { startRedis } from '../test/helpers/redis-server.js';
import { CommitLoop, storeOn } from './baseline.js';
import { singleTask, spawnCounter } from './core.js';
import { counter, MACHINE } from './machines.js';
import { now } from './stats.js';

const arg = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
const ROUNDS = arg('rounds', 5);
const MS = arg('ms', 1500);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const master = await startRedis();
const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
const admin = new Redis(replica.url);
for (let i = 0; ; i++) {
  if ((await admin.info('replication')).includes('master_link_status:up')) break;
  if (i > 300) throw new Error('the replica did not link to the master');
  await new Promise((r) => setTimeout(r, 50));
}
admin.disconnect();

const prefix = `bench-replicas-${Date.now().toString(36)}`;
const rts: Record<'0' | '1', Runtime> = {
  '0': await createRuntime({ connection: master.url, prefix: `${prefix}-r0`, machines: { [MACHINE]: counter } }),
  '1': await createRuntime({ connection: master.url, prefix: `${prefix}-r1`, machines: { [MACHINE]: counter }, durability: { replicas: 1, timeoutMs: 1000 } }),
};
for (const rt of Object.values(rts)) for (const id of ['seq', 'win']) await spawnCounter(rt, id);
const conn = new Redis(master.url);
const loop = await CommitLoop.create(storeOn(conn, `${prefix}-base`), 'base');

/** The commit loop for `ms`, with a WAIT 1 after each commit when `wait`: commits per second. */
async function baseline(wait: boolean, ms: number): Promise<number> {
  const t0 = now();
  const end = t0 + BigInt(ms * 1e6);
  let n = 0;
  while (now() < end) {
    await loop.commit();
    // After the reply, as Baton sends it (a WAIT pipelined behind a write can run before it: docs/architecture.md).
    if (wait) await conn.call('WAIT', 1, 1000);
    n++;
  }
  return n / (Number(now() - t0) / 1e9);
}

const rates: Record<string, number[]> = { base0: [], base1: [], seq0: [], seq1: [], win0: [], win1: [] };
// Warm-up of every path.
await baseline(false, 300);
await baseline(true, 300);
for (const r of ['0', '1'] as const) {
  await singleTask(rts[r], 'seq', 1, { ms: 300 });
  await singleTask(rts[r], 'win', 64, { count: 2000 });
}
for (let round = 0; round < ROUNDS; round++) {
  rates.base0!.push(await baseline(false, MS));
  rates.base1!.push(await baseline(true, MS));
  for (const r of ['0', '1'] as const) {
    const s = await singleTask(rts[r], 'seq', 1, { ms: MS });
    rates[`seq${r}`]!.push(s.count / (s.elapsedMs / 1000));
    const w = await singleTask(rts[r], 'win', 64, { count: 10_000 });
    rates[`win${r}`]!.push(w.count / (w.elapsedMs / 1000));
  }
}

const row = (label: string, a: string, b: string) => {
  const ra = median(rates[a]!);
  const rb = median(rates[b]!);
  console.log(`${label.padEnd(44)} ${Math.round(ra).toLocaleString('en').padStart(8)} tx/s ${(1e6 / ra).toFixed(1).padStart(7)} µs   ${Math.round(rb).toLocaleString('en').padStart(8)} tx/s ${(1e6 / rb).toFixed(1).padStart(7)} µs   ${(rb / ra).toFixed(2)}`);
};
console.log(`one master, one replica (loopback), ${ROUNDS} rounds of ${MS} ms, medians`);
console.log(`${''.padEnd(44)} ${'replicas: 0'.padStart(25)}   ${'replicas: 1'.padStart(25)}   ratio`);
row('baseline: commit script (+ WAIT 1), sequential', 'base0', 'base1');
row('Baton: one task, sequential sends', 'seq0', 'seq1');
row('Baton: one task, 64 sends in flight', 'win0', 'win1');
console.log(`Baton / baseline, sequential: replicas 0 ${(median(rates.seq0!) / median(rates.base0!)).toFixed(2)}, replicas 1 ${(median(rates.seq1!) / median(rates.base1!)).toFixed(2)}`);

for (const rt of Object.values(rts)) await rt.close();
conn.disconnect();
await replica.stop();
await master.stop();
