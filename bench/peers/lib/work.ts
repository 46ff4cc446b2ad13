/**
 * The work every peer runs, identical for all of them: the seven steps of
 * workload A/B, the two agents of workload C, and the reconciliation rule.
 * Business logic only; how each peer makes it durable is in peers/*.ts.
 */

export const STEPS = 7;

/** What one step returns: about 200 bytes of JSON, deterministic (replays see the same). */
export interface StepOutput {
  step: number;
  task: string;
  summary: string;
  findings: string[];
  score: number;
}

/** The results of a task so far, by step name (`s1` … `s7`). */
export type Results = Record<string, StepOutput>;

/**
 * Called at the start of every step. Unset in the benchmark hosts (no extra
 * I/O); the crash children (workload B) set it to count executions in Redis
 * and to stop dead at the crash point.
 */
export type StepHook = (taskId: string, step: number) => Promise<void>;
let hook: StepHook | undefined;
export function setStepHook(h: StepHook | undefined): void {
  hook = h;
}

/** Step `i` (1-based) of task `taskId`: an async function returning ~200 bytes of JSON. */
export async function step(taskId: string, i: number, _results: Results | undefined): Promise<StepOutput> {
  if (hook) await hook(taskId, i);
  return {
    step: i,
    task: taskId.slice(-24),
    summary: `step ${i} of ${STEPS}: sources read, claims extracted and checked`,
    findings: [`finding-${i}-a: consistent`, `finding-${i}-b: needs a citation`, `finding-${i}-c: ok`],
    score: 0.5 + i / 20,
  };
}

/** Key of step i's result. */
export const stepName = (i: number): string => `s${i}`;

/** True when `r` holds the seven results of task `taskId` (every harness checks what it got). */
export function checkResults(taskId: string, r: unknown): void {
  const res = r as Results | undefined;
  for (let i = 1; i <= STEPS; i++) {
    const s = res?.[stepName(i)];
    if (!s || s.step !== i || s.task !== taskId.slice(-24)) {
      throw new Error(`task ${taskId}: result of step ${i} missing or wrong (${JSON.stringify(s)?.slice(0, 120)})`);
    }
  }
}

// ---------------------------------------------------------------- workload C

/** What each reviewing agent returns (~200 bytes of JSON). */
export interface Review {
  agent: string;
  verdict: 'approve' | 'revise' | 'reject';
  risk: 'low' | 'medium' | 'high';
  notes: string;
}

export const AGENTS = ['technical', 'regulatory'] as const;
export type AgentName = (typeof AGENTS)[number];

/** The two agents: they disagree on `verdict` and `risk`, every time. */
export async function technical(taskId: string): Promise<Review> {
  return {
    agent: 'technical',
    verdict: 'approve',
    risk: 'low',
    notes: `design of ${taskId.slice(-16)} holds: load paths verified, failure modes covered, two minor nits on naming`,
  };
}

export async function regulatory(taskId: string): Promise<Review> {
  return {
    agent: 'regulatory',
    verdict: 'revise',
    risk: 'medium',
    notes: `${taskId.slice(-16)}: data retention clause conflicts with the EU rule; consent wording must be revised`,
  };
}

export const agentFns: Record<AgentName, (taskId: string) => Promise<Review>> = { technical, regulatory };

/** Fields compared between the two reviews. */
export const COMPARED = ['verdict', 'risk'] as const;

const STRICTNESS = { approve: 0, revise: 1, reject: 2 } as const;

/**
 * The reconciliation rule (business logic, shared by every peer and not
 * counted as glue): the stricter review stands.
 */
export function stricter(outputs: Record<string, unknown>): { verdict: string; risk: string; basis: string } {
  const reviews = Object.values(outputs) as Review[];
  const pick = reviews.reduce((a, b) => (STRICTNESS[b.verdict] > STRICTNESS[a.verdict] ? b : a));
  return { verdict: pick.verdict, risk: pick.risk, basis: pick.agent };
}

/** What workload C must produce, whatever the peer. */
export interface ParallelRecord {
  originals: Record<string, unknown>;
  conflict: { fields: string[]; [k: string]: unknown } | null;
  reconciled: unknown;
  decidedBy: string;
}

/** Every harness's result of workload C is checked the same way. */
export function checkParallel(taskId: string, r: unknown): void {
  const rec = r as ParallelRecord | undefined;
  const ok =
    !!rec &&
    (rec.originals?.technical as Review | undefined)?.verdict === 'approve' &&
    (rec.originals?.regulatory as Review | undefined)?.verdict === 'revise' &&
    !!rec.conflict &&
    rec.conflict.fields.includes('verdict') &&
    (rec.reconciled as { verdict?: string } | undefined)?.verdict === 'revise' &&
    typeof rec.decidedBy === 'string';
  if (!ok) throw new Error(`task ${taskId}: workload C record is wrong: ${JSON.stringify(r)?.slice(0, 300)}`);
}
