/**
 * The one function a real LLM plugs into. The demo's agents call `llm()` (the
 * whole answer) or `llmStream()` (the answer as it is generated) for every
 * judgement; by default it is a deterministic local stand-in (no network, no
 * key) that answers word by word. To use a real model, call `useLlm` in the
 * worker module, with a function that returns the whole answer:
 *
 *   useLlm(async ({ system, prompt }) => (await openai.responses.create({ model, input: prompt, instructions: system })).output_text);
 *
 * or its text deltas as an async iterable, which the reconciler streams into
 * the task's durable stream as they come (examples/ai-sdk-agent.ts shows an
 * AI SDK agent, and how to catch the errors its `textStream` keeps quiet):
 *
 *   useLlm(({ system, prompt, signal }) => streamText({ model, system, prompt, abortSignal: signal }).textStream);
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface LlmRequest {
  system: string;
  prompt: string;
  json?: boolean;
  /** Aborted when the asking agent is cancelled (its invoking state left), times out or its worker stops. */
  signal?: AbortSignal;
}

export type Llm = (request: LlmRequest) => Promise<string> | AsyncIterable<string>;

/** The stand-in's pace: one word every this many ms. */
const WORD_MS = 15;

let current: Llm = ({ prompt, signal }) => words(deterministic(prompt), signal);

/** Replace the stand-in with a real model. */
export function useLlm(llm: Llm): void {
  current = llm;
}

/** Ask the model: its answer as it is generated, in text deltas (one delta, the whole answer, for a model that does not stream). */
export async function* llmStream(request: LlmRequest): AsyncGenerator<string> {
  const answer = current(request);
  if (Symbol.asyncIterator in answer) yield* answer;
  else yield await answer;
}

/** Ask the model: the whole answer. */
export async function llm(request: LlmRequest): Promise<string> {
  let text = '';
  for await (const delta of llmStream(request)) text += delta;
  return text;
}

/** `text` word by word (each word with the space after it), at the stand-in's pace. */
async function* words(text: string, signal?: AbortSignal): AsyncGenerator<string> {
  for (const word of text.match(/\S+\s*/g) ?? []) {
    await sleep(WORD_MS, undefined, { signal });
    yield word;
  }
}

function deterministic(prompt: string): string {
  if (prompt.startsWith('RECONCILE')) {
    // JSON, spaced the way a model writes it.
    const verdict = 'go-with-conditions';
    const rationale = 'Technically feasible; proceed only within the regulatory limits the regulatory review names.';
    return `{ "verdict": ${JSON.stringify(verdict)}, "rationale": ${JSON.stringify(rationale)} }`;
  }
  return `summary of: ${prompt.slice(0, 60)}`;
}
