// Diagnostics for a failed run, read from the run's Redis before it is
// stopped: for each task that did not finish, where it stands and where its
// pending agent job is in BullMQ (missing, waiting, active, completed, …).
import { snapshotOfHash } from '../helpers/stored.js';
import { rawConnection, type CheckConnection, type CheckReport } from './checker.js';

export async function postMortem(connection: CheckConnection, prefix: string, report: CheckReport, max = 10): Promise<string[]> {
  const redis = rawConnection(connection, 3);
  const out: string[] = [];
  try {
    const stuck = [...new Set(report.violations.filter((v) => v.startsWith('not-final')).map((v) => v.split(':')[1]!.trim()))].slice(0, max);
    const q = `{${prefix}}:agent-chaosStep`;
    for (const id of stuck) {
      const state = await redis.hgetall(`${prefix}:task:{${id}}:state`);
      let snap: { value?: unknown; children?: Record<string, { snapshot?: { jobId?: string; status?: string } }> };
      try {
        snap = (snapshotOfHash(state) ?? {}) as typeof snap;
      } catch (err) {
        snap = { value: `(unreadable snapshot: ${(err as Error).message})` };
      }
      const lease = await redis.get(`${prefix}:task:{${id}}:lease`);
      const mailbox = await redis.xlen(`${prefix}:task:{${id}}:mailbox`);
      const due = await redis.zscore(`${prefix}:due`, id);
      const parts = [`${id}: status ${state.status} value ${JSON.stringify(snap.value)} seq ${state.seq} cursor ${state.cursor} last ${state.last} lease ${lease ?? '-'} mailbox ${mailbox} due ${due ?? '-'}`];
      for (const [cid, c] of Object.entries(snap.children ?? {})) {
        const jobId = c.snapshot?.jobId;
        if (!jobId) continue;
        const job = await redis.hgetall(`${q}:${jobId}`);
        const where: string[] = [];
        for (const list of ['wait', 'active', 'paused']) {
          if ((await redis.lpos(`${q}:${list}`, jobId)) !== null) where.push(list);
        }
        for (const set of ['completed', 'failed', 'delayed', 'prioritized', 'waiting-children']) {
          if ((await redis.zscore(`${q}:${set}`, jobId)) !== null) where.push(set);
        }
        const lock = await redis.get(`${q}:${jobId}:lock`);
        parts.push(
          `  child ${cid} (${c.snapshot?.status}) job ${jobId}: ${Object.keys(job).length ? `exists, attemptsMade ${job.attemptsMade}, stalled ${job.stc ?? 0}, finishedOn ${job.finishedOn ?? '-'}, failedReason ${job.failedReason ?? '-'}` : 'NO JOB HASH'}; in [${where.join(', ') || 'nowhere'}]; lock ${lock ?? '-'}`,
        );
        const results = await redis.xrange(`${prefix}:task:{${id}}:mailbox`, '-', '+');
        parts.push(`  mailbox: ${results.length} entries, last: ${results.slice(-2).map(([eid, f]) => `${eid} ${f[1]?.slice(0, 80)}`).join(' | ') || 'none'}`);
      }
      const waitLen = await redis.llen(`${q}:wait`);
      const activeLen = await redis.llen(`${q}:active`);
      parts.push(`  queue: wait ${waitLen}, active ${activeLen}, marker ${await redis.exists(`${q}:marker`)}, workers ${String(await redis.client('LIST')).split('\n').filter((l) => l.includes('bzpopmin') || l.includes('blmove')).length} blocked`);
      out.push(parts.join('\n'));
    }
  } finally {
    redis.disconnect();
  }
  return out;
}
