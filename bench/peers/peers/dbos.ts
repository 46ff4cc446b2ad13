/**
 * DBOS Transact: a registered workflow whose steps are `DBOS.runStep`, each
 * output checkpointed in the system database (PostgreSQL, a database of its
 * own per run) before the workflow goes on. A fresh process recovers its
 * executor's pending workflows at launch, replaying recorded step outputs.
 */
import { DBOS } from '@dbos-inc/dbos-sdk';
import type { CrashWorker, Peer, PeerCtx } from '../lib/peer.js';
import { COMPARED, regulatory, STEPS, step, stepName, stricter, technical, type Results, type Review } from '../lib/work.js';

function register() {
  const chain = DBOS.registerWorkflow(
    async (taskId: string): Promise<Results> => {
      let results: Results = {};
      for (let i = 1; i <= STEPS; i++) {
        const out = await DBOS.runStep(() => step(taskId, i, results), { name: stepName(i) });
        results = { ...results, [stepName(i)]: out };
      }
      return results;
    },
    { name: 'chain' },
  );
  const review = DBOS.registerWorkflow(
    async (id: string) => {
      // glue:begin C
      const [t, r] = await Promise.all([DBOS.runStep(() => technical(id), { name: 'technical' }), DBOS.runStep(() => regulatory(id), { name: 'regulatory' })]);
      const originals: Record<string, Review> = { technical: t, regulatory: r };
      const fields = COMPARED.filter((f) => t[f] !== r[f]);
      const conflict = fields.length ? { fields, summary: fields.map((f) => `${f}: ${t[f]} vs ${r[f]}`).join('; ') } : null;
      return { originals, conflict, reconciled: conflict ? stricter(originals) : originals, decidedBy: conflict ? 'rule:stricter' : 'no-conflict' };
      // glue:end C
    },
    { name: 'review' },
  );
  return { chain, review };
}

function configure(ctx: PeerCtx, who: 'host' | 'crash') {
  if (!ctx.pgUrl) throw new Error('no PostgreSQL database in the context');
  DBOS.setConfig({
    name: `bench-${who}`,
    systemDatabaseUrl: ctx.pgUrl,
    executorID: `bench-${who}`,
    logLevel: 'error',
  });
}

export function createPeer(ctx: PeerCtx): Peer {
  let wf!: ReturnType<typeof register>;
  return {
    config: 'DBOS.registerWorkflow with DBOS.runStep steps; system database on the local PostgreSQL (own database per run); startWorkflow → handle.getResult()',
    async setup() {
      wf = register();
      configure(ctx, 'host');
      await DBOS.launch();
    },
    async runTask(id) {
      const h = await DBOS.startWorkflow(wf.chain, { workflowID: id })(id);
      return h.getResult();
    },
    async runParallel(id) {
      const h = await DBOS.startWorkflow(wf.review, { workflowID: id })(id);
      return h.getResult();
    },
    teardown: () => DBOS.shutdown(),
  };
}

export function createCrashWorker(ctx: PeerCtx): CrashWorker {
  let wf!: ReturnType<typeof register>;
  const launch = async () => {
    wf = register();
    configure(ctx, 'crash');
    await DBOS.launch(); // recovers this executor's pending workflows
  };
  return {
    async start(id) {
      await launch();
      await DBOS.startWorkflow(wf.chain, { workflowID: id })(id);
    },
    async resume(id, ready) {
      await launch();
      ready();
      // The recovered workflow runs in this process; poll its status every 10 ms (default 1 s) so polling adds nothing.
      return DBOS.retrieveWorkflow(id).getResult({ pollingIntervalMs: 10 } as never);
    },
    close: () => DBOS.shutdown(),
  };
}
