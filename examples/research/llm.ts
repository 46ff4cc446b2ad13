/**
 * The one function a real LLM plugs into. The demo's agents call `llm()` for
 * every judgement; by default it is a deterministic local stand-in (no
 * network, no key). To use a real model, call `useLlm` in the worker module:
 *
 *   useLlm(async ({ system, prompt }) => (await openai.responses.create({ model, input: prompt, instructions: system })).output_text);
 */
export type Llm = (request: { system: string; prompt: string; json?: boolean }) => Promise<string>;

let current: Llm = async ({ prompt }) => deterministic(prompt);

/** Replace the stand-in with a real model. */
export function useLlm(llm: Llm): void {
  current = llm;
}

/** Ask the model. */
export function llm(request: { system: string; prompt: string; json?: boolean }): Promise<string> {
  return current(request);
}

function deterministic(prompt: string): string {
  if (prompt.startsWith('RECONCILE')) {
    return JSON.stringify({
      verdict: 'go-with-conditions',
      rationale: 'Technically feasible; proceed only within the regulatory limits the regulatory review names.',
    });
  }
  return `summary of: ${prompt.slice(0, 60)}`;
}
