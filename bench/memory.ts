/**
 * Memory figure: Node heap and Redis memory per passivated task, measured in
 * a child process started with --expose-gc (bench/memory-child.ts), against
 * the raw floor of as many plain Redis hashes holding the same fields.
 */
import { startChild } from './child.js';
import type { BenchEnv } from './env.js';
import type { FigureResult } from './figures.js';
import { row } from './report.js';
import { round } from './stats.js';

export interface MemoryOptions {
  tasks: number;
  idleMs: number;
}

interface ChildResult {
  tasks: number;
  spawnMs: number;
  passivatedMs: number;
  heldAfterSpawn: number;
  heapBytes: { before: number; afterSpawn: number; afterPassivation: number; rawBefore: number; rawAfter: number };
  redisBytes: { before: number; afterPassivation: number; rawBefore: number; rawAfter: number };
  sampleTask: Record<string, unknown>;
}

export async function memoryFigure(env: BenchEnv, o: MemoryOptions): Promise<FigureResult> {
  const child = startChild('memory-child.ts', { REDIS_URL: env.url, BENCH_PREFIX: env.prefix('memory'), TASKS: String(o.tasks), IDLE_MS: String(o.idleMs) }, ['--expose-gc']);
  try {
    const r = (await child.waitFor((x) => x.tasks !== undefined, 180_000)) as unknown as ChildResult;
    const { code } = await child.exited;
    if (code !== 0) throw new Error(`memory child exited with ${code}`);
    const n = r.tasks;
    const h = r.heapBytes;
    const m = r.redisBytes;
    const heapPer = (h.afterPassivation - h.before) / n;
    const heapRawPer = (h.rawAfter - h.rawBefore) / n;
    const redisPer = (m.afterPassivation - m.before) / n;
    const redisRawPer = (m.rawAfter - m.rawBefore) / n;
    const heapIs = 'fig.7 heap = this process after writing the same number of plain hashes (holds nothing: ~0)';
    const redisIs = "fig.7 redis = used_memory delta per plain Redis hash holding a task's state-hash fields";
    return {
      rows: [
        // The heap baseline is ~0 (noise around it): no ratio.
        row('memory.heapPerPassivated', `7 Node heap per passivated task (${n.toLocaleString('en-US')})`, 'B', heapPer, heapRawPer, heapIs, { ratio: Number.NaN }),
        row('memory.redisPerPassivated', '7 Redis memory per passivated task', 'B', redisPer, redisRawPer, redisIs),
      ],
      costs: [],
      details: {
        ...r,
        heapPerPassivatedTask: round(heapPer, 1),
        // Meaningful only when no task passivated before the reading (idleMs longer than the spawning).
        heapPerHeldTask: r.heldAfterSpawn === n ? round((h.afterSpawn - h.before) / n, 1) : null,
        heapPerHeldNote: 'heap (after gc) once all tasks are spawned and still held, minus before, per task: what passivation frees',
        redisPerPassivatedTask: round(redisPer, 1),
        redisPerRawHash: round(redisRawPer, 1),
      },
    };
  } finally {
    await child.stop('SIGKILL');
  }
}
