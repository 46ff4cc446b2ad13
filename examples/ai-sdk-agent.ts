import { pathToFileURL } from 'node:url';
import { simulateReadableStream, streamText, type LanguageModel } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { assign, setup } from 'xstate';
import { z } from 'zod';
import { createRuntime, fromAgent, type AgentFunction } from 'baton';

/** An agent on the AI SDK: the answer goes to the task's durable stream delta by delta; its output is the whole text. */
export const aiSdkAgent =
  (model: LanguageModel): AgentFunction<{ prompt: string }, string> =>
  async ({ input, signal, stream }) => {
    let failed: unknown;
    // Leaving the invoking state, the attempt's timeout or a shutdown aborts `signal`, and with it the model call.
    const result = streamText({ model, prompt: input.prompt, abortSignal: signal, onError: ({ error }) => void (failed ??= error) });
    let text = '';
    for await (const delta of result.textStream) {
      text += delta;
      await stream.write(delta);
    }
    // textStream ends quietly on a model error and on an abort: neither is an answer.
    if (failed !== undefined) throw failed;
    signal.throwIfAborted();
    return text;
  };

export const chat = setup({
  types: { context: {} as { prompt: string; answer?: string }, input: {} as { prompt: string } },
  actors: { ask: fromAgent('ask', { input: z.object({ prompt: z.string() }), output: z.string(), timeoutMs: 60_000 }) },
}).createMachine({
  id: 'chat',
  context: ({ input }) => ({ prompt: input.prompt }),
  initial: 'answering',
  states: {
    answering: {
      invoke: { src: 'ask', input: ({ context }) => ({ prompt: context.prompt }), onDone: { target: 'answered', actions: assign({ answer: ({ event }) => event.output }) } },
      on: { cancel: 'cancelled' }, // leaving the state aborts the model call
    },
    answered: { type: 'final' },
    cancelled: { type: 'final' },
  },
  output: ({ context }) => context.answer,
});

/** The AI SDK's test model, answering `deltas` one every `delayMs` (no network, no key). */
export const mockModel = (deltas: string[], delayMs = 20) =>
  new MockLanguageModelV3({
    doStream: async () => ({
      stream: simulateReadableStream({
        chunkDelayInMs: delayMs,
        chunks: [
          { type: 'text-start', id: 't' },
          ...deltas.map((delta) => ({ type: 'text-delta' as const, id: 't', delta })),
          { type: 'text-end', id: 't' },
          { type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage: { inputTokens: { total: 4, noCache: 4, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: deltas.length, text: deltas.length, reasoning: 0 } } },
        ],
      }),
    }),
  });

// Run as a script (REDIS_URL=redis://… node --import tsx examples/ai-sdk-agent.ts), not when imported.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const model = mockModel(['Durable ', 'streams ', 'keep ', 'every ', 'token ', 'a ', 'model ', 'wrote.']); // a real model instead: openai('gpt-5') from @ai-sdk/openai, …
  const runtime = await createRuntime({
    connection: process.env.REDIS_URL,
    prefix: `ai-sdk-${process.pid}`,
    machines: { chat },
    agents: { ask: aiSdkAgent(model) },
  });
  const task = await runtime.spawn('chat', { input: { prompt: 'Why durable streams?' } });
  process.stdout.write('streamed: ');
  // Live as the agent writes (and replayed from the start for a reader that comes late), until the task ends.
  for await (const item of task.stream()) if (item.kind === 'chunk') process.stdout.write(String(item.data));
  console.log(`\noutput: ${(await task.get())?.output}`); // output: Durable streams keep every token a model wrote.
  await runtime.close();
}
