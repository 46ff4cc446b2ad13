/**
 * The floor: no orchestration at all. Each step is awaited, then the task's
 * state is written with one awaited Redis SET. A fresh process resumes by
 * reading that state back (one GET): the least any durable runner must do.
 */
import { Redis } from 'ioredis';
import type { CrashWorker, Peer, PeerCtx } from '../lib/peer.js';
import { agentFns, COMPARED, STEPS, step, stepName, stricter, type AgentName, type Results, type Review } from '../lib/work.js';

async function runFrom(redis: Redis, key: string, taskId: string): Promise<Results> {
  const saved = await redis.get(key);
  const state = saved ? (JSON.parse(saved) as { step: number; results: Results }) : { step: 0, results: {} };
  for (let i = state.step + 1; i <= STEPS; i++) {
    state.results = { ...state.results, [stepName(i)]: await step(taskId, i, state.results) };
    state.step = i;
    await redis.set(key, JSON.stringify(state));
  }
  return state.results;
}

export function createPeer(ctx: PeerCtx): Peer {
  let redis!: Redis;
  const key = (id: string) => `${ctx.prefix}:floor:${id}`;
  return {
    config: 'ioredis (no auto-pipelining); one awaited SET of the task state after each step; resume = one GET',
    async setup() {
      redis = new Redis(ctx.redisUrl, { maxRetriesPerRequest: 2 });
      await redis.ping();
    },
    runTask: (id) => runFrom(redis, key(id), id),
    async runParallel(id) {
      const k = key(id);
      // glue:begin C
      const run = async (name: AgentName) => {
        const out = await agentFns[name](id);
        await redis.set(`${k}:${name}`, JSON.stringify(out));
        return out;
      };
      const [t, r] = await Promise.all([run('technical'), run('regulatory')]);
      const originals: Record<string, Review> = { technical: t, regulatory: r };
      const fields = COMPARED.filter((f) => t[f] !== r[f]);
      const conflict = fields.length ? { fields, summary: fields.map((f) => `${f}: ${t[f]} vs ${r[f]}`).join('; ') } : null;
      const record = { originals, conflict, reconciled: conflict ? stricter(originals) : originals, decidedBy: conflict ? 'rule:stricter' : 'no-conflict' };
      await redis.set(`${k}:record`, JSON.stringify(record));
      // glue:end C
      return record;
    },
    async teardown() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

export function createCrashWorker(ctx: PeerCtx): CrashWorker {
  const redis = new Redis(ctx.redisUrl, { maxRetriesPerRequest: 2 });
  const key = (id: string) => `${ctx.prefix}-crash:floor:${id}`;
  return {
    async start(id) {
      void runFrom(redis, key(id), id);
    },
    async resume(id, ready) {
      await redis.ping();
      ready();
      return runFrom(redis, key(id), id);
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
