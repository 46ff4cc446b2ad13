// Durable streams: what agents write with `stream.write` is kept in the
// task's stream, in order, and any reader replays it and follows it live,
// resumes from its last id without loss or repeats, is told when a retry
// begins a new attempt, and ends when the task ends. Bad writes are refused.
import { describe, expect, it } from 'vitest';
import type { AgentContext, StreamItem } from '../src/index.js';
import { talk } from './fixtures/stream-machines.js';
import { uniquePrefix, waitUntil } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

const baton = useBaton();

/** Everything a reader gets, until the stream ends. */
async function readAll(iter: AsyncIterable<StreamItem>): Promise<StreamItem[]> {
  const out: StreamItem[] = [];
  for await (const item of iter) out.push(item);
  return out;
}

const chunks = (items: StreamItem[]) => items.flatMap((i) => (i.kind === 'chunk' ? [i.data] : []));

/** A gate the test opens. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe('durable streams', () => {
  it('a reader that joins after the agent finished gets every chunk in order, then the end', async () => {
    const prefix = uniquePrefix('stream-late');
    const talker = async ({ input, stream }: AgentContext<{ words: string[] }>) => {
      for (const w of input.words) await stream.write(w);
      return { said: input.words.length };
    };
    const rt = await baton.runtime(prefix, { machines: { talk }, agents: { talker } });
    const words = Array.from({ length: 300 }, (_, i) => `w${i}`);
    const t = await rt.spawn('talk', { id: 'late', input: { words } });
    await t.waitFor((v) => v.status === 'done', { timeout: 10_000 });
    const items = await readAll(baton.client(prefix).stream('late'));
    expect(chunks(items)).toEqual(words);
    expect(items[0]).toMatchObject({ kind: 'attempt', attempt: 1, childPath: ['0.talk.talking'] });
    expect(items.at(-1)).toMatchObject({ kind: 'end', status: 'done' });
    const c = items.find((i) => i.kind === 'chunk')!;
    expect(c).toMatchObject({ jobId: expect.stringMatching(/^late\.1\./), attempt: 1 });
    // Ids increase: a reader can resume from any of them.
    const ids = items.map((i) => i.id);
    expect([...ids].sort((a, b) => (BigInt(a.split('-')[0]!) - BigInt(b.split('-')[0]!) || Number(a.split('-')[1]) - Number(b.split('-')[1])) > 0 ? 1 : -1)).toEqual(ids);
  });

  it('a live reader sees chunks as they are written; one that stops halfway and resumes from its last id gets the rest once', async () => {
    const prefix = uniquePrefix('stream-live');
    const half = gate();
    const talker = async ({ input, stream }: AgentContext<{ words: string[] }>) => {
      for (const w of input.words.slice(0, 5)) await stream.write(w);
      await half.opened;
      for (const w of input.words.slice(5)) await stream.write(w);
      return {};
    };
    const rt = await baton.runtime(prefix, { machines: { talk }, agents: { talker } });
    const words = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    const client = baton.client(prefix);
    await rt.spawn('talk', { id: 'live', input: { words } });
    // Reader 1 follows live and stops after the fifth word (before the rest is written).
    const stop = new AbortController();
    const first: StreamItem[] = [];
    for await (const item of client.stream('live', { signal: stop.signal })) {
      first.push(item);
      if (chunks(first).length === 5) stop.abort();
    }
    expect(chunks(first)).toEqual(words.slice(0, 5));
    half.open();
    // Reader 2 resumes from reader 1's last id: the other five, and the end, once.
    const rest = await readAll(client.stream('live', { from: first.at(-1)!.id }));
    expect(chunks(rest)).toEqual(words.slice(5));
    expect(rest.at(-1)).toMatchObject({ kind: 'end', status: 'done' });
    // `from: 'end'` on a task that ended: nothing but what comes after (nothing: the end was before).
    expect(await readAll(client.stream('live', { from: 'end' }))).toEqual([]);
  });

  it('a retried attempt is announced with a marker; the superseded attempt cannot write after it (FENCED)', async () => {
    const prefix = uniquePrefix('stream-retry');
    const late = gate();
    let lateWrite: { code?: string } | undefined;
    const talker = async ({ input, stream, attempt }: AgentContext<{ words: string[] }>) => {
      if (attempt === 1) {
        await stream.write('half a');
        // This attempt fails, but its code keeps a writer: once the retry began, it may not write any more.
        void late.opened.then(() => stream.write('zombie').then(() => (lateWrite = {}), (e: { code: string }) => (lateWrite = e)));
        throw new Error('the model timed out');
      }
      for (const w of input.words) await stream.write(w);
      late.open();
      return {};
    };
    const rt = await baton.runtime(prefix, { machines: { talk }, agents: { talker } });
    await (await rt.spawn('talk', { id: 'rt', input: { words: ['x', 'y'] } })).waitFor((v) => v.status === 'done', { timeout: 10_000 });
    const items = await readAll(baton.client(prefix).stream('rt'));
    expect(items.map((i) => (i.kind === 'chunk' ? `${i.attempt}:${i.data}` : `${i.kind}${i.kind === 'attempt' ? i.attempt : ''}`))).toEqual([
      'attempt1',
      '1:half a',
      'attempt2',
      '2:x',
      '2:y',
      'end',
    ]);
    await waitUntil(() => lateWrite, { timeout: 5000, message: 'the zombie write' });
    expect(lateWrite).toMatchObject({ code: 'FENCED' });
    expect(chunks(await readAll(baton.client(prefix).stream('rt')))).not.toContain('zombie');
  });

  it('an agent run from its queue streams the same way: its first run begins with its first write, a retry with a marker', async () => {
    const prefix = uniquePrefix('stream-queue');
    const talker = {
      inProcess: false,
      run: async ({ input, stream, attempt }: AgentContext<{ words: string[] }>) => {
        await stream.write(`try ${attempt}`);
        if (attempt === 1) throw new Error('the model timed out');
        for (const w of input.words) await stream.write(w);
        return {};
      },
    };
    const rt = await baton.runtime(prefix, { machines: { talk }, agents: { talker } });
    await (await rt.spawn('talk', { id: 'q', input: { words: ['x', 'y'] } })).waitFor((v) => v.status === 'done', { timeout: 15_000 });
    const items = await readAll(baton.client(prefix).stream('q'));
    expect(items.map((i) => (i.kind === 'chunk' ? `${i.attempt}:${i.data}` : `${i.kind}${i.kind === 'attempt' ? i.attempt : ''}`))).toEqual([
      'attempt1',
      '1:try 1',
      'attempt2',
      '2:try 2',
      '2:x',
      '2:y',
      'end',
    ]);
  });

  it('a cancelled attempt cannot write (FENCED); a chunk over the limit is PAYLOAD_TOO_LARGE; an unknown task is TASK_NOT_FOUND', async () => {
    const prefix = uniquePrefix('stream-bad');
    const results: Record<string, unknown> = {};
    const cancelled = gate();
    const talker = async ({ stream, signal }: AgentContext<{ words: string[] }>) => {
      results.big = await stream.write('x'.repeat(200)).catch((e: { code: string }) => e.code);
      await stream.write('ok');
      await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      await cancelled.opened;
      results.afterCancel = await stream.write('too late').catch((e: { code: string }) => e.code);
      return {};
    };
    const rt = await baton.runtime(prefix, { machines: { talk }, agents: { talker }, stream: { maxChunkBytes: 100 } });
    const t = await rt.spawn('talk', { id: 'bad', input: { words: [] } });
    await waitUntil(async () => chunks(await takeStored(prefix, 'bad')).length === 1, { timeout: 10_000, message: 'the first chunk' });
    await t.send({ type: 'interrupt' });
    await t.waitFor((v) => v.value === 'interrupted', { timeout: 10_000 });
    // The cancel closes the attempt's run (its own write, right after the interrupt's commit).
    const jobId = ((await takeStored(prefix, 'bad')).find((i) => i.kind === 'chunk') as { jobId: string }).jobId;
    await waitUntil(async () => (await baton.redis.hget(`${prefix}:task:{bad}:runs`, `${jobId}:c`)) === '0', { timeout: 5000, message: 'the run closed' });
    cancelled.open();
    await waitUntil(() => results.afterCancel, { timeout: 5000, message: 'the write after the cancel' });
    expect(results).toEqual({ big: 'PAYLOAD_TOO_LARGE', afterCancel: 'FENCED' });
    expect(chunks(await takeStored(prefix, 'bad'))).toEqual(['ok']);
    await expect(readAll(baton.client(prefix).stream('nope'))).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
    await expect(readAll(baton.client(prefix).stream('bad', { from: 'nonsense' }))).rejects.toMatchObject({ code: 'INVALID_ID' });
  });

  it("progress keeps working, and each agent child's latest report is in the task's view", async () => {
    const prefix = uniquePrefix('stream-progress');
    const talker = async ({ input, progress }: AgentContext<{ words: string[] }>) => {
      for (let i = 1; i <= input.words.length; i++) await progress({ done: i, of: input.words.length });
      return {};
    };
    const rt = await baton.runtime(prefix, { machines: { talk }, agents: { talker } });
    const client = baton.client(prefix);
    const seen: unknown[] = [];
    const sub = client.onProgress('pg', (p) => seen.push(p.data));
    await sub.ready;
    const t = await rt.spawn('talk', { id: 'pg', input: { words: ['a', 'b', 'c'] } });
    await t.waitFor((x) => x.status === 'done', { timeout: 10_000 });
    const v = await client.get('pg');
    expect(v!.progress?.['0.talk.talking']).toMatchObject({ agent: 'talker', childPath: ['0.talk.talking'], attempt: 1, data: { done: 3, of: 3 } });
    await waitUntil(() => seen.length === 3, { timeout: 5000, message: 'three progress messages' });
    expect(seen).toEqual([{ done: 1, of: 3 }, { done: 2, of: 3 }, { done: 3, of: 3 }]);
    sub();
  });
});

/** The stored stream of a task, read directly (what a late reader would replay). */
async function takeStored(prefix: string, id: string): Promise<StreamItem[]> {
  const rows = await baton.redis.xrange(`${prefix}:task:{${id}}:stream`, '-', '+');
  const { streamItem } = await import('../src/persistence/stream-store.js');
  return rows.map(([rid, f]) => streamItem(rid, f));
}
