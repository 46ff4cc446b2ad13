/**
 * Restate: each step is a `ctx.run` journaled by restate-server (started by
 * the orchestrator on loopback, own data folder). A handler invocation is one
 * task; the caller invokes it through the ingress and gets the result back.
 * Workload B: the service endpoint runs in the crash child; restate-server
 * retries the invocation on the fresh endpoint (same URI) and replays the
 * journal, so finished steps are not re-run.
 */
import '../lib/polyfill.js'; // before the SDK: Promise.withResolvers on Node 20
import * as restate from '@restatedev/restate-sdk';
import type { CrashWorker, Peer, PeerCtx } from '../lib/peer.js';
import { freePort } from '../lib/infra.js';
import { COMPARED, regulatory, STEPS, step, stepName, stricter, technical, type Results, type Review } from '../lib/work.js';

const A_SERVICE = 'benchChain';
/** The SDK logs every invocation at INFO on the console; keep warnings and errors only. */
const quiet = (meta: { level: string }, message: unknown, ...rest: unknown[]) => {
  if (meta.level === 'warn' || meta.level === 'error') console.error(`[restate-sdk ${meta.level}]`, message, ...rest);
};
const B_SERVICE = 'benchChainCrash';

function service(name: string) {
  return restate.service({
    name,
    handlers: {
      run: async (ctx: restate.Context, req: { taskId: string }): Promise<Results> => {
        let results: Results = {};
        for (let i = 1; i <= STEPS; i++) {
          const out = await ctx.run(stepName(i), () => step(req.taskId, i, results));
          results = { ...results, [stepName(i)]: out };
        }
        return results;
      },
      review: async (ctx: restate.Context, req: { taskId: string }) => {
        const id = req.taskId;
        // glue:begin C
        const [t, r] = await restate.RestatePromise.all([ctx.run('technical', () => technical(id)), ctx.run('regulatory', () => regulatory(id))]);
        const originals: Record<string, Review> = { technical: t, regulatory: r };
        const fields = COMPARED.filter((f) => t[f] !== r[f]);
        const conflict = fields.length ? { fields, summary: fields.map((f) => `${f}: ${t[f]} vs ${r[f]}`).join('; ') } : null;
        return { originals, conflict, reconciled: conflict ? stricter(originals) : originals, decidedBy: conflict ? 'rule:stricter' : 'no-conflict' };
        // glue:end C
      },
    },
  });
}

async function register(admin: string, port: number): Promise<void> {
  const res = await fetch(`${admin}/deployments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ uri: `http://127.0.0.1:${port}`, force: true }),
  });
  if (!res.ok) throw new Error(`registering the deployment at :${port} failed: ${res.status} ${await res.text()}`);
}

async function call(ingress: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  const res = await fetch(`${ingress}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${text.slice(0, 500)}`);
  return text ? JSON.parse(text) : undefined;
}

export function createPeer(ctx: PeerCtx): Peer {
  const rs = ctx.restate;
  if (!rs) throw new Error('no Restate server in the context');
  return {
    config: 'restate-server defaults (own data folder, telemetry off); service handler, each step a ctx.run; invoked through the HTTP ingress',
    async setup() {
      const port = await restate.serve({ services: [service(A_SERVICE)], port: await freePort(), logger: quiet } as never);
      await register(rs.admin, port);
    },
    runTask: (id) => call(rs.ingress, `${A_SERVICE}/run`, { taskId: id }),
    runParallel: (id) => call(rs.ingress, `${A_SERVICE}/review`, { taskId: id }),
    async teardown() {
      // The server (and its data folder) is stopped by the orchestrator; the endpoint dies with this process.
    },
  };
}

export function createCrashWorker(ctx: PeerCtx): CrashWorker {
  const rs = ctx.restate;
  if (!rs) throw new Error('no Restate server in the context');
  const serve = () => restate.serve({ services: [service(B_SERVICE)], port: rs.crashPort, logger: quiet } as never);
  return {
    async start(id) {
      await serve();
      await register(rs.admin, rs.crashPort);
      await call(rs.ingress, `${B_SERVICE}/run/send`, { taskId: id }, { 'idempotency-key': id });
    },
    async resume(id, ready) {
      await serve();
      ready();
      // Same idempotency key: attaches to the invocation started by the killed process and returns its result.
      return call(rs.ingress, `${B_SERVICE}/run`, { taskId: id }, { 'idempotency-key': id });
    },
    async close() {},
  };
}
