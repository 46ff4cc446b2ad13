/**
 * A child process of bench/streams.ts: one reader of a stream, in a process
 * of its own, reporting how long each chunk took to reach it, or the UI
 * server that serves the SSE reader.
 *
 * BENCH_MODE
 *   baton  `client.stream(BENCH_TASK, { from: 'end' })` (prefix BENCH_PREFIX)
 *   xread  raw `XREAD BLOCK` on the key BENCH_KEY, from `$` (ioredis)
 *   sse    `GET BENCH_URL` with node's fetch, a small SSE parser; the `chunk` events
 *   ui     `startUiServer({ client, port: 0 })` for BENCH_PREFIX; prints `{ url }`, runs until SIGTERM
 *
 * Every chunk's data is a string: `p…` a probe (the first one read prints
 * `{ ready: true }`), `x<round>` the end of a round (prints `{ round, lat }`,
 * lat: µs from the writer's hrtime before its write to this process's hrtime
 * when the chunk came out of the reader), else the writer's
 * `process.hrtime.bigint()` in ns, zero-padded. hrtime is CLOCK_MONOTONIC on
 * Linux: the same clock in every process of the host.
 */
import { Redis } from 'ioredis';
import { createClient } from '../src/index.js';
import { startUiServer } from '../src/cli/ui/server.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`bench/streams-reader.ts: ${name} is not set`);
  return v;
};
const MODE = env('BENCH_MODE');
const out = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

let ready = false;
let lat: number[] = [];
/** One chunk's data as it comes out of the reader, with this process's hrtime at that moment. */
function handle(data: string, at: bigint): void {
  const c = data.charCodeAt(0);
  if (c === 112 /* p */) {
    if (!ready) out({ ready: (ready = true) });
  } else if (c === 120 /* x */) {
    out({ round: Number(data.slice(1)), lat });
    lat = [];
  } else {
    lat.push(Number(at - BigInt(data)) / 1000);
  }
}

const stop = new AbortController();
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => stop.abort());

if (MODE === 'baton') {
  const client = createClient({ connection: env('REDIS_URL'), prefix: env('BENCH_PREFIX') });
  try {
    for await (const item of client.stream(env('BENCH_TASK'), { from: 'end', signal: stop.signal })) {
      if (item.kind === 'chunk') handle(item.data as string, process.hrtime.bigint());
    }
  } finally {
    await client.close();
  }
} else if (MODE === 'xread') {
  const conn = new Redis(env('REDIS_URL'), { enableAutoPipelining: false, maxRetriesPerRequest: null });
  const key = env('BENCH_KEY');
  stop.signal.addEventListener('abort', () => conn.disconnect(), { once: true });
  let after = '$';
  try {
    while (!stop.signal.aborted) {
      const rows = (await conn.xread('COUNT', 256, 'BLOCK', 0, 'STREAMS', key, after)) as Array<[string, Array<[string, string[]]>]> | null;
      const at = process.hrtime.bigint();
      for (const [id, fields] of rows?.[0]?.[1] ?? []) {
        after = id;
        const d = fields[fields.indexOf('d') + 1];
        if (d) handle(JSON.parse(d) as string, at);
      }
    }
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  }
} else if (MODE === 'sse') {
  const res = await fetch(env('BENCH_URL'), { headers: { accept: 'text/event-stream' }, signal: stop.signal });
  if (!res.ok || !res.body) throw new Error(`GET ${env('BENCH_URL')}: ${res.status}`);
  const reader = res.body.getReader();
  const text = new TextDecoder();
  let buf = '';
  const seen = new Set<string>();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const at = process.hrtime.bigint();
      buf += text.decode(value, { stream: true });
      // Events end with a blank line; fields are `name: value` lines (`data` may repeat).
      let end: number;
      while ((end = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end).replace(/^\r?\n\r?\n/, '');
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split(/\r?\n/)) {
          const i = line.indexOf(':');
          if (i <= 0) continue;
          const field = line.slice(0, i);
          const v = line.slice(i + 1).replace(/^ /, '');
          if (field === 'event') event = v;
          else if (field === 'data') data.push(v);
        }
        if (event === 'chunk' && data.length) handle((JSON.parse(data.join('\n')) as { data: string }).data, at);
        if (event !== 'chunk' && !seen.has(event)) out({ event: [...seen.add(event)].at(-1) });
      }
    }
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  }
} else if (MODE === 'ui') {
  const client = createClient({ connection: env('REDIS_URL'), prefix: env('BENCH_PREFIX') });
  const ui = await startUiServer({ client, port: 0 });
  out({ url: ui.url });
  await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
  await ui.close();
  await client.close();
} else {
  throw new Error(`bench/streams-reader.ts: unknown BENCH_MODE ${MODE}`);
}
process.exit(0);
