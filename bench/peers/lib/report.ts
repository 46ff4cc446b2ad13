/** Summaries, the printed table, latest.md and latest.json. */
import { readFileSync } from 'node:fs';
import type { CrashResult } from '../host.js';
import { median, percentile, round } from './stats.js';
import { STEPS } from './work.js';

export interface PeerResult {
  name: string;
  label: string;
  baton: boolean;
  durable: boolean;
  versions: Record<string, string>;
  config?: string;
  status: 'ok' | 'partial' | 'unavailable';
  notes?: string[];
  unavailable?: string;
  errors: Array<{ workload: string; round: number; message: string }>;
  A: { single: number[]; batches: Array<{ tasks: number; elapsedMs: number; p50: number }> };
  B: { trials: CrashResult[] };
  C: { samples: number[]; glueLines: number | null };
}

export interface RunResults {
  runId: string;
  date: string;
  durationS: number;
  measuredS: number;
  machine: {
    nproc: number;
    cpu: string;
    memoryGiB: number;
    node: string;
    platform: string;
    load: { beforeWait: number[]; afterWait: number[]; waitedS: number; atStart: number[]; atEnd: number[]; maxLoad: number };
  };
  infra: { redis: Record<string, string>; postgres?: Record<string, string>; restateServer?: { version: string; releaseCheck: string } };
  config: Record<string, number | string>;
  peers: Record<string, PeerResult>;
}

/**
 * Lines of glue in a harness: non-blank, non-comment lines between
 * `// glue:begin C` and `// glue:end C` (the compare/reconcile part of workload C).
 */
export function countGlue(file: string, _peer: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  let n = 0;
  let inside = false;
  let found = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('// glue:begin C')) {
      inside = true;
      found = true;
      continue;
    }
    if (line.startsWith('// glue:end C')) {
      inside = false;
      continue;
    }
    if (inside && line && !line.startsWith('//') && !line.startsWith('*') && !line.startsWith('/*')) n++;
  }
  return found ? n : null;
}

export interface Summary {
  aP50: number;
  aP90: number;
  aRuns: number;
  tasksPerS: number;
  stepsPerS: number;
  batchRuns: number;
  bTrials: number;
  bRerunEarly: number;
  bStep4Runs: string;
  bRestartP50: number;
  bBootP50: number;
  bReadyP50: number;
  cP50: number;
  cP90: number;
  cRuns: number;
  glue: number | null;
}

export function summarise(p: PeerResult): Summary {
  const rates = p.A.batches.map((b) => (b.tasks * 1000) / b.elapsedMs);
  const t = p.B.trials;
  const step4 = [...new Set(t.map((x) => x.counts[3]))].sort().join('/');
  return {
    aP50: median(p.A.single),
    aP90: percentile(p.A.single, 90),
    aRuns: p.A.single.length,
    tasksPerS: median(rates),
    stepsPerS: median(rates) * STEPS,
    batchRuns: rates.length,
    bTrials: t.length,
    bRerunEarly: t.filter((x) => x.rerunEarly).length,
    bStep4Runs: step4 || '-',
    bRestartP50: median(t.map((x) => x.restartToDoneMs)),
    bBootP50: median(t.map((x) => x.bootMs)),
    bReadyP50: median(t.map((x) => x.readyToDoneMs)),
    cP50: median(p.C.samples),
    cP90: percentile(p.C.samples, 90),
    cRuns: p.C.samples.length,
    glue: p.C.glueLines,
  };
}

const ms = (v: number) => (Number.isFinite(v) ? (v < 10 ? `${v.toFixed(2)} ms` : v < 1000 ? `${v.toFixed(1)} ms` : `${(v / 1000).toFixed(2)} s`) : '-');
const rate = (v: number) => (Number.isFinite(v) ? (v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US')) : '-');
const factor = (v: number) => (Number.isFinite(v) && v > 0 ? `${v >= 10 ? v.toFixed(0) : v.toFixed(2)}×` : '-');

function table(header: string[], rows: string[][], markdown: boolean, numeric = true): string {
  if (markdown) {
    const esc = (s: string) => s.replace(/\|/g, '\\|');
    return [
      `| ${header.map(esc).join(' | ')} |`,
      `| ${header.map((_, i) => (i === 0 || !numeric ? '---' : '---:')).join(' | ')} |`,
      ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
    ].join('\n');
  }
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(header), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(line)].join('\n');
}

const PRODUCTS = ['dbos', 'restate', 'langgraph'];

export function render(run: RunResults): { table: string; markdown: string; json: unknown } {
  const peers = Object.values(run.peers);
  const ok = peers.filter((p) => p.status !== 'unavailable');
  const sum = new Map(ok.map((p) => [p.name, summarise(p)]));
  const baton = sum.get('baton');
  const c = run.config;

  const mainHeader = [
    'peer',
    'A: 1 task p50',
    'A: p90',
    `A: ${c.batchTasks} @ ${c.concurrency} tasks/s`,
    'steps/s',
    'B: steps 1-3 re-ran',
    'B: step 4 runs',
    'B: restart → done',
    '(boot + recovery)',
    'C: p50',
    'C: glue lines',
  ];
  const mainRows = ok.map((p) => {
    const s = sum.get(p.name)!;
    return [
      p.label,
      ms(s.aP50),
      ms(s.aP90),
      rate(s.tasksPerS),
      rate(s.stepsPerS),
      s.bTrials ? `${s.bRerunEarly ? 'YES' : 'no'} (${s.bRerunEarly}/${s.bTrials})` : '-',
      s.bStep4Runs,
      ms(s.bRestartP50),
      s.bTrials ? `${ms(s.bBootP50)} + ${ms(s.bReadyP50)}` : '-',
      ms(s.cP50),
      s.glue === null ? '-' : String(s.glue),
    ];
  });

  const advHeader = ['peer', 'A: 1 task', 'A: tasks/s', 'B: restart → done', 'B: recovery only', 'C: p50'];
  const advRows = baton
    ? ok
        .filter((p) => p.name !== 'baton')
        .map((p) => {
          const s = sum.get(p.name)!;
          return [
            p.label,
            factor(s.aP50 / baton.aP50),
            factor(baton.tasksPerS / s.tasksPerS),
            factor(s.bRestartP50 / baton.bRestartP50),
            factor(s.bReadyP50 / baton.bReadyP50),
            factor(s.cP50 / baton.cP50),
          ];
        })
    : [];

  // Aims of issue 7.
  const aims: string[] = [];
  if (baton) {
    const durable = PRODUCTS.map((n) => [n, sum.get(n)] as const).filter(([, s]) => s && Number.isFinite(s.aP50));
    if (durable.length) {
      const bestA = durable.reduce((a, b) => (b[1]!.aP50 < a[1]!.aP50 ? b : a));
      const bestT = durable.reduce((a, b) => (b[1]!.tasksPerS > a[1]!.tasksPerS ? b : a));
      const fA = bestA[1]!.aP50 / baton.aP50;
      const fT = baton.tasksPerS / bestT[1]!.tasksPerS;
      aims.push(`A, one task: Baton ${ms(baton.aP50)} vs fastest durable peer ${bestA[0]} ${ms(bestA[1]!.aP50)}: ${factor(fA)} (aim ≥ 2×: ${fA >= 2 ? 'met' : 'NOT met'})`);
      aims.push(`A, ${c.batchTasks} tasks @ ${c.concurrency}: Baton ${rate(baton.tasksPerS)} tasks/s vs fastest durable peer ${bestT[0]} ${rate(bestT[1]!.tasksPerS)}: ${factor(fT)} (aim ≥ 2×: ${fT >= 2 ? 'met' : 'NOT met'})`);
      const withB = durable.filter(([, s]) => Number.isFinite(s!.bRestartP50));
      if (withB.length && Number.isFinite(baton.bRestartP50)) {
        const bestB = withB.reduce((a, b) => (b[1]!.bRestartP50 < a[1]!.bRestartP50 ? b : a));
        const fB = bestB[1]!.bRestartP50 / baton.bRestartP50;
        aims.push(`B, restart → done: Baton ${ms(baton.bRestartP50)} vs fastest durable peer ${bestB[0]} ${ms(bestB[1]!.bRestartP50)}: ${factor(fB)} (aim ≥ 2×: ${fB >= 2 ? 'met' : 'NOT met'}); Baton re-ran steps 1-3 in ${baton.bRerunEarly}/${baton.bTrials} trials`);
      }
    }
    const chain = sum.get('bullmq');
    if (chain && Number.isFinite(chain.aP50)) {
      const r1 = baton.aP50 / chain.aP50;
      const r2 = chain.tasksPerS / baton.tasksPerS;
      aims.push(`A vs the hand-rolled BullMQ chain: one task ${factor(r1)} its time, ${factor(r2)} fewer tasks/s (aim within 1.5×: ${r1 <= 1.5 && r2 <= 1.5 ? 'met' : 'NOT met'})`);
    }
  }

  const m = run.machine;
  const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ');
  const versionRows = peers.map((p) => [p.label, Object.entries(p.versions).map(([k, v]) => `${k} ${v}`).join(', ')]);
  const r = run.infra;
  const stores = [
    `Redis ${r.redis.version} (appendonly ${r.redis.appendonly}, appendfsync ${r.redis.appendfsync}, save ${r.redis.save})`,
    ...(r.postgres ? [`PostgreSQL ${r.postgres.version} (fsync ${r.postgres.fsync}, synchronous_commit ${r.postgres.synchronous_commit})`] : []),
    ...(r.restateServer ? [`restate-server ${r.restateServer.version} (${r.restateServer.releaseCheck})`] : []),
  ];
  const notes: string[] = [];
  for (const p of peers) {
    if (p.status === 'unavailable') notes.push(`**${p.label} could not run here**: ${p.unavailable?.split('\n').slice(0, 3).join(' ')}`);
    for (const e of p.errors) notes.push(`${p.label}: workload ${e.workload} failed in round ${e.round + 1}: ${e.message.split('\n')[0]}`);
  }

  const configLines = ok.filter((p) => p.config).map((p) => `- ${p.label}: ${p.config}${p.notes?.length ? `. Observed: ${p.notes.join('; ')}` : ''}`);
  const text = [
    `Peer benchmark ${run.date} (run ${run.runId}), ${m.nproc} CPUs (${m.cpu}), ${m.memoryGiB} GiB, node ${m.node}`,
    `load (1/5/15 min): before ${la(m.load.beforeWait)}, at start ${la(m.load.atStart)}, at end ${la(m.load.atEnd)}`,
    '',
    table(mainHeader, mainRows, false),
    '',
    'Baton (fromAgent) faster by (peer ÷ Baton for times, Baton ÷ peer for rates; < 1× = Baton slower):',
    table(advHeader, advRows, false),
    '',
    ...aims,
    ...(notes.length ? ['', ...notes.map((n) => n.replace(/\*\*/g, ''))] : []),
  ].join('\n');

  const md = [
    '# Baton and its peers',
    '',
    `Measured by \`npm run bench:peers\` (bench/peers) on ${run.date} (run \`${run.runId}\`, ${run.durationS} s in all, ${run.measuredS} s of rounds).`,
    '',
    `**Machine:** ${m.nproc} CPUs (${m.cpu}), ${m.memoryGiB} GiB memory, node ${m.node}, ${m.platform}.  `,
    `**Load average (1/5/15 min):** ${la(m.load.beforeWait)} before the run, ${la(m.load.atStart)} when measuring began${m.load.waitedS ? ` (after waiting ${m.load.waitedS} s in all, before setting up and again after the warm-up, for the 1-minute load to fall below ${m.load.maxLoad})` : ''}, ${la(m.load.atEnd)} at the end.  `,
    `**Stores:** ${stores.join('; ')}.  `,
    `**Runs:** ${c.rounds} rounds, peers in rotating order; A: ${c.singleRuns} single tasks and ${c.rounds} batches of ${c.batchTasks} tasks at concurrency ${c.concurrency}; B: ${c.crashTrials} crash trials; C: ${c.parallelRuns} runs; warm-up per peer: ${c.warmup} single tasks, ${c.warmup} of workload C and one batch; failover timeout ${c.failoverMs} ms where a peer's default is ≥ 5 s.`,
    '',
    '## Versions',
    '',
    table(['peer', 'packages'], versionRows, true, false),
    '',
    '## Results',
    '',
    table(mainHeader, mainRows, true),
    '',
    '- A: seven sequential steps, each an async function returning ~200 bytes of JSON, state durable after every step; one task end to end (start → result in the caller), and a batch of tasks at the given concurrency.',
    '- B: the worker process is SIGKILLed during step 4; a fresh process resumes. Step executions are counted in a file the peer does not know about. "restart → done" runs from spawning the fresh process to the task being complete; it splits into boot (process start, imports, connections, until the worker is ready) and recovery.',
    ...(r.redis.appendonly === 'no'
      ? [
          `- Durability differs by store: the Redis-backed rows (Baton, BullMQ chain, floor) commit to a Redis without an append-only file (as \`npm run bench:peers\` starts it; PEERS_REDIS_APPENDFSYNC=everysec|always turns the AOF on), so a commit survives a process crash, not a Redis crash; PostgreSQL${r.postgres ? ` (fsync ${r.postgres.fsync}, synchronous_commit ${r.postgres.synchronous_commit})` : ''} flushes every commit to disk; restate-server runs with its defaults.`,
        ]
      : [`- Redis runs with the append-only file on (appendfsync ${r.redis.appendfsync}) for this run.`]),
    '- C: two agents in parallel whose outputs disagree; compared on `verdict` and `risk`, reconciled by the same rule (the stricter review stands), with both originals, the conflict and who decided kept. Glue = non-blank, non-comment lines between `// glue:begin C` and `// glue:end C` in each harness (bench/peers/peers/*.ts).',
    '',
    '## Baton (fromAgent) relative to each peer',
    '',
    'Peer ÷ Baton for times, Baton ÷ peer for rates: above 1× Baton is faster, below 1× it is slower.',
    '',
    table(advHeader, advRows, true),
    '',
    ...(aims.length ? ['## Aims', '', ...aims.map((a) => `- ${a}`), ''] : []),
    '## How each peer is configured',
    '',
    ...configLines,
    '',
    ...(notes.length ? ['## Peers or workloads that could not run', '', ...notes.map((n) => `- ${n}`), ''] : []),
  ].join('\n');

  const json = {
    ...run,
    summary: Object.fromEntries(
      [...sum.entries()].map(([k, s]) => [k, Object.fromEntries(Object.entries(s).map(([kk, v]) => [kk, typeof v === 'number' ? round(v, 3) : v]))]),
    ),
    aims,
  };
  return { table: text, markdown: `${md}\n`, json };
}
