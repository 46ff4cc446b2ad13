// A scope change (`context.update`) sent to the research task at every point
// where it can land: before planning ends, between sub-tasks, while the last
// sub-task runs, during the review, while the report is written. Whenever it
// lands, the next checkpoint assesses it and its outcome is recorded: absorbed,
// ignored with a reason, or surfaced as a decision whose answer settles it.
// Real Redis, the real research machine and agents; each landing point is held
// open (the agent there waits on a gate) until the update is applied.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type AgentContext, type Runtime, type TaskView, type UpdateRecord } from '../src/index.js';
import { agents } from '../examples/research/agents.js';
import { research, type ResearchInput, type SubResult } from '../examples/research/machine.js';
import type { StepsOutput } from '../src/index.js';
import { redisUrl, uniquePrefix } from './helpers/index.js';

type Output = { scope: string; updates: UpdateRecord[]; decisions: Array<{ choice: string; by: string }>; steps: StepsOutput; report: { title: string } };

/** A gate per (task, point): the agent there reports it is reached and waits until the test opens it. */
class Gates {
  private readonly gates = new Map<string, { reached: () => void; reachedP: Promise<void>; open: () => void; openP: Promise<void> }>();
  readonly runs = new Map<string, number>();
  hold(taskId: string, point: string) {
    let reached!: () => void;
    let open!: () => void;
    const reachedP = new Promise<void>((r) => (reached = r));
    const openP = new Promise<void>((r) => (open = r));
    this.gates.set(`${taskId}/${point}`, { reached, reachedP, open, openP });
    return { reached: reachedP, open };
  }
  async at(taskId: string, point: string) {
    this.runs.set(`${taskId}/${point}`, (this.runs.get(`${taskId}/${point}`) ?? 0) + 1);
    const g = this.gates.get(`${taskId}/${point}`);
    if (!g) return;
    g.reached();
    await g.openP; // held only the first time: opened once, it stays open
  }
  count(taskId: string, point: string) {
    return this.runs.get(`${taskId}/${point}`) ?? 0;
  }
}

const gates = new Gates();
const gated = {
  ...agents,
  plan: async (ctx: AgentContext<{ topic: string; scope: string }>) => (await gates.at(ctx.taskId, 'plan'), agents.plan(ctx)),
  subtask: async (ctx: AgentContext<{ index: number; question: string; scope: string; repair?: boolean }>) => (await gates.at(ctx.taskId, `sub${ctx.input.index + 1}`), agents.subtask(ctx)),
  technical: async (ctx: AgentContext<{ findings: string[]; scope: string }>) => (await gates.at(ctx.taskId, 'technical'), agents.technical(ctx)),
  report: async (ctx: AgentContext<{ topic: string; scope: string; findings: string[]; decision: unknown }>) => (await gates.at(ctx.taskId, 'report'), agents.report(ctx)),
};

const prefix = uniquePrefix('scope-change');
let rt: Runtime;
beforeAll(async () => {
  rt = await createRuntime({ connection: redisUrl(), prefix, machines: { research }, agents: gated });
});
afterAll(async () => {
  await rt?.close();
});

const input: ResearchInput = { topic: 'solid-state batteries', scope: 'global', decisionDeadlineMs: null };
const findings = (out: Output) => Array.from({ length: 7 }, (_, i) => (out.steps.results[`sub${i + 1}`] as SubResult).finding);

/**
 * Spawns a task held at `point`, sends `update` there (applied, so it landed
 * while the point's agent was in flight) and opens the gate. Returns what the
 * view showed when the update landed.
 */
async function landAt(id: string, point: string, update: Record<string, unknown>) {
  const held = gates.hold(id, point);
  await rt.spawn('research', { id, input });
  await held.reached;
  await rt.send(id, { type: 'context.update', update, by: 'ana' }, { wait: 'applied' });
  const landed = (await rt.get(id))!;
  held.open();
  return landed;
}

const answer = (id: string, choice: string) => rt.send(id, { type: 'decision', decision: 'context.update', choice, by: 'ana' }, { wait: 'applied' });
const asked = (id: string) => rt.waitFor(id, (v) => !!v.awaiting || v.status !== 'active', { timeout: 15_000 });
const finished = async (id: string) => (await rt.waitFor(id, (v) => v.status !== 'active', { timeout: 20_000 })) as TaskView & { output: Output };
const subtasksAt = (v: TaskView) => v.children.subtasks?.value;

describe('a scope change is assessed at the next checkpoint, wherever it lands', () => {
  it('before planning ends: assessed at the planning end; absorbed, it plans again and every sub-task uses the new scope', async () => {
    const landed = await landAt('plan-1', 'plan', { scope: 'EU only' });
    expect(landed.value).toBe('planning');
    const q = await asked('plan-1');
    expect(q.awaiting).toMatchObject({ decision: 'context.update', options: ['absorb', 'ignore'], detail: { checkpoint: 'planning end', update: { scope: 'EU only' } } });
    expect(q.awaiting!.deadline).toBeUndefined(); // decisionDeadlineMs: null waits for the person
    await answer('plan-1', 'absorb');
    const v = await finished('plan-1');
    expect(v.status).toBe('done');
    expect(v.output.updates).toMatchObject([
      { update: { scope: 'EU only' }, by: 'ana', outcome: 'absorb', checkpoint: 'planning end', decision: { choice: 'absorb', by: 'ana', source: 'answer' } },
    ]);
    expect(v.output.scope).toBe('EU only');
    expect(findings(v.output).every((f) => f.endsWith('(EU only)'))).toBe(true);
    expect(v.output.report.title).toBe('solid-state batteries (EU only)');
    expect(gates.count('plan-1', 'plan')).toBe(2); // planned again under the new scope
  });

  it('between sub-tasks: assessed before the next one; absorbed, the remaining sub-tasks use it, the done ones are kept', async () => {
    const landed = await landAt('between-1', 'sub3', { scope: 'EU only' });
    expect(subtasksAt(landed)).toEqual({ step_2: 'running' });
    const q = await asked('between-1');
    expect(q.awaiting).toMatchObject({ options: ['absorb', 'redo', 'ignore'], detail: { checkpoint: 'before sub4' } });
    expect(q.awaiting!.question).toContain("with sub-tasks 1-3 done under 'global'");
    await answer('between-1', 'absorb');
    const v = await finished('between-1');
    expect(v.output.updates).toMatchObject([{ outcome: 'absorb', checkpoint: 'before sub4', decision: { choice: 'absorb' } }]);
    expect(v.output.scope).toBe('EU only');
    expect(findings(v.output).map((f) => f.endsWith('(EU only)'))).toEqual([false, false, false, true, true, true, true]);
    expect(v.output.report.title).toBe('solid-state batteries (EU only)');
    expect(gates.count('between-1', 'sub1')).toBe(1);
  });

  it('while the last sub-task runs: assessed after it, before the review; redo runs the sub-tasks again under the new scope', async () => {
    const landed = await landAt('last-1', 'sub7', { scope: 'EU only' });
    expect(subtasksAt(landed)).toEqual({ step_6: 'running' });
    const q = await asked('last-1');
    expect(q.value).toBe('researching'); // the review waits for the answer
    expect(q.awaiting).toMatchObject({ options: ['absorb', 'redo', 'ignore'], detail: { checkpoint: 'after the last step' } });
    await answer('last-1', 'redo');
    const v = await finished('last-1');
    expect(v.output.updates).toMatchObject([
      { outcome: 'absorb', checkpoint: 'after the last step', redo: ['sub1', 'sub2', 'sub3', 'sub4', 'sub5', 'sub6', 'sub7'], decision: { choice: 'redo' } },
    ]);
    expect(v.output.scope).toBe('EU only');
    expect(findings(v.output).every((f) => f.endsWith('(EU only)'))).toBe(true);
    expect(gates.count('last-1', 'sub1')).toBe(2);
    expect(gates.count('last-1', 'sub7')).toBe(2);
  });

  it('during the review: assessed before the report; absorbed, the report uses the new scope', async () => {
    const landed = await landAt('review-1', 'technical', { scope: 'EU only' });
    expect(landed.value).toBe('reviewing');
    const q = await asked('review-1');
    expect(q.value).toEqual({ reviewed: 'awaiting' });
    expect(q.awaiting).toMatchObject({ options: ['absorb', 'redo', 'ignore'], detail: { checkpoint: 'before the report' } });
    await answer('review-1', 'absorb');
    const v = await finished('review-1');
    expect(v.output.updates).toMatchObject([{ outcome: 'absorb', checkpoint: 'before the report', decision: { choice: 'absorb', by: 'ana' } }]);
    expect(v.output.scope).toBe('EU only');
    expect(v.output.report.title).toBe('solid-state batteries (EU only)');
  });

  it('while the report is written: assessed before the task ends; absorbed, the report is written again under it', async () => {
    const landed = await landAt('report-1', 'report', { scope: 'EU only' });
    expect(landed.value).toBe('reporting');
    const q = await asked('report-1');
    expect(q.awaiting).toMatchObject({ detail: { checkpoint: 'before the end' } });
    await answer('report-1', 'absorb');
    const v = await finished('report-1');
    expect(v.output.updates).toMatchObject([{ outcome: 'absorb', checkpoint: 'before the end' }]);
    expect(v.output.scope).toBe('EU only');
    expect(v.output.report.title).toBe('solid-state batteries (EU only)');
    expect(gates.count('report-1', 'report')).toBe(2);
  });

  it('answered ignore: recorded with the reason, the old scope stays', async () => {
    await landAt('ignore-1', 'technical', { scope: 'EU only' });
    await asked('ignore-1');
    await answer('ignore-1', 'ignore');
    const v = await finished('ignore-1');
    expect(v.output.updates).toMatchObject([{ outcome: 'ignore', reason: "answered 'ignore': the scope stays 'global'", checkpoint: 'before the report', decision: { choice: 'ignore' } }]);
    expect(v.output.scope).toBe('global');
    expect(v.output.report.title).toBe('solid-state batteries (global)');
  });

  it('no new scope: ignored with a reason at the checkpoint, without asking anyone', async () => {
    await landAt('same-1', 'plan', { scope: 'global' });
    const v = await finished('same-1');
    expect(v.output.updates).toMatchObject([{ update: { scope: 'global' }, outcome: 'ignore', reason: "'global' is already the scope", checkpoint: 'planning end' }]);
    expect(v.output.decisions).toEqual([]);
    const w = await (async () => (await landAt('noscope-1', 'report', { note: 'look at sodium too' }), finished('noscope-1')))();
    expect(w.output.updates).toMatchObject([{ outcome: 'ignore', reason: expect.stringContaining('names no scope'), checkpoint: 'before the end' }]);
    expect((await rt.history('same-1')).some((h) => h.event.type === 'decision')).toBe(false);
  });
});
