import { assign, setup, type AnyActorLogic } from 'xstate';
import { fromTask } from '../actors/fromTask.js';
import { actorNow } from './clock.js';
import { answers, awaitingOf, type Awaiting, type DecisionEvent } from './types.js';

/** A conflict found between agents' outputs. */
export interface Conflict {
  /** Fields (or aspects) on which the outputs disagree. */
  fields: string[];
  /** Human-readable summary. */
  summary: string;
  /** Which detector found it: 'rule', 'fields' or 'agent'. */
  detectedBy: string;
}

/** How conflicts are detected. */
export type ConflictDetector =
  /** A function over the outputs (by agent name); return a conflict or null. */
  | { kind: 'rule'; detect: (outputs: Record<string, unknown>) => Omit<Conflict, 'detectedBy'> | null }
  /** Per-field comparison: the outputs conflict where any listed field differs (deep equality on JSON). */
  | { kind: 'fields'; fields: string[] }
  /** A semantic judge run as an agent (e.g. an LLM call): input `{ outputs }`, output `{ conflict: boolean, fields?, summary? }`. */
  | { kind: 'agent'; judge: AnyActorLogic };

/** How conflicts are reconciled. */
export type Reconciler =
  /** A function: returns the reconciled output. */
  | { kind: 'rule'; reconcile: (outputs: Record<string, unknown>, conflict: Conflict) => unknown; name?: string }
  /** An agent (e.g. an LLM): input `{ outputs, conflict }`, output: the reconciled result. */
  | { kind: 'agent'; reconciler: AnyActorLogic; name?: string }
  /**
   * A person: the task waits (passivated, costing no memory) for a `decision`
   * event named 'reconcile' choosing one agent's output (or 'merge' when
   * `merge` is given). Past `deadlineMs` it takes `defaultChoice`.
   */
  | {
      kind: 'human';
      question?: string;
      deadlineMs?: number;
      defaultChoice?: string;
      merge?: (outputs: Record<string, unknown>) => unknown;
    };

/** Options of {@link parallelAgents}. */
export interface ParallelAgentsOptions {
  /** Machine id. */
  id: string;
  /** The agents to fan out to, by name (each runs as its own child machine). */
  agents: Record<string, AnyActorLogic>;
  /** Input of each agent. @default the machine's input */
  input?: (agent: string, input: unknown) => unknown;
  /** Conflict detection. */
  detect: ConflictDetector;
  /** Reconciliation of a detected conflict. */
  reconcile: Reconciler;
  /** Output when there is no conflict. @default the outputs by agent name */
  merge?: (outputs: Record<string, unknown>) => unknown;
  /**
   * Run each agent as a child task (`fromTask`) instead of a child machine
   * inside this task: each branch is then a task of its own, held by any
   * worker, one small commit per step, instead of one growing tree in one
   * task. Register the branch machines with {@link parallelAgentTasks}.
   * `attempts` and `backoffMs` restart a branch task that ended in error.
   * @default false
   */
  asTasks?: boolean | { attempts?: number; backoffMs?: number };
}

/** The machine name a branch of {@link parallelAgents} runs under as a child task. */
export function branchMachineName(id: string, agent: string): string {
  return `${id}-agent-${agent}`;
}

/**
 * The branch machines of a `parallelAgents({ asTasks })` machine, by the
 * names its child tasks run: register them beside it.
 *
 * @example
 * const review = parallelAgents({ id: 'review', agents, detect, reconcile, asTasks: true });
 * await createRuntime({ machines: { review, ...parallelAgentTasks({ id: 'review', agents }) } });
 */
export function parallelAgentTasks(opts: Pick<ParallelAgentsOptions, 'id' | 'agents'>): Record<string, ReturnType<typeof agentMachine>> {
  const out: Record<string, ReturnType<typeof agentMachine>> = {};
  for (const [n, logic] of Object.entries(opts.agents)) out[branchMachineName(opts.id, n)] = agentMachine(n, logic);
  return out;
}

/** The result: both originals, the conflict, the reconciled output and who decided. */
export interface ParallelResult {
  /** Each agent's output (or its error), kept as it was. */
  originals: Record<string, unknown>;
  /** Agents that failed, with their error. */
  failed: Record<string, { message?: string }>;
  /** The conflict found, or null. */
  conflict: Conflict | null;
  /** The final output. */
  reconciled: unknown;
  /** Who or what decided: 'no-conflict', 'rule:<name>', 'agent:<name>', 'human:<who>', 'default'. */
  decidedBy: string;
  /** When it was decided (ms since the epoch). */
  decidedAt: number;
}

type Ctx = {
  input: unknown;
  originals: Record<string, unknown>;
  failed: Record<string, { message?: string }>;
  conflict: Conflict | null;
  reconciled?: unknown;
  decidedBy?: string;
  decidedAt?: number;
  awaiting?: Awaiting;
};

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function fieldConflict(outputs: Record<string, unknown>, fields: string[]): Omit<Conflict, 'detectedBy'> | null {
  const names = Object.keys(outputs);
  const differing = fields.filter((f) => {
    const values = names.map((n) => (outputs[n] as Record<string, unknown> | undefined)?.[f]);
    return values.some((v) => !same(v, values[0]));
  });
  if (differing.length === 0) return null;
  const detail = differing
    .map((f) => `${f}: ${names.map((n) => `${n}=${JSON.stringify((outputs[n] as Record<string, unknown>)?.[f])}`).join(' vs ')}`)
    .join('; ');
  return { fields: differing, summary: detail };
}

/** What an agent's child machine ends with. */
type AgentResult = { ok: true; output: unknown } | { ok: false; error: { message?: string } };

/**
 * One agent as its own child machine: runs the logic and ends in `done`
 * (output `{ ok: true, output }`) or `failed` (output `{ ok: false, error }`),
 * so one agent's failure does not abort the others.
 */
function agentMachine(name: string, logic: AnyActorLogic) {
  return setup({
    types: { context: {} as { input: unknown; result?: AgentResult }, input: {} as unknown, output: {} as AgentResult },
    actors: { work: logic },
  }).createMachine({
    id: `agent-${name}`,
    context: ({ input }) => ({ input }),
    initial: 'working',
    states: {
      working: {
        invoke: {
          src: 'work',
          input: ({ context }: { context: { input: unknown } }) => context.input,
          onDone: { target: 'done', actions: assign({ result: ({ event }) => ({ ok: true as const, output: event.output }) }) },
          onError: {
            target: 'failed',
            actions: assign({ result: ({ event }) => ({ ok: false as const, error: { message: (event.error as { message?: string })?.message ?? String(event.error) } }) }),
          },
        },
      },
      done: { type: 'final' },
      failed: { type: 'final' },
    },
    // Both final states are entered with a result; the fallback only satisfies the type.
    output: ({ context }) => context.result ?? { ok: false, error: { message: 'the agent ended without a result' } },
  });
}

/**
 * Parallel agents with conflict resolution: fan out to N agents (each its own
 * child machine), fan in their outputs, detect conflicts with a pluggable
 * detector (rule, per-field, or a semantic judge run as an agent), and route a
 * conflict to reconciliation by rule, by an agent (an LLM), or by a person
 * (the task waits for a `decision` event). The result keeps both originals,
 * the conflict, the reconciled output and who decided; times (`decidedAt`,
 * `since`, `deadline`) are read from the actor's clock.
 *
 * @example
 * const review = parallelAgents({
 *   id: 'review',
 *   agents: { technical: fromAgent('technical'), regulatory: fromAgent('regulatory') },
 *   detect: { kind: 'fields', fields: ['verdict'] },
 *   reconcile: { kind: 'human', deadlineMs: 86_400_000, defaultChoice: 'regulatory' },
 * });
 */
export function parallelAgents(opts: ParallelAgentsOptions) {
  const names = Object.keys(opts.agents);
  const actors: Record<string, AnyActorLogic> = {};
  const asTasks = opts.asTasks === true ? {} : opts.asTasks || undefined;
  for (const n of names) actors[`agent_${n}`] = asTasks ? fromTask(branchMachineName(opts.id, n), asTasks) : agentMachine(n, opts.agents[n]!);
  if (opts.detect.kind === 'agent') actors.judge = opts.detect.judge;
  if (opts.reconcile.kind === 'agent') actors.reconciler = opts.reconcile.reconciler;
  const rec = opts.reconcile;
  const machine = setup({
    types: { context: {} as Ctx, input: {} as unknown, events: {} as DecisionEvent, output: {} as ParallelResult },
    actors,
    delays: { reconcileDeadline: rec.kind === 'human' ? (rec.deadlineMs ?? 0) : 0 },
  });
  type StateConfig = Parameters<typeof machine.createStateConfig>[0];
  const okOutputs = (ctx: Ctx) => Object.fromEntries(Object.entries(ctx.originals).filter(([n]) => !(n in ctx.failed)));
  /** The decision, stamped by the actor's clock. */
  const decided = <E>(by: string, value: (ctx: Ctx, e: E) => unknown) =>
    assign<Ctx, E & { type: string }, undefined, DecisionEvent, never>(({ context, event, self }) => ({
      reconciled: value(context, event),
      decidedBy: by,
      decidedAt: actorNow(self),
      awaiting: undefined,
    }));

  const regions: Record<string, StateConfig> = {};
  for (const n of names) {
    regions[n] = {
      initial: 'running',
      states: {
        running: {
          invoke: {
            id: n,
            src: `agent_${n}`,
            input: ({ context }) => (opts.input ? opts.input(n, context.input) : context.input),
            onDone: {
              target: 'finished',
              actions: assign(({ context, event }) => {
                const r = event.output as AgentResult | undefined;
                return r?.ok
                  ? { originals: { ...context.originals, [n]: r.output } }
                  : { originals: { ...context.originals, [n]: null }, failed: { ...context.failed, [n]: r?.error ?? {} } };
              }),
            },
            // A branch run as a child task that ended in error or was stopped (a child machine always ends done).
            onError: {
              target: 'finished',
              actions: assign(({ context, event }) => ({
                originals: { ...context.originals, [n]: null },
                failed: { ...context.failed, [n]: { message: (event.error as { message?: string } | undefined)?.message ?? String(event.error) } },
              })),
            },
          },
        },
        finished: { type: 'final' },
      },
    };
  }

  const d = opts.detect;
  const detecting: StateConfig =
    d.kind === 'agent'
      ? {
          invoke: {
            src: 'judge',
            input: ({ context }) => ({ outputs: okOutputs(context) }),
            onDone: {
              target: 'routing',
              actions: assign(({ event }) => {
                const o = (event.output ?? {}) as { conflict?: boolean; fields?: string[]; summary?: string };
                return { conflict: o.conflict ? { fields: o.fields ?? [], summary: o.summary ?? 'the judge found a conflict', detectedBy: 'agent' } : null };
              }),
            },
            onError: { target: 'routing', actions: assign({ conflict: () => ({ fields: [], summary: 'the judge failed; treated as a conflict', detectedBy: 'agent' }) }) },
          },
        }
      : {
          always: {
            target: 'routing',
            actions: assign(({ context }) => {
              const outputs = okOutputs(context);
              const found = d.kind === 'rule' ? d.detect(outputs) : fieldConflict(outputs, d.fields);
              return { conflict: found ? { ...found, detectedBy: d.kind } : null };
            }),
          },
        };

  let reconciling: StateConfig;
  if (rec.kind === 'rule') {
    reconciling = {
      always: { target: 'resolved', actions: decided(`rule:${rec.name ?? 'reconcile'}`, (ctx) => rec.reconcile(okOutputs(ctx), ctx.conflict!)) },
    };
  } else if (rec.kind === 'agent') {
    reconciling = {
      invoke: {
        src: 'reconciler',
        input: ({ context }) => ({ outputs: okOutputs(context), conflict: context.conflict }),
        onDone: { target: 'resolved', actions: decided(`agent:${rec.name ?? 'reconciler'}`, (_c, e: { output: unknown }) => e.output) },
        onError: { target: 'resolved', actions: decided('default', (ctx) => ({ unresolved: true, outputs: okOutputs(ctx) })) },
      },
    };
  } else {
    const options = [...names, ...(rec.merge ? ['merge'] : [])];
    const pick = (ctx: Ctx, choice: string) => (choice === 'merge' && rec.merge ? rec.merge(okOutputs(ctx)) : ctx.originals[choice]);
    reconciling = {
      entry: assign(({ context, self }) => {
        const question = rec.question ?? `The agents disagree (${context.conflict?.summary}). Whose output stands?`;
        const detail = { conflict: context.conflict, originals: context.originals };
        return { awaiting: awaitingOf({ decision: 'reconcile', question, options, deadlineMs: rec.deadlineMs, detail }, actorNow(self)) };
      }),
      on: {
        decision: {
          guard: ({ context, event }) => answers(context.awaiting, event),
          target: 'resolved',
          actions: assign(({ context, event, self }) => ({ reconciled: pick(context, event.choice), decidedBy: `human:${event.by ?? 'unknown'}`, decidedAt: actorNow(self), awaiting: undefined })),
        },
      },
      ...(rec.deadlineMs !== undefined
        ? { after: { reconcileDeadline: { target: 'resolved', actions: decided('default', (ctx) => pick(ctx, rec.defaultChoice ?? names[0]!)) } } }
        : {}),
    };
  }

  return machine.createMachine({
    id: opts.id,
    context: ({ input }) => ({ input, originals: {}, failed: {}, conflict: null }),
    initial: 'fanOut',
    states: {
      fanOut: { type: 'parallel', states: regions, onDone: 'detecting' },
      detecting,
      routing: {
        always: [
          { guard: ({ context }) => context.conflict !== null, target: 'reconciling' },
          { target: 'resolved', actions: decided('no-conflict', (ctx) => (opts.merge ? opts.merge(okOutputs(ctx)) : okOutputs(ctx))) },
        ],
      },
      reconciling,
      resolved: { type: 'final' },
    },
    output: ({ context }) => ({
      originals: context.originals,
      failed: context.failed,
      conflict: context.conflict,
      reconciled: context.reconciled,
      decidedBy: context.decidedBy ?? 'none',
      decidedAt: context.decidedAt ?? 0,
    }),
  });
}
