// A durable stream across a SIGKILL of the worker that is writing it: the
// task's next holder runs the agent again, and a reader that follows the
// stream throughout is told of the new attempt (a marker) and then gets the
// new attempt's chunks, all of them, in order.
import { describe, expect, it } from 'vitest';
import type { StreamItem } from '../src/index.js';
import { uniquePrefix, waitUntil } from './helpers/index.js';
import { killAllRuntimeProcs, startRuntimeProc } from './helpers/runtime-proc.js';
import { useBaton } from './helpers/setup.js';

const baton = useBaton({ kill: killAllRuntimeProcs });

describe('a durable stream across a crash', () => {
  it('a worker SIGKILLed mid-stream: the reader sees the new attempt, then its every chunk, then the end', async () => {
    const prefix = uniquePrefix('stream-crash');
    const env = { TALK_MS: '20' };
    const first = await startRuntimeProc({ prefix, env });
    const client = baton.client(prefix);
    const words = Array.from({ length: 40 }, (_, i) => `w${i}`);
    await client.spawn('talk', { id: 'tc', input: { words } });

    const items: StreamItem[] = [];
    const reading = (async () => {
      for await (const item of client.stream('tc')) items.push(item);
    })();
    await waitUntil(() => items.filter((i) => i.kind === 'chunk').length >= 5, { timeout: 10_000, message: 'five chunks' });
    await first.kill('SIGKILL');
    const cut = items.length;
    await startRuntimeProc({ prefix, env });
    await reading;

    const attempts = items.filter((i) => i.kind === 'attempt');
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
    const second = items.indexOf(attempts[1]!);
    expect(second).toBeGreaterThanOrEqual(cut);
    const before = items.slice(1, second).map((i) => (i.kind === 'chunk' ? i.data : i.kind));
    const after = items.slice(second + 1);
    // The first attempt's chunks are a prefix of the words; the second attempt's are all of them, once, in order.
    expect(before).toEqual(words.slice(0, before.length));
    expect(after.slice(0, -1).map((i) => (i.kind === 'chunk' ? `${i.attempt}:${i.data}` : i.kind))).toEqual(words.map((w) => `2:${w}`));
    expect(after.at(-1)).toMatchObject({ kind: 'end', status: 'done' });
  }, 60_000);
});
