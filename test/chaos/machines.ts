// Machines and agents of the fault suite (test/chaos). The task side is
// registered by the worker processes (test/chaos/worker.ts) and by clients that
// validate before writing; the agent side records every execution in Redis so
// the checker can count them across processes.
import type { Redis } from 'ioredis';
import { assign, setup } from 'xstate';
import { z } from 'zod';
import { defineTask, fromAgent, type AgentFunction } from '../../src/index.js';

// ---------------------------------------------------------------- the chaos task

/** One step of agent work: records its execution, works `ms`, returns `{ step }`. */
export const chaosStep = fromAgent('chaosStep', {
  input: z.object({ step: z.number(), ms: z.number() }),
  output: z.object({ step: z.number() }),
  attempts: 5,
  backoffMs: 100,
});

export interface ChaosContext {
  /** Ids of the applied `ev` events, in the order they were applied. */
  log: string[];
  /** Steps whose agent result was applied. */
  steps: number[];
  /** Timer ticks (ticker tasks only). */
  ticks: number;
  finishing: boolean;
  ticker: boolean;
  ms: number;
}

export type ChaosEvent = { type: 'ev'; id: string; sender: string; seq: number } | { type: 'finish' };

/**
 * The workload: an agent call at spawn (step 1); `ev` events are applied in
 * any state and appended to `context.log`; `finish` (any time) leads, once
 * step 1 is done, to a second agent call (step 2), a 200 ms timer, and the
 * final state `done`. Ticker tasks also commit a timer tick every 800 ms while
 * they wait for `finish` (so a frozen holder has a transition to try to commit
 * when it wakes).
 */
export const chaosMachine = setup({
  types: {
    context: {} as ChaosContext,
    input: {} as { ticker?: boolean; ms?: number } | undefined,
    events: {} as ChaosEvent,
  },
  actors: { chaosStep },
  guards: {
    finishing: ({ context }) => context.finishing,
    ticker: ({ context }) => context.ticker,
  },
}).createMachine({
  id: 'chaosTask',
  context: ({ input }) => ({ log: [], steps: [], ticks: 0, finishing: false, ticker: input?.ticker ?? false, ms: input?.ms ?? 50 }),
  on: {
    ev: { actions: assign({ log: ({ context, event }) => [...context.log, event.id] }) },
    finish: { actions: assign({ finishing: true }) },
  },
  initial: 'first',
  states: {
    first: {
      invoke: {
        src: 'chaosStep',
        input: ({ context }) => ({ step: 1, ms: context.ms }),
        onDone: [
          { guard: 'ticker', target: 'ticking', actions: assign({ steps: ({ context, event }) => [...context.steps, event.output.step] }) },
          { target: 'collecting', actions: assign({ steps: ({ context, event }) => [...context.steps, event.output.step] }) },
        ],
      },
    },
    collecting: { always: { guard: 'finishing', target: 'second' } },
    ticking: {
      always: { guard: 'finishing', target: 'second' },
      after: { 800: { target: 'ticking', reenter: true, actions: assign({ ticks: ({ context }) => context.ticks + 1 }) } },
    },
    second: {
      invoke: {
        src: 'chaosStep',
        input: ({ context }) => ({ step: 2, ms: context.ms }),
        onDone: { target: 'cooldown', actions: assign({ steps: ({ context, event }) => [...context.steps, event.output.step] }) },
      },
    },
    cooldown: { after: { 200: 'done' } },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ events: context.log.length, steps: context.steps }),
});

const evSchema = z.object({ type: z.literal('ev'), id: z.string().min(1).max(200), sender: z.string().min(1).max(50), seq: z.number().int().min(1) });

export const chaosTask = defineTask(chaosMachine, {
  input: z.object({ ticker: z.boolean().optional(), ms: z.number().int().min(0).max(10_000).optional() }).optional(),
  events: { ev: evSchema, finish: z.object({ type: z.literal('finish') }) },
});

// ---------------------------------------------------------------- fuzz machines

/** Counts `ev` events like the chaos task, without agents: the fuzzer's background and snapshot victims. */
export const plainMachine = setup({
  types: { context: {} as { log: string[]; n: number }, events: {} as ChaosEvent },
}).createMachine({
  id: 'plainTask',
  context: { log: [], n: 0 },
  initial: 'open',
  states: {
    open: {
      on: {
        ev: { actions: assign({ log: ({ context, event }) => [...context.log, event.id], n: ({ context }) => context.n + 1 }) },
        finish: 'closed',
      },
    },
    closed: { type: 'final' },
  },
});

export const plainTask = defineTask(plainMachine, { events: { ev: evSchema, finish: z.object({ type: z.literal('finish') }) } });

/** Spawn input must be `{ name: 1-50 chars, n: int 0..1000 }`. */
export const strictInputTask = defineTask(
  setup({ types: { context: {} as { name: string; n: number }, input: {} as { name: string; n: number } } }).createMachine({
    id: 'strictInput',
    context: ({ input }) => ({ name: input.name, n: input.n }),
    initial: 'open',
    states: { open: { on: { finish: 'closed' } }, closed: { type: 'final' } },
  }),
  { input: z.object({ name: z.string().min(1).max(50), n: z.number().int().min(0).max(1000) }) },
);

/** An agent whose output must be `{ ok: true }`; the fuzz agent answers with malformed output chosen by `kind`. */
export const fuzzAgent = fromAgent('fuzzAgent', {
  input: z.object({ kind: z.string() }),
  output: z.object({ ok: z.literal(true) }),
  attempts: 2,
  backoffMs: 10,
  timeoutMs: 1500,
});

export interface FuzzAgentContext {
  kind: string;
  result?: unknown;
  error?: { name?: string; message?: string };
}

export const fuzzAgentTask = defineTask(
  setup({
    types: { context: {} as FuzzAgentContext, input: {} as { kind: string } },
    actors: { fuzzAgent },
  }).createMachine({
    id: 'fuzzAgentTask',
    context: ({ input }) => ({ kind: input.kind }),
    initial: 'calling',
    states: {
      calling: {
        invoke: {
          src: 'fuzzAgent',
          input: ({ context }) => ({ kind: context.kind }),
          onDone: { target: 'ok', actions: assign({ result: ({ event }) => event.output }) },
          onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error as FuzzAgentContext['error'] }) },
        },
      },
      ok: { type: 'final' },
      failed: { type: 'final' },
    },
  }),
  { input: z.object({ kind: z.string() }) },
);

export const chaosMachines = { chaosTask, plainTask, strictInputTask, fuzzAgentTask };

// ---------------------------------------------------------------- agent implementations (worker side)

/** Keys the agents write (outside the task key space; plain single-key commands). */
export function chaosKeys(prefix: string) {
  return {
    /** LIST of `<jobId>|<pid>|<attempt>|<startedAt>`, one per execution of chaosStep. */
    runs: `${prefix}:chaos:runs`,
    /** LIST of `<jobId>|<pid>|<attempt>|<kind>`, one per execution of fuzzAgent. */
    fuzzRuns: `${prefix}:chaos:fuzz-runs`,
  };
}

/** Malformed agent outputs, by kind: what the fuzz agent returns (or throws). */
export const FUZZ_OUTPUT_KINDS = [
  'wrong-shape',
  'wrong-type',
  'missing',
  'array',
  'string',
  'number',
  'null',
  'undefined',
  'nan',
  'function',
  'symbol',
  'bigint',
  'date',
  'map',
  'circular',
  'deep',
  'huge',
  'throw-string',
  'throw-null',
  'throw-undefined',
  'throw-object',
  'throw-error',
  'reject-number',
  'hang',
  'proto-pollution',
  'getter-throws',
  'tojson-throws',
] as const;

function deep(levels: number): unknown {
  let v: Record<string, unknown> = { ok: true };
  for (let i = 0; i < levels; i++) v = { v };
  return v;
}

/** The fuzz agent's answer for `kind` (a malformed output, a throw, or a hang until aborted). */
async function malformedOutput(kind: string, signal: AbortSignal): Promise<unknown> {
  switch (kind) {
    case 'wrong-shape':
      return { ok: 'yes', extra: [1, 2, 3] };
    case 'wrong-type':
      return { ok: 1 };
    case 'missing':
      return {};
    case 'array':
      return [{ ok: true }];
    case 'string':
      return '{"ok":true}';
    case 'number':
      return 42;
    case 'null':
      return null;
    case 'undefined':
      return undefined;
    case 'nan':
      return { ok: Number.NaN };
    case 'function':
      return () => ({ ok: true });
    case 'symbol':
      return Symbol('ok');
    case 'bigint':
      return { ok: 10n };
    case 'date':
      return new Date();
    case 'map':
      return new Map([['ok', true]]);
    case 'circular': {
      const o: Record<string, unknown> = { ok: true };
      o.self = o;
      return o;
    }
    case 'deep':
      return deep(20_000);
    case 'huge':
      return { ok: true, blob: 'x'.repeat(64 * 1024) };
    case 'throw-string':
      throw 'a string, not an Error';
    case 'throw-null':
      throw null;
    case 'throw-undefined':
      throw undefined;
    case 'throw-object':
      throw { code: 42, why: 'plain object thrown' };
    case 'throw-error':
      throw new TypeError("'); redis.call('FLUSHALL') --");
    case 'reject-number':
      return Promise.reject(7);
    case 'hang':
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      return { ok: true };
    case 'proto-pollution':
      return JSON.parse('{"__proto__":{"ok":true},"constructor":{"prototype":{"polluted":true}}}');
    case 'getter-throws':
      return Object.defineProperty({}, 'ok', { enumerable: true, get: () => { throw new Error('getter throws'); } });
    case 'tojson-throws':
      return { ok: true, toJSON: () => { throw new Error('toJSON throws'); } };
    default:
      return { unknownKind: kind };
  }
}

/** Agent implementations by name, recording executions through `redis`. */
export function chaosAgents(redis: Redis, prefix: string): Record<string, AgentFunction> {
  const k = chaosKeys(prefix);
  return {
    chaosStep: async ({ input, jobId, attempt, signal }) => {
      const { step, ms } = input as { step: number; ms: number };
      await redis.rpush(k.runs, `${jobId}|${process.pid}|${attempt}|${Date.now()}`);
      if (ms > 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, ms);
          signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
        });
      }
      return { step };
    },
    fuzzAgent: async ({ input, jobId, attempt, signal }) => {
      const { kind } = input as { kind: string };
      await redis.rpush(k.fuzzRuns, `${jobId}|${process.pid}|${attempt}|${kind}`);
      return malformedOutput(kind, signal);
    },
  };
}
