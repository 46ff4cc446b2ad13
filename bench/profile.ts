/**
 * CPU profile of one benchmark scenario, summarised by function and by
 * package (self time). Not part of `npm run bench`; run it by hand:
 *
 *   REDIS_URL=redis://127.0.0.1:6379 node --import tsx bench/profile.ts many [--top=40] [--out=file.cpuprofile]
 *
 * Scenarios: single (one task, sequential sends), window (one task, 64 in
 * flight), many (1,000 tasks), baseline-many (the commit script pipelined on
 * 1,000 keys), baseline-single, agents (256 tasks x 40 agent jobs, concurrency
 * 16), raw-agents (the same jobs on raw BullMQ).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { Redis } from 'ioredis';
import { CommitLoop, concurrentCommits, sequentialCommits, storeOn } from './baseline.js';
import { manyTasks, singleTask, spawnCounter, startRuntime } from './core.js';
import { agentRuntime, prepareAgentRound } from './agents.js';
import { BenchEnv } from './env.js';
import { RawChains } from './raw-bullmq.js';
import { windowed } from './stats.js';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

function bucket(url: string): string {
  if (!url) return '(native/vm)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 13).split('/').slice(0, url.slice(nm + 13).startsWith('@') ? 2 : 1).join('/');
  if (url.startsWith('node:')) return url;
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  const b = url.indexOf('/bench/');
  if (b >= 0) return url.slice(b + 1);
  return url;
}

function summarise(p: Profile, top: number): string {
  const total = (p.endTime - p.startTime) / 1000;
  const byNode = new Map<number, Node>(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + (deltas[i] ?? 0) / 1000);
  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  for (const [id, t] of self) {
    const n = byNode.get(id)!;
    const f = `${n.callFrame.functionName || '(anonymous)'}  ${bucket(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    fn.set(f, (fn.get(f) ?? 0) + t);
    const b = bucket(n.callFrame.url).split(':')[0]!;
    pkg.set(b, (pkg.get(b) ?? 0) + t);
  }
  const lines = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `${v.toFixed(1).padStart(9)} ms ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  return `profile: ${total.toFixed(0)} ms\n\nself time by package/file:\n${lines(pkg, 25)}\n\nself time by function:\n${lines(fn, top)}\n`;
}

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

/** Sampled allocation (bytes per transition) by allocating function and by package. */
function summariseHeap(p: { head: HeapNode }, count: number, top: number): string {
  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  const walk = (n: HeapNode) => {
    if (n.selfSize) {
      const b = bucket(n.callFrame.url);
      const f = `${n.callFrame.functionName || '(anonymous)'}  ${b}:${n.callFrame.lineNumber + 1}`;
      fn.set(f, (fn.get(f) ?? 0) + n.selfSize);
      const k = b.split(':')[0]!;
      pkg.set(k, (pkg.get(k) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c);
  };
  walk(p.head);
  const total = [...pkg.values()].reduce((a, b) => a + b, 0);
  const lines = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `${(v / count).toFixed(0).padStart(8)} B/tx  ${k}`)
      .join('\n');
  return `allocated (sampled): ${(total / count).toFixed(0)} B per transition\n\nby package/file:\n${lines(pkg, 20)}\n\nby function:\n${lines(fn, top)}\n`;
}

async function main(): Promise<void> {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set');
  const args = process.argv.slice(2);
  const scenario = args.find((a) => !a.startsWith('--')) ?? 'many';
  const top = Number(args.find((a) => a.startsWith('--top='))?.slice(6) ?? 40);
  const outFile = args.find((a) => a.startsWith('--out='))?.slice(6);
  const env = new BenchEnv(url);
  const conns: Redis[] = [];
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  let run: () => Promise<{ count: number; elapsedMs: number }>;
  let close = async () => {};
  try {
    if (scenario === 'agents') {
      const rt = await agentRuntime(env, 16);
      const reader = env.connect({ autoPipelining: false });
      conns.push(reader);
      close = () => rt.close();
      await (await prepareAgentRound(rt, reader, 'warm', 256, 2))();
      run = await prepareAgentRound(rt, reader, 'prof', 256, 40);
    } else if (scenario === 'raw-agents') {
      const raw = new RawChains(url, `{${env.prefix('prof-raw')}}`, 16);
      await raw.ready();
      close = () => raw.close();
      await raw.run('warm', 256, 2);
      run = () => raw.run('prof', 256, 40);
    } else if (scenario.startsWith('baseline')) {
      const ap = env.connect({ autoPipelining: true });
      conns.push(ap);
      const store = storeOn(ap, env.prefix('prof-base'));
      if (scenario === 'baseline-many') {
        const loops: CommitLoop[] = new Array(1000);
        await windowed(1000, 500, async (i) => void (loops[i] = await CommitLoop.create(store, `m${i}`)));
        await concurrentCommits(loops, 2);
        run = () => concurrentCommits(loops, 30);
      } else {
        const loop = await CommitLoop.create(store, 'one');
        await sequentialCommits(loop, 300);
        run = () => sequentialCommits(loop, 3000);
      }
    } else {
      const rt = await startRuntime(env, 'prof');
      close = () => rt.close();
      if (scenario === 'many') {
        const ids = Array.from({ length: 1000 }, (_, i) => `t${i}`);
        await windowed(ids.length, 100, (i) => spawnCounter(rt, ids[i]!));
        const reader = env.connect({ autoPipelining: false });
        conns.push(reader);
        await manyTasks(rt, reader, ids, 2);
        run = () => manyTasks(rt, reader, ids, 30);
      } else {
        await spawnCounter(rt, 'one');
        const window = scenario === 'window' ? 64 : 1;
        await singleTask(rt, 'one', window, { ms: 300, count: 2000 });
        run = () => singleTask(rt, 'one', window, window > 1 ? { count: 20_000 } : { ms: 3000 });
      }
    }
    const heap = args.includes('--heap');
    if (heap) await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    else await session.post('Profiler.start');
    const r = await run();
    if (heap) {
      const { profile: hp } = await session.post('HeapProfiler.stopSampling');
      process.stdout.write(`${scenario}: ${r.count} transitions in ${r.elapsedMs.toFixed(0)} ms\n`);
      process.stdout.write(summariseHeap(hp as unknown as { head: HeapNode }, r.count, top));
      return;
    }
    const { profile } = await session.post('Profiler.stop');
    process.stdout.write(`${scenario}: ${r.count} transitions in ${r.elapsedMs.toFixed(0)} ms = ${((r.count * 1000) / r.elapsedMs).toFixed(0)}/s\n`);
    if (outFile) writeFileSync(outFile, JSON.stringify(profile));
    process.stdout.write(summarise(profile as unknown as Profile, top));
  } finally {
    session.disconnect();
    await close();
    for (const c of conns) await c.quit().catch(() => c.disconnect());
    await env.cleanup();
    await env.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
