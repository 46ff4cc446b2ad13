// The AI SDK agent of examples/ai-sdk-agent.ts on a real runtime: the model's
// deltas reach the task's durable stream as they are generated, in order, and
// the output is the whole text; leaving the invoking state aborts the model
// call (the model sees its abortSignal fire) and nothing reaches the stream
// after that; a model error fails the attempt rather than passing half an
// answer off as the whole. The models are the AI SDK's own test model (no
// network).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { MockLanguageModelV3 } from 'ai/test';
import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { z } from 'zod';
import { fromAgent, type StreamItem } from '../src/index.js';
import { aiSdkAgent, chat, mockModel } from '../examples/ai-sdk-agent.js';
import { REPO_ROOT, runChild, uniquePrefix, waitUntil } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

const baton = useBaton();

const chunks = (items: StreamItem[]) => items.flatMap((i) => (i.kind === 'chunk' ? [i.data] : []));
/** What a language model's stream carries (LanguageModelV3StreamPart, without importing @ai-sdk/provider). */
type Part = Awaited<ReturnType<MockLanguageModelV3['doStream']>>['stream'] extends ReadableStream<infer P> ? P : never;
const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } };

/** A promise the test resolves. */
function gate() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function readAll(iter: AsyncIterable<StreamItem>): Promise<StreamItem[]> {
  const out: StreamItem[] = [];
  for await (const item of iter) out.push(item);
  return out;
}

/**
 * A test model whose stream is driven by the test: `next()` resolves with
 * the next part to emit (or undefined to end the stream). It records the
 * options of each doStream call (the abortSignal among them).
 */
function drivenModel(next: (index: number, abortSignal: AbortSignal | undefined) => Promise<Part | undefined>) {
  return new MockLanguageModelV3({
    doStream: async ({ abortSignal }) => {
      let i = 0;
      return {
        stream: new ReadableStream<Part>({
          async pull(controller) {
            const part = await next(i++, abortSignal);
            try {
              if (part) controller.enqueue(part);
              else controller.close();
            } catch {
              // The consumer cancelled the stream (an abort): nothing more to emit.
            }
          },
        }),
      };
    },
  });
}

describe('AI SDK agent (examples/ai-sdk-agent.ts)', () => {
  it('streams every delta to the task stream in order, as it is generated, and the output is the whole text', async () => {
    const prefix = uniquePrefix('ai-sdk-deltas');
    const deltas = ['Sodium', '-ion ', 'cells ', 'trade ', 'density ', 'for ', 'cost', '.'];
    // Delta k is emitted only once the test's reader has seen delta k-1 in the task's stream: the
    // agent cannot be holding them back to the end.
    const seen = deltas.map(() => gate());
    seen[0]!.resolve();
    const model = drivenModel(async (i) => {
      const k = i - 1;
      if (i === 0) return { type: 'text-start', id: 't' };
      if (k < deltas.length) {
        await seen[k]!.promise;
        return { type: 'text-delta', id: 't', delta: deltas[k]! };
      }
      if (k === deltas.length) return { type: 'text-end', id: 't' };
      if (k === deltas.length + 1) return { type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage };
      return undefined;
    });
    const rt = await baton.runtime(prefix, { machines: { chat }, agents: { ask: aiSdkAgent(model) } });
    const task = await rt.spawn('chat', { id: 'deltas', input: { prompt: 'What do sodium-ion cells trade?' } });

    const items: StreamItem[] = [];
    for await (const item of baton.client(prefix).stream('deltas')) {
      items.push(item);
      if (item.kind === 'chunk') seen[chunks(items).length]?.resolve();
    }
    expect(chunks(items)).toEqual(deltas);
    expect(items.filter((i) => i.kind === 'chunk').every((i) => i.kind === 'chunk' && i.attempt === 1 && i.childPath.length === 1)).toBe(true);
    expect(items.at(-1)).toMatchObject({ kind: 'end', status: 'done' });
    const view = await task.waitFor((v) => v.status === 'done', { timeoutMs: 10_000 });
    expect(view.value).toBe('answered');
    expect(view.output).toBe(deltas.join(''));
    expect(JSON.stringify(model.doStreamCalls[0]!.prompt)).toContain('What do sodium-ion cells trade?');
  });

  it("the example's mock model (simulateReadableStream) streams the same way", async () => {
    const prefix = uniquePrefix('ai-sdk-simulated');
    const deltas = ['one ', 'two ', 'three'];
    const rt = await baton.runtime(prefix, { machines: { chat }, agents: { ask: aiSdkAgent(mockModel(deltas, 1)) } });
    const task = await rt.spawn('chat', { id: 'sim', input: { prompt: 'count' } });
    expect(chunks(await readAll(task.stream()))).toEqual(deltas);
    expect((await task.waitFor((v) => v.status === 'done', { timeoutMs: 10_000 })).output).toBe('one two three');
  });

  it('leaving the invoking state aborts the model call, and the stream gets no chunk after the cancel', async () => {
    const prefix = uniquePrefix('ai-sdk-cancel');
    // Two deltas, then the model "thinks" until its call is aborted; then it tries to say one more anyway, and ends.
    const model = drivenModel(async (i, abortSignal) => {
      if (i === 0) return { type: 'text-start', id: 't' };
      if (i === 1) return { type: 'text-delta', id: 't', delta: 'one ' };
      if (i === 2) return { type: 'text-delta', id: 't', delta: 'two ' };
      if (i > 3) return undefined;
      await new Promise<void>((resolve) => (abortSignal!.aborted ? resolve() : abortSignal!.addEventListener('abort', () => resolve(), { once: true })));
      return { type: 'text-delta', id: 't', delta: 'after the cancel' };
    });
    let settled: { ok: true; value: unknown } | { ok: false; error: unknown } | undefined;
    const agent = aiSdkAgent(model);
    const rt = await baton.runtime(prefix, {
      machines: { chat },
      agents: {
        ask: async (ctx) => {
          try {
            const value = await agent(ctx);
            settled = { ok: true, value };
            return value;
          } catch (error) {
            settled = { ok: false, error };
            throw error;
          }
        },
      },
    });
    const task = await rt.spawn('chat', { id: 'cancel', input: { prompt: 'count slowly' } });

    // Follow the stream live until both deltas are in, then leave the invoking state.
    const items: StreamItem[] = [];
    for await (const item of task.stream()) {
      items.push(item);
      if (chunks(items).length === 2) break;
    }
    expect(model.doStreamCalls).toHaveLength(1);
    const abortSignal = model.doStreamCalls[0]!.abortSignal!;
    expect(abortSignal.aborted).toBe(false);
    await task.send({ type: 'cancel' });
    const view = await task.waitFor((v) => v.status === 'done', { timeoutMs: 10_000 });
    expect(view.value).toBe('cancelled');

    // The model's own abortSignal fired, and the agent ended without returning the partial text as an answer.
    await waitUntil(() => abortSignal.aborted, { timeout: 5000, message: "the model call's abortSignal aborted" });
    await waitUntil(() => settled, { timeout: 5000, message: 'the agent function settled' });
    expect(settled).toMatchObject({ ok: false });

    // The whole stream, the task having ended: the two deltas, and nothing after them but the end.
    const all = await readAll(baton.client(prefix).stream('cancel'));
    expect(chunks(all)).toEqual(['one ', 'two ']);
    expect(all.at(-1)).toMatchObject({ kind: 'end', status: 'done' });
    expect(view.output).toBeUndefined();
  });

  it('a model error fails the attempt instead of passing its partial text off as the answer: retried, then onError', async () => {
    const prefix = uniquePrefix('ai-sdk-error');
    // Half an answer, then the provider fails mid-stream (textStream itself ends quietly).
    const model = drivenModel(async (i) =>
      [{ type: 'text-start', id: 't' } as const, { type: 'text-delta', id: 't', delta: 'half ' } as const, { type: 'error', error: new Error('the model is overloaded') } as const][i],
    );
    const flaky = setup({
      types: { context: {} as { error?: unknown } },
      actors: { ask: fromAgent('ask', { input: z.object({ prompt: z.string() }), output: z.string(), attempts: 2, backoffMs: 10 }) },
    }).createMachine({
      id: 'flaky',
      context: {},
      initial: 'answering',
      states: {
        answering: { invoke: { src: 'ask', input: { prompt: 'hi' }, onDone: 'answered', onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error }) } } },
        answered: { type: 'final' },
        failed: { type: 'final' },
      },
      output: ({ context }) => context.error,
    });
    const rt = await baton.runtime(prefix, { machines: { flaky }, agents: { ask: aiSdkAgent(model) } });
    const task = await rt.spawn('flaky', { id: 'flaky' });
    const view = await task.waitFor((v) => v.status === 'done', { timeoutMs: 10_000 });
    expect(view.value).toBe('failed');
    expect(view.output).toMatchObject({ message: 'the model is overloaded', attempts: 2 });
    expect(model.doStreamCalls).toHaveLength(2);
    // Each attempt's half answer is in the stream, the second after its attempt marker: a reader knows to drop the first.
    const items = await readAll(task.stream());
    expect(items.map((i) => (i.kind === 'chunk' ? `${i.attempt}:${i.data}` : i.kind === 'attempt' ? `attempt ${i.attempt}` : i.kind))).toEqual([
      'attempt 1',
      '1:half ',
      'attempt 2',
      '2:half ',
      'end',
    ]);
  });

  it('the example runs as a script, and the README shows the file as it is', async () => {
    const file = readFileSync('examples/ai-sdk-agent.ts', 'utf8');
    expect(readFileSync('README.md', 'utf8')).toContain('```ts\n' + file + '```');
    const child = runChild('examples/ai-sdk-agent.ts');
    const exit = await child.exited;
    expect(exit.code, child.lines.join('\n')).toBe(0);
    expect(child.lines).toEqual(['streamed: Durable streams keep every token a model wrote.', 'output: Durable streams keep every token a model wrote.']);
  });

  it('Baton itself does not import the AI SDK: `ai` is an optional peer dependency', () => {
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((f) => (statSync(path.join(dir, f)).isDirectory() ? files(path.join(dir, f)) : [path.join(dir, f)]));
    const importers = files(path.join(REPO_ROOT, 'src'))
      .filter((f) => /\.(ts|js|mjs)$/.test(f))
      .filter((f) => /\bfrom\s+['"](ai|@ai-sdk\/[^'"]+)(\/[^'"]*)?['"]|import\(\s*['"](ai|@ai-sdk\/[^'"]+)(\/[^'"]*)?['"]/.test(readFileSync(f, 'utf8')));
    expect(importers).toEqual([]);
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    expect(pkg.dependencies!.ai).toBeUndefined();
    expect(pkg.peerDependencies!.ai).toBeDefined();
    expect(pkg.peerDependenciesMeta!.ai).toEqual({ optional: true });
  });
});
