import { UnrecoverableError, type AgentContext } from '../../src/index.js';
import { llmStream } from './llm.js';
import type { Plan, SubResult, Review } from './machine.js';

/**
 * The research agents: deterministic local functions. Each reports its pid
 * through `progress`, so the demo can show which process ran what.
 * `hooks` lets the demo fail or stall a step for real.
 */
export const hooks: {
  /** Called when a sub-task starts; may stall (the demo kills the process there). */
  onSubtask?: (index: number) => Promise<void> | void;
  /** Sub-tasks whose first answer comes back in an unexpected shape. */
  malformed?: Set<number>;
} = {};

const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });

export const agents = {
  plan: async ({ input, progress, signal }: AgentContext<{ topic: string; scope: string }>): Promise<Plan> => {
    await progress({ pid: process.pid, what: 'planning' });
    await pause(80, signal);
    const areas = ['market', 'chemistry', 'manufacturing', 'supply chain', 'safety', 'cost', 'competitors'];
    return { subtasks: areas.map((a) => `${a} of ${input.topic}`) };
  },

  subtask: async ({ input, progress, signal, attempt }: AgentContext<{ index: number; question: string; scope: string; repair?: boolean }>): Promise<SubResult> => {
    await progress({ pid: process.pid, what: `sub-task ${input.index + 1}`, attempt });
    await hooks.onSubtask?.(input.index);
    await pause(120, signal);
    if (hooks.malformed?.has(input.index) && !input.repair) {
      // An upstream tool changed its format: the answer does not match the schema.
      return { finding: undefined, confidence: 'high' } as unknown as SubResult;
    }
    return { finding: `${input.question} (${input.scope})`, confidence: 0.6 + (input.index % 4) / 10, pid: process.pid };
  },

  technical: async ({ input, progress, signal }: AgentContext<{ findings: string[]; scope: string }>): Promise<Review> => {
    await progress({ pid: process.pid, what: 'technical feasibility' });
    await pause(150, signal);
    return { verdict: 'go', risk: 'medium', notes: `feasible: ${input.findings.length} findings support it (${input.scope})` };
  },

  regulatory: async ({ input, progress, signal }: AgentContext<{ findings: string[]; scope: string }>): Promise<Review> => {
    await progress({ pid: process.pid, what: 'regulatory constraints' });
    await pause(150, signal);
    return { verdict: 'no-go', risk: 'high', notes: `cell chemistry limits apply in ${input.scope}` };
  },

  /** Streams its answer into the task's durable stream as the model writes it (the demo prints it live). */
  reconcile: async ({ input, progress, signal, stream }: AgentContext<{ outputs: Record<string, Review>; conflict: { summary: string } }>) => {
    await progress({ pid: process.pid, what: 'reconciling (LLM)' });
    let answer = '';
    for await (const delta of llmStream({ system: 'You reconcile conflicting reviews.', prompt: `RECONCILE ${JSON.stringify(input)}`, json: true, signal })) {
      answer += delta;
      await stream.write(delta);
    }
    try {
      return JSON.parse(answer) as { verdict: string; rationale: string };
    } catch {
      throw new UnrecoverableError('the model did not answer in JSON');
    }
  },

  report: async ({ input, progress }: AgentContext<{ topic: string; scope: string; findings: string[]; decision: unknown }>) => {
    await progress({ pid: process.pid, what: 'writing the report' });
    return { title: `${input.topic} (${input.scope})`, sections: input.findings.length, decision: input.decision };
  },
};
