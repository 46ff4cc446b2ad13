/**
 * Baton: a seven-step task on the `durableSteps` pattern, each step an agent
 * (`fromAgent`; registered on the same runtime, so it runs in process right
 * after the commit that started it, and as a BullMQ job after a restore)
 * or, in the `baton-promise` variant, a `fromPromise` child. The runtime has
 * a stable owner id, so a restarted worker takes its tasks back at once. Workload C is the
 * `parallelAgents` pattern: fan out, compare fields, reconcile by rule.
 * Only the public API is used, from the compiled build (dist/, `npm run build`;
 * `npm run bench:peers` builds it first), as an installed package would be.
 */
import { fromPromise, type AnyActorLogic } from 'xstate';
import { createRuntime, durableSteps, fromAgent, parallelAgents, type Runtime, type StepsOutput } from '../../../dist/index.js';
import type { CrashWorker, Peer, PeerCtx } from '../lib/peer.js';
import { agentFns, COMPARED, STEPS, step, stepName, stricter, type AgentName, type Results } from '../lib/work.js';

type Variant = 'agent' | 'promise';
interface StepInput {
  taskId: string;
  i: number;
  results: Results;
}

function machines(variant: Variant) {
  const runStep: AnyActorLogic =
    variant === 'agent' ? fromAgent('step') : fromPromise(async ({ input }: { input: StepInput }) => step(input.taskId, input.i, input.results));
  const agent = (name: AgentName): AnyActorLogic =>
    variant === 'agent' ? fromAgent(name) : fromPromise(async ({ input }: { input: { taskId: string } }) => agentFns[name](input.taskId));
  const steps = durableSteps({
    id: 'steps',
    steps: Array.from({ length: STEPS }, (_, k) => ({
      name: stepName(k + 1),
      run: runStep,
      input: (s: { input: Record<string, unknown>; results: Record<string, unknown> }): StepInput => ({
        taskId: String(s.input.taskId),
        i: k + 1,
        results: s.results as Results,
      }),
    })),
  });
  const review = parallelAgents({
    id: 'review',
    // glue:begin C
    agents: { technical: agent('technical'), regulatory: agent('regulatory') },
    detect: { kind: 'fields', fields: [...COMPARED] },
    reconcile: { kind: 'rule', name: 'stricter', reconcile: (outputs) => stricter(outputs) },
    // glue:end C
  });
  return { steps, review };
}

function agents(concurrency: number) {
  return {
    step: { run: ({ input }: { input: StepInput }) => step(input.taskId, input.i, input.results), concurrency },
    technical: { run: ({ input }: { input: { taskId: string } }) => agentFns.technical(input.taskId), concurrency },
    regulatory: { run: ({ input }: { input: { taskId: string } }) => agentFns.regulatory(input.taskId), concurrency },
  };
}

function options(ctx: PeerCtx, prefix: string) {
  const variant: Variant = ctx.peer === 'baton-promise' ? 'promise' : 'agent';
  return {
    connection: ctx.redisUrl,
    prefix,
    owner: `${prefix}-worker`, // a stable identity, as a pod or unit name would be
    machines: machines(variant),
    ...(variant === 'agent' ? { agents: agents(ctx.concurrency) } : {}),
    leaseMs: ctx.failoverMs,
    agentLockMs: ctx.failoverMs,
  };
}

async function finished(rt: Runtime, id: string, timeout: number, seqs?: number[]) {
  const v = await rt.waitFor(id, (view) => view.status !== 'active', { timeout });
  if (v.status !== 'done') throw new Error(`task ${id} ended ${v.status}: ${JSON.stringify(v).slice(0, 400)}`);
  seqs?.push(v.seq);
  return v.output;
}

export function createPeer(ctx: PeerCtx): Peer {
  let rt!: Runtime;
  const variant = ctx.peer === 'baton-promise' ? 'fromPromise' : 'fromAgent';
  const seqs: number[] = []; // commits per workload-A task
  return {
    config:
      `runtime with machines and ${variant === 'fromAgent' ? `agents (concurrency ${ctx.concurrency})` : 'no agents'} in one process; durableSteps of ${STEPS} ${variant} steps; ` +
      `leaseMs = agentLockMs = ${ctx.failoverMs}; stable owner id (a restarted worker takes its tasks back at once); spawn → waitFor(done)`,
    async setup() {
      rt = await createRuntime(options(ctx, ctx.prefix));
    },
    async runTask(id) {
      await rt.spawn('steps', { id, input: { taskId: id } });
      return ((await finished(rt, id, 60_000, seqs)) as StepsOutput).results;
    },
    async runParallel(id) {
      await rt.spawn('review', { id, input: { taskId: id } });
      return finished(rt, id, 60_000);
    },
    teardown: () => rt.close(),
    notes() {
      const sorted = [...seqs].sort((a, b) => a - b);
      const med = sorted[sorted.length >> 1];
      return med === undefined
        ? []
        : [`${med} commits per seven-step task (median of ${seqs.length}; spawn + one per step would be ${STEPS + 1})${med < STEPS + 1 ? ': steps that finish within one tick are committed together, so state is not durable after every step' : ''}`];
    },
  };
}

export function createCrashWorker(ctx: PeerCtx): CrashWorker {
  let rt: Runtime | undefined;
  const prefix = `${ctx.prefix}-crash`;
  return {
    async start(id) {
      rt = await createRuntime(options(ctx, prefix));
      await rt.spawn('steps', { id, input: { taskId: id } });
    },
    async resume(id, ready) {
      rt = await createRuntime(options(ctx, prefix)); // same owner id: takes the dead holder's task back at once
      ready();
      return ((await finished(rt, id, 120_000)) as StepsOutput).results;
    },
    close: async () => rt?.close(),
  };
}
