/**
 * Durable streams (an agent's `stream.write`, `client.stream`, the UI
 * server's SSE), on a private redis-server started here. Every row has a
 * baseline measured in the same run.
 *
 *   1 Chunks written per second by one agent: `await stream.write(token)` in
 *     a loop (20-character string tokens), and with 16 writes in flight.
 *     Baseline: raw `XADD MAXLEN ~ <the runtime's cap>` of the same fields
 *     and sizes as the script writes (k, j, p, n, d, t), awaited in a loop,
 *     and 16 in flight on one connection (pipelined: the commands of a tick
 *     go out in one socket write, as on the runtime's connection). Each
 *     round runs the four in turn (odd rounds in reverse); the ratio is the
 *     median of the per-round ratios. Node and Redis CPU per chunk (INFO cpu)
 *     on the side.
 *   2 Latency from `stream.write` to a reader in another process
 *     (bench/streams-reader.ts running `client.stream(id, { from: 'end' })`):
 *     the writer puts its `process.hrtime.bigint()` (CLOCK_MONOTONIC: one
 *     clock for every process of the host) in the chunk just before the
 *     write, the reader subtracts it from its own when the chunk comes out
 *     of the iterator. One chunk every --interval-ms (2 ms), --lat-chunks a
 *     round. Baseline: raw XADD of the same fields -> a raw `XREAD BLOCK`
 *     loop in another process.
 *   3 The same through SSE: `GET /api/tasks/:id/stream` of `startUiServer`
 *     (a third process), read with node's fetch and a small SSE parser,
 *     when src/cli/ui/server.ts serves the durable stream there (it is
 *     tried, and left out when its events are not the stream's chunks).
 *
 *   node --import tsx bench/streams.ts [--chunks=20000] [--rounds=3] [--window=16]
 *     [--lat-chunks=2000] [--interval-ms=2]
 *
 * Latency percentiles pool the samples of every round. Not part of `npm run
 * bench` (it starts its own server and processes); results in
 * bench/results/README.md.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { Redis } from 'ioredis';
import { setup } from 'xstate';
import { createRuntime, fromAgent, type AgentContext, type StreamWriter } from '../src/index.js';
import { Keys } from '../src/persistence/keys.js';
import { STREAM_LIMITS } from '../src/persistence/stream-store.js';
import { batchWritesPerTick } from '../src/runtime/write-batching.js';
import { numArg, privateRedis, table } from './script.js';
import { killChildren, startChild, type Child } from './child.js';
import { cpuMicros, median, now, percentile, sleep, windowed } from './stats.js';

const arg = numArg;
const CHUNKS = arg('chunks', 20_000);
const ROUNDS = arg('rounds', 3);
const WINDOW = arg('window', 16);
const LAT_CHUNKS = arg('lat-chunks', 2000);
const INTERVAL_MS = arg('interval-ms', 2);
const log = (msg: string) => process.stderr.write(`[streams] ${msg}\n`);
const started = Date.now();


// ---- Setup -----------------------------------------------------------------
const server = await privateRedis(log);
const prefix = `bench-streams-${Date.now().toString(36)}`;
const keys = new Keys(prefix);
const admin = new Redis(server.url);
const redisCpu = async () => {
  const info = await admin.info('cpu');
  const f = (n: string) => Number(info.match(new RegExp(`^${n}:([0-9.]+)`, 'm'))?.[1] ?? 0);
  return (f('used_cpu_user') + f('used_cpu_sys')) * 1e6;
};

/** One agent invocation per task: it hands its writer to the bench and runs until released. */
const talk = setup({ actors: { talker: fromAgent('talker', { attempts: 1 }) } }).createMachine({
  id: 'talk',
  initial: 'talking',
  states: { talking: { invoke: { src: 'talker', onDone: 'done', onError: 'failed' } }, done: { type: 'final' }, failed: { type: 'final' } },
});
const writers = new Map<string, (w: StreamWriter) => void>();
let release!: () => void;
const released = new Promise<void>((r) => (release = r));
const talker = async ({ taskId, stream }: AgentContext) => {
  writers.get(taskId)!(stream);
  await released;
  return {};
};
const rt = await createRuntime({ connection: server.url, prefix, machines: { talk }, agents: { talker: { run: talker, concurrency: 8 } } });
async function writerOf(taskId: string): Promise<StreamWriter> {
  const w = new Promise<StreamWriter>((r) => writers.set(taskId, r));
  await rt.spawn('talk', { id: taskId });
  const writer = await w;
  await writer.write('pbegin'); // the attempt begins (its marker) before anything is measured
  return writer;
}
const tput = await writerOf('tput');
const latDirect = await writerOf('lat-direct');
const latSse = await writerOf('lat-sse');

// The baseline's entries: the fields of the script's chunk entries, with the same values and sizes.
const sample = (await admin.xrevrange(keys.task('tput').stream, '+', '-', 'COUNT', 1))[0]![1];
const field = (f: string) => sample[sample.indexOf(f) + 1]!;
const JOB = field('j');
const PATH = field('p');
const raw = new Redis(server.url, { enableAutoPipelining: false });
batchWritesPerTick(raw);
const rawKey = (name: string) => `${prefix}:raw:{${name}}`;
const xadd = (key: string, data: string) =>
  raw.xadd(key, 'MAXLEN', '~', STREAM_LIMITS.maxLength, '*', 'k', 'c', 'j', JOB, 'p', PATH, 'n', '1', 'd', JSON.stringify(data), 't', String(Date.now()));
log(`redis on port ${server.port}; ${os.cpus().length} cores, Node ${process.version}; entry fields ${JSON.stringify(sample)}`);

// ---- 1 Throughput ------------------------------------------------------------
/** A ~20-byte token, different each time. */
const token = (i: number) => ` tok${i}`.padEnd(20, 'x');
type Tput = { perSec: number; nodeUs: number; redisUs: number };
async function measure(n: number, run: () => Promise<unknown>): Promise<Tput> {
  const r0 = await redisCpu();
  const c0 = process.cpuUsage();
  const t0 = now();
  await run();
  const elapsed = Number(now() - t0) / 1e9;
  const nodeUs = cpuMicros(c0) / n;
  return { perSec: n / elapsed, nodeUs, redisUs: ((await redisCpu()) - r0) / n };
}
let tok = 0;
const variants = {
  batonSeq: (n: number) => measure(n, async () => {
    for (let i = 0; i < n; i++) await tput.write(token(tok++));
  }),
  rawSeq: (n: number) => measure(n, async () => {
    for (let i = 0; i < n; i++) await xadd(rawKey('tput'), token(tok++));
  }),
  batonWin: (n: number) => measure(n, () => windowed(n, WINDOW, () => tput.write(token(tok++)))),
  rawWin: (n: number) => measure(n, () => windowed(n, WINDOW, () => xadd(rawKey('tput'), token(tok++)))),
};
type V = keyof typeof variants;
const tputs: Record<V, Tput[]> = { batonSeq: [], rawSeq: [], batonWin: [], rawWin: [] };
log(`1 throughput: ${CHUNKS} chunks a variant, ${ROUNDS} rounds, window ${WINDOW}`);
for (const v of Object.keys(variants) as V[]) await variants[v](Math.min(CHUNKS, 3000)); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  const order = Object.keys(variants) as V[];
  for (const v of r % 2 ? order.reverse() : order) tputs[v].push(await variants[v](CHUNKS));
  log(`  round ${r + 1}: ${(Object.keys(tputs) as V[]).map((v) => `${v} ${Math.round(tputs[v].at(-1)!.perSec)}/s`).join(', ')}`);
}

// ---- 2, 3 Latency --------------------------------------------------------------
type L = 'direct' | 'xread' | 'sse';
const readers: Partial<Record<L, Child>> = {};
const write: Record<L, (data: string) => Promise<unknown>> = {
  direct: (d) => latDirect.write(d),
  sse: (d) => latSse.write(d),
  xread: (d) => xadd(rawKey('lat'), d),
};
const base = { REDIS_URL: server.url, BENCH_PREFIX: prefix };
readers.direct = startChild('streams-reader.ts', { ...base, BENCH_MODE: 'baton', BENCH_TASK: 'lat-direct' });
readers.xread = startChild('streams-reader.ts', { ...base, BENCH_MODE: 'xread', BENCH_KEY: rawKey('lat') });

/** Probe chunks every 20 ms until the reader read one (or `timeoutMs`): it follows the stream from then on. */
async function probe(l: L, timeoutMs: number): Promise<boolean> {
  const child = readers[l]!;
  let ok: boolean | undefined;
  void child.waitFor((o) => o.ready === true, timeoutMs).then(() => (ok = true), () => (ok = false));
  while (ok === undefined) {
    await write[l]('probe');
    await sleep(20);
  }
  return ok;
}
await probe('direct', 60_000);
await probe('xread', 60_000);

const uiSource = readFileSync(new URL('../src/cli/ui/server.ts', import.meta.url), 'utf8');
let sseNote = '';
let ui: Child | undefined;
if (!uiSource.includes('/stream')) sseNote = 'src/cli/ui/server.ts has no /stream endpoint';
else {
  ui = startChild('streams-reader.ts', { ...base, BENCH_MODE: 'ui' });
  const { url } = (await ui.waitFor((o) => typeof o.url === 'string', 60_000)) as { url: string };
  readers.sse = startChild('streams-reader.ts', { ...base, BENCH_MODE: 'sse', BENCH_URL: `${url}api/tasks/lat-sse/stream?from=end` });
  if (!(await probe('sse', 15_000))) {
    const events = readers.sse.json.flatMap((o) => (typeof o.event === 'string' ? [o.event] : []));
    sseNote = `GET /api/tasks/:id/stream sent no chunk events within 15 s (events seen: ${events.join(', ') || 'none'}): not the durable stream yet`;
    await readers.sse.stop();
    delete readers.sse;
  }
}
if (sseNote) log(`3 SSE left out: ${sseNote}`);

const lats: Record<L, number[]> = { direct: [], xread: [], sse: [] };
const writeCall: Record<L, number[]> = { direct: [], xread: [], sse: [] };
let round = 0;
/** LAT_CHUNKS chunks at one per INTERVAL_MS (no catching up in bursts), then the round's end; the reader's samples. */
async function latRound(l: L): Promise<void> {
  const r = ++round;
  let due = performance.now();
  for (let i = 0; i < LAT_CHUNKS; i++) {
    due += INTERVAL_MS;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    else if (wait < -INTERVAL_MS) due = performance.now();
    const t = now();
    await write[l](String(t).padStart(20, '0'));
    writeCall[l].push(Number(now() - t) / 1000);
  }
  await write[l](`x${r}`);
  const res = (await readers[l]!.waitFor((o) => o.round === r, 30_000)) as { lat: number[] };
  if (res.lat.length !== LAT_CHUNKS) log(`  WARNING ${l}: ${res.lat.length} of ${LAT_CHUNKS} chunks read`);
  lats[l].push(...res.lat);
}
const latKinds = (Object.keys(readers) as L[]).filter((l) => readers[l]);
log(`2/3 latency: ${latKinds.join(', ')}; ${LAT_CHUNKS} chunks a round at one every ${INTERVAL_MS} ms, ${ROUNDS} rounds`);
for (let r = 0; r < ROUNDS; r++) {
  for (const l of r % 2 ? [...latKinds].reverse() : latKinds) await latRound(l);
  log(`  round ${r + 1}: p50 ${latKinds.map((l) => `${l} ${percentile(lats[l].slice(-LAT_CHUNKS), 50).toFixed(0)} µs`).join(', ')}`);
}

// ---- Teardown ------------------------------------------------------------------
await Promise.all(Object.values(readers).map((c) => c!.stop()));
await ui?.stop();
release();
await rt.close();
raw.disconnect();
admin.disconnect();
await killChildren();
await server.stop();

// ---- Table -----------------------------------------------------------------------
const int = (v: number) => Math.round(v).toLocaleString('en-US');
const ratio = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '-');
const tputRow = (label: string, a: V, b: V, k: keyof Tput, unit: (v: number) => string) => [
  label,
  unit(median(tputs[a].map((t) => t[k]))),
  unit(median(tputs[b].map((t) => t[k]))),
  ratio(median(tputs[a].map((t, i) => t[k] / tputs[b][i]![k]))),
];
const fix1 = (v: number) => v.toFixed(1);
const body: string[][] = [
  [`1 chunks/s, one agent (${int(CHUNKS)} a round, ${ROUNDS} rounds)`, '', '', ''],
  tputRow('  await stream.write() in a loop  vs  XADD MAXLEN ~ awaited in a loop', 'batonSeq', 'rawSeq', 'perSec', int),
  tputRow(`  ${WINDOW} writes in flight  vs  ${WINDOW} XADDs in flight (pipelined, one connection)`, 'batonWin', 'rawWin', 'perSec', int),
  tputRow('  Redis CPU per chunk, sequential, µs', 'batonSeq', 'rawSeq', 'redisUs', fix1),
  tputRow('  node CPU per chunk, sequential, µs', 'batonSeq', 'rawSeq', 'nodeUs', fix1),
];
const latRow = (label: string, a: L, b: L, p: number) => {
  const x = percentile(lats[a], p);
  const y = percentile(lats[b], p);
  return [label, int(x), int(y), ratio(x / y)];
};
body.push([`2 write -> reader in another process, µs (${int(lats.direct.length)} chunks at 1 per ${INTERVAL_MS} ms)`, '', '', '']);
body.push(latRow('  p50: stream.write -> client.stream  vs  XADD -> XREAD BLOCK', 'direct', 'xread', 50));
body.push(latRow('  p99: same', 'direct', 'xread', 99));
if (readers.sse || lats.sse.length) {
  body.push([`3 write -> SSE reader (fetch), UI server in a third process, µs (${int(lats.sse.length)} chunks)`, '', '', '']);
  body.push(latRow('  p50: stream.write -> GET /api/tasks/:id/stream  vs  XADD -> XREAD BLOCK', 'sse', 'xread', 50));
  body.push(latRow('  p99: same', 'sse', 'xread', 99));
  body.push(latRow('  p50: SSE  vs  client.stream (the HTTP hop)', 'sse', 'direct', 50));
  body.push(latRow('  p99: same', 'sse', 'direct', 99));
} else body.push([`3 SSE: left out (${sseNote})`, '', '', '']);
const callP50 = (l: L) => percentile(writeCall[l], 50).toFixed(0);

process.stdout.write(
  [
    '',
    `durable streams: private redis-server (Redis ${(await import('node:child_process')).execFileSync('redis-server', ['--version']).toString().match(/v=(\S+)/)?.[1] ?? '?'}), ${os.cpus().length} cores, Node ${process.version}; tokens of 20 characters; the stream's caps: MAXLEN ~ ${int(STREAM_LIMITS.maxLength)}, MINID ~ a day`,
    table(['', 'Baton', 'baseline', 'ratio'], body),
    '',
    `throughput: medians over rounds, ratio = median of per-round ratios; latency: percentiles over all rounds' samples, ratio of the percentiles`,
    `the writer's await of one write at 1 per ${INTERVAL_MS} ms, p50: stream.write ${callP50('direct')} µs, XADD ${callP50('xread')} µs`,
    `run took ${((Date.now() - started) / 1000).toFixed(1)} s`,
    '',
  ].join('\n'),
);
process.exit(0);
