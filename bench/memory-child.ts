/**
 * The memory figure, in its own process (started with --expose-gc by
 * bench/memory.ts): a runtime spawns TASKS small tasks, they passivate
 * (idleMs IDLE_MS), and the process heap (after gc) and Redis used_memory are
 * read before and after. Then the raw floor: as many plain Redis hashes
 * holding the same fields as one task's state hash.
 *
 * Env: REDIS_URL, BENCH_PREFIX, TASKS, IDLE_MS. Prints one JSON line.
 */
import { Redis } from 'ioredis';
import { createRuntime } from '../src/index.js';
import { small } from './agent-machines.js';
import { sleep, windowed } from './stats.js';

const need = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const url = need('REDIS_URL');
const prefix = need('BENCH_PREFIX');
const tasks = Number(need('TASKS'));
const idleMs = Number(need('IDLE_MS'));
const admin = new Redis(url);

const heap = async (): Promise<number> => {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(20);
  }
  return process.memoryUsage().heapUsed;
};
const redisUsed = async (): Promise<number> => Number((await admin.info('memory')).match(/^used_memory:(\d+)/m)![1]);

const rt = await createRuntime({ connection: url, prefix, idleMs, machines: { small } });
// Warm up every path measured below with a first batch (spawn and passivation): compiled code and
// tables grown once (measured: ~270 B a task for the first batch, ~0 for the next ones) are not counted.
const warm = Math.min(2000, Math.ceil(tasks / 5));
await windowed(warm, 200, (i) => rt.spawn('small', { id: `warm-${i}`, input: { owner: `user-${String(i).padStart(7, '0')}` } }));
while (rt.heldCount > 0) await sleep(20);

const heap0 = await heap();
const redis0 = await redisUsed();
const t0 = Date.now();
await windowed(tasks, 200, (i) => rt.spawn('small', { id: `t-${String(i).padStart(6, '0')}`, input: { owner: `user-${String(i).padStart(7, '0')}` } }));
const spawnMs = Date.now() - t0;
const heldAfterSpawn = rt.heldCount;
const heapSpawned = await heap();
while (rt.heldCount > 0) await sleep(50);
const passivatedMs = Date.now() - t0;
await sleep(200);
const heap1 = await heap();
const redis1 = await redisUsed();

// What one task leaves in Redis, key by key.
const k = rt.keys.task('t-000000');
const sample = await admin.hgetall(k.state);
const usage = async (key: string) => Number((await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
const perKey = {
  state: await usage(k.state),
  history: await usage(k.history),
  mailbox: await usage(k.mailbox),
  epoch: await usage(k.epoch),
  lease: await usage(k.lease),
};
const indexes = { tasksIndex: await admin.zcard(rt.keys.tasks), due: await admin.zcard(rt.keys.due), streamNodeMaxBytes: (await admin.config('GET', 'stream-node-max-bytes'))[1] };
await rt.close();

// Raw floor: the same hash (every field of a task's state hash), nothing else.
const fields = Object.entries(sample).flat();
const redis2 = await redisUsed();
const heap2 = await heap();
await windowed(Math.ceil(tasks / 20), 50, async (i) => {
  const p = admin.pipeline();
  for (let j = i * 20; j < Math.min(tasks, i * 20 + 20); j++) p.hset(`${prefix}:raw:{t-${String(j).padStart(6, '0')}}:state`, ...fields);
  await p.exec();
});
const redis3 = await redisUsed();
const heap3 = await heap();
await admin.quit();

process.stdout.write(
  `${JSON.stringify({
    tasks,
    idleMs,
    spawnMs,
    passivatedMs,
    heldAfterSpawn,
    heapBytes: { before: heap0, afterSpawn: heapSpawned, afterPassivation: heap1, rawBefore: heap2, rawAfter: heap3 },
    redisBytes: { before: redis0, afterPassivation: redis1, rawBefore: redis2, rawAfter: redis3 },
    sampleTask: { stateFields: Object.keys(sample), snapshotBytes: Buffer.byteLength(sample.snapshot ?? ''), stateHashBytes: fields.reduce((a, f) => a + Buffer.byteLength(f), 0), memoryUsage: perKey, indexes },
  })}\n`,
);
