/**
 * LangGraph JS: a StateGraph of seven nodes in a line, compiled with the
 * PostgreSQL checkpointer (own database per run) and run with durability
 * 'sync': each superstep's checkpoint is written before the next one starts.
 * A fresh process resumes by invoking the same thread with no input.
 */
import { Annotation, END, START, StateGraph } from '@langchain/langgraph';
import { PostgresSaver } from '@langchain/langgraph-checkpoint-postgres';
import type { CrashWorker, Peer, PeerCtx } from '../lib/peer.js';
import { COMPARED, regulatory, STEPS, step, stepName, stricter, technical, type Results, type Review } from '../lib/work.js';

const ChainState = Annotation.Root({
  taskId: Annotation<string>(),
  results: Annotation<Results>({ reducer: (a, b) => ({ ...a, ...b }), default: () => ({}) }),
});

const ReviewState = Annotation.Root({
  taskId: Annotation<string>(),
  originals: Annotation<Record<string, Review>>({ reducer: (a, b) => ({ ...a, ...b }), default: () => ({}) }),
  record: Annotation<unknown>(),
});

function graphs(checkpointer: PostgresSaver) {
  // Seven nodes in a line; built in a loop, so typed loosely.
  const g = new StateGraph(ChainState) as unknown as {
    addNode(name: string, fn: (s: typeof ChainState.State) => Promise<Partial<typeof ChainState.State>>): unknown;
    addEdge(from: string, to: string): unknown;
    compile(o: { checkpointer: PostgresSaver }): { invoke(input: unknown, config: unknown): Promise<typeof ChainState.State> };
  };
  for (let i = 1; i <= STEPS; i++) g.addNode(stepName(i), async (s) => ({ results: { [stepName(i)]: await step(s.taskId, i, s.results) } }));
  g.addEdge(START, stepName(1));
  for (let i = 1; i < STEPS; i++) g.addEdge(stepName(i), stepName(i + 1));
  g.addEdge(stepName(STEPS), END);
  const chain = g.compile({ checkpointer });

  // glue:begin C
  const review = new StateGraph(ReviewState)
    .addNode('technical', async (s) => ({ originals: { technical: await technical(s.taskId) } }))
    .addNode('regulatory', async (s) => ({ originals: { regulatory: await regulatory(s.taskId) } }))
    .addNode('reconcile', (s) => {
      const { technical: t, regulatory: r } = s.originals as { technical: Review; regulatory: Review };
      const fields = COMPARED.filter((f) => t[f] !== r[f]);
      const conflict = fields.length ? { fields, summary: fields.map((f) => `${f}: ${t[f]} vs ${r[f]}`).join('; ') } : null;
      return { record: { originals: s.originals, conflict, reconciled: conflict ? stricter(s.originals) : s.originals, decidedBy: conflict ? 'rule:stricter' : 'no-conflict' } };
    })
    .addEdge(START, 'technical')
    .addEdge(START, 'regulatory')
    .addEdge(['technical', 'regulatory'], 'reconcile')
    .addEdge('reconcile', END)
    .compile({ checkpointer });
  // glue:end C
  return { chain, review };
}

const config = (id: string) => ({ configurable: { thread_id: id }, durability: 'sync' as const });

export function createPeer(ctx: PeerCtx): Peer {
  let saver!: PostgresSaver;
  let g!: ReturnType<typeof graphs>;
  return {
    config: "StateGraph compiled with PostgresSaver (pg pool defaults; own database per run), invoke(..., { durability: 'sync' })",
    async setup() {
      if (!ctx.pgUrl) throw new Error('no PostgreSQL database in the context');
      saver = PostgresSaver.fromConnString(ctx.pgUrl);
      await saver.setup();
      g = graphs(saver);
    },
    async runTask(id) {
      return (await g.chain.invoke({ taskId: id }, config(id))).results;
    },
    async runParallel(id) {
      return (await g.review.invoke({ taskId: id }, config(id))).record;
    },
    teardown: () => saver.end(),
  };
}

export function createCrashWorker(ctx: PeerCtx): CrashWorker {
  if (!ctx.pgUrl) throw new Error('no PostgreSQL database in the context');
  const saver = PostgresSaver.fromConnString(ctx.pgUrl);
  return {
    async start(id) {
      await saver.setup();
      void graphs(saver).chain.invoke({ taskId: id }, config(`crash-${id}`));
    },
    async resume(id, ready) {
      const g = graphs(saver);
      await saver.setup();
      ready();
      return (await g.chain.invoke(null, config(`crash-${id}`))).results; // no input: go on from the thread's last checkpoint
    },
    close: () => saver.end(),
  };
}
