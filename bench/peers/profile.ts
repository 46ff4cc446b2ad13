/**
 * Where a peer's time goes on workload A (not part of `npm run bench:peers`):
 * Redis commands per task, split by the connection that sent them and by
 * command (from MONITOR on the benchmark's Redis, scripts' inner commands
 * listed apart), CPU of this process and of Redis per task, and optionally
 * a CPU profile summarised by package and function.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 node --import tsx bench/peers/profile.ts <peer> [--tasks=200] [--concurrency=20] [--cpu]
 *
 * Works for the Redis-backed peers: baton, baton-promise, bullmq, floor, and
 * for the experiment commit-per-step (lib/commit-per-step.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { Redis } from 'ioredis';
import { loadPeer, ROOT, type Peer, type PeerCtx } from './lib/peer.js';
import { nowMs, windowed } from './lib/stats.js';
import { cleanupRedis } from './lib/infra.js';

const args = process.argv.slice(2);
const peerName = args.find((a) => !a.startsWith('--')) ?? 'baton';
const opt = (name: string, d: number) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? d);
const tasks = opt('tasks', 200);
const concurrency = opt('concurrency', 20);
const cpu = args.includes('--cpu');

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

function bucket(url: string): string {
  if (!url) return '(native/gc/idle)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url;
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  const b = url.indexOf('/bench/');
  return b >= 0 ? url.slice(b + 1) : url;
}

/** sha1 → script name, for Baton's Lua scripts and BullMQ's. */
async function scriptNames(): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const sha = (t: string) => createHash('sha1').update(t).digest('hex');
  const luaDir = path.join(ROOT, 'src', 'persistence', 'lua');
  for (const f of readdirSync(luaDir)) names.set(sha(readFileSync(path.join(luaDir, f), 'utf8')), `baton:${f.replace(/-\d+\.lua$/, '')}`);
  const req = createRequire(path.join(ROOT, 'package.json'));
  const scriptsDir = path.join(path.dirname(req.resolve('bullmq')), '..', 'esm', 'scripts');
  for (const f of readdirSync(scriptsDir).filter((x) => x.endsWith('.js') && x !== 'index.js')) {
    const m = (await import(path.join(scriptsDir, f))) as Record<string, { name: string; content: string }>;
    for (const v of Object.values(m)) if (v?.content) names.set(sha(v.content), `bullmq:${v.name}`);
  }
  return names;
}

async function main(): Promise<void> {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set');
  const runId = `prof${randomBytes(3).toString('hex')}`;
  const ctx: PeerCtx = { runId, peer: peerName, redisUrl: url, prefix: `bpeers-${runId}-${peerName}`, failoverMs: 1000, concurrency };
  // 'commit-per-step' is an experiment (lib/commit-per-step.ts), not a peer.
  const mod = peerName === 'commit-per-step' ? ((await import('./lib/commit-per-step.js')) as { createPeer: (c: PeerCtx) => Peer }) : await loadPeer(peerName);
  const peer = mod.createPeer(ctx);
  await peer.setup();
  for (let i = 0; i < 50; i++) await peer.runTask(`${runId}-warm-${i}`);
  await windowed(200, concurrency, (i) => peer.runTask(`${runId}-warmc-${i}`));

  const admin = new Redis(url);
  const redisCpu = async () => {
    const info = await admin.info('cpu');
    const f = (n: string) => Number(info.match(new RegExp(`^${n}:([0-9.]+)`, 'm'))?.[1] ?? 0);
    return (f('used_cpu_user') + f('used_cpu_sys')) * 1e6;
  };
  const per = (n: number, count: number) => (n / count).toFixed(1);

  // ---- phase 1: timing and CPU, nothing watching
  const session = new Session();
  if (cpu) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
  }
  const singles: number[] = [];
  let r0 = await redisCpu();
  let c0 = process.cpuUsage();
  for (let i = 0; i < 100; i++) {
    const s = nowMs();
    await peer.runTask(`${runId}-s-${i}`);
    singles.push(nowMs() - s);
  }
  const cSingle = process.cpuUsage(c0);
  const rSingle = (await redisCpu()) - r0;
  r0 = await redisCpu();
  c0 = process.cpuUsage();
  const t1 = nowMs();
  await windowed(tasks, concurrency, (i) => peer.runTask(`${runId}-c-${i}`));
  const tConc = nowMs() - t1;
  const cConc = process.cpuUsage(c0);
  const rConc = (await redisCpu()) - r0;
  let profile: { nodes: Node[]; samples?: number[]; timeDeltas?: number[]; startTime: number; endTime: number } | undefined;
  if (cpu) profile = ((await session.post('Profiler.stop')) as { profile: typeof profile }).profile;
  singles.sort((a, b) => a - b);
  console.log(`peer ${peerName}: one task at a time p50 ${singles[50]!.toFixed(2)} ms; ${tasks} tasks @ ${concurrency}: ${((tasks * 1000) / tConc).toFixed(0)} tasks/s`);
  console.log(`  one at a time: node CPU ${per(cSingle.user + cSingle.system, 100)} µs/task, redis CPU ${per(rSingle, 100)} µs/task`);
  console.log(`  concurrent:    node CPU ${per(cConc.user + cConc.system, tasks)} µs/task, redis CPU ${per(rConc, tasks)} µs/task`);

  // ---- phase 2: Redis commands per task, from MONITOR
  const names = await scriptNames();
  const monitor = await new Redis(url).monitor();
  let phase = 'single';
  const counts: Record<string, Map<string, number>> = { single: new Map(), conc: new Map(), lua: new Map(), client: new Map() };
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  monitor.on('monitor', (_time: string, a: string[], source: string) => {
    const cmd = (a[0] ?? '').toLowerCase();
    if (source.includes('lua')) return bump(counts.lua!, cmd);
    const name = cmd === 'evalsha' || cmd === 'eval' ? (names.get(a[1] ?? '') ?? `${cmd} ${String(a[1]).slice(0, 8)}`) : cmd;
    bump(counts[phase]!, name);
    bump(counts.client!, source.replace(/^\[\d+ /, '[').replace(/]$/, ']'));
  });
  await new Promise((r) => setTimeout(r, 200));
  const N = 30;
  for (let i = 0; i < N; i++) await peer.runTask(`${runId}-ms-${i}`);
  await new Promise((r) => setTimeout(r, 200));
  phase = 'conc';
  await windowed(tasks, concurrency, (i) => peer.runTask(`${runId}-mc-${i}`));
  await new Promise((r) => setTimeout(r, 300));
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const show = (m: Map<string, number>, n: number) => [...m.entries()].sort((a, b) => b[1] - a[1]).forEach(([k, v]) => console.log(`    ${per(v, n).padStart(6)}  ${k}`));
  console.log(`  Redis commands per task, one at a time: ${per(total(counts.single!), N)}; concurrent: ${per(total(counts.conc!), tasks)}`);
  console.log('  one at a time, by command:');
  show(counts.single!, N);
  console.log('  concurrent, by command:');
  show(counts.conc!, tasks);
  console.log('  commands run inside scripts (both phases, per task):');
  show(counts.lua!, N + tasks);
  console.log('  by client connection (both phases, per task):');
  show(counts.client!, N + tasks);
  monitor.disconnect();

  if (profile) {
    const self = new Map<number, number>();
    const samples = profile.samples ?? [];
    const deltas = profile.timeDeltas ?? [];
    for (let i = 0; i < samples.length; i++) self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + (deltas[i] ?? 0) / 1000);
    const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
    const pkg = new Map<string, number>();
    const fn = new Map<string, number>();
    for (const [id, t] of self) {
      const n = byNode.get(id)!;
      if (n.callFrame.functionName === '(idle)') continue;
      const b = bucket(n.callFrame.url);
      pkg.set(b.split(':')[0]!, (pkg.get(b.split(':')[0]!) ?? 0) + t);
      const f = `${n.callFrame.functionName || '(anonymous)'} ${b}:${n.callFrame.lineNumber + 1}`;
      fn.set(f, (fn.get(f) ?? 0) + t);
    }
    const busy = [...pkg.values()].reduce((a, b) => a + b, 0);
    console.log(`  CPU profile of phase 1: ${busy.toFixed(0)} ms busy of ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms; self time by package/file:`);
    for (const [k, v] of [...pkg.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`    ${v.toFixed(0).padStart(6)} ms ${((100 * v) / busy).toFixed(1).padStart(5)}%  ${k}`);
    console.log('  top functions:');
    for (const [k, v] of [...fn.entries()].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`    ${v.toFixed(0).padStart(6)} ms  ${k}`);
  }
  await peer.teardown();
  await admin.quit();
  await cleanupRedis(url, runId);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
