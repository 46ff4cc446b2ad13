// What `baton show` and `baton history` print for people: a short summary of a
// task (nested state as a dotted path, children, timers, the open decision,
// refused events, last commits) and a history that names states, refusals and
// agent jobs readably. The command runs as users run it (bin/baton.mjs in a
// child process, against the test Redis); a runtime in this process runs the tasks.
import { assign, setup } from 'xstate';
import { z } from 'zod';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  defineTask,
  fromAgent,
  UnrecoverableError,
  type AgentContext,
  type BatonClient,
  type HistoryEntry,
  type Runtime,
  type TaskView,
} from '../src/index.js';
import { describeEvent } from '../src/cli/events.js';
import { stateLabel, setColor } from '../src/cli/format.js';
import { agentNamer, describeJob, parseJobId } from '../src/cli/jobs.js';
import { renderDetail } from '../src/cli/render.js';
import type { TaskDetail } from '../src/cli/task-detail.js';
import { batonJson as json, batonLines } from './helpers/baton-cli.ts';
import { uniquePrefix } from './helpers/index.ts';
import { useBaton } from './helpers/setup.ts';

// --- the machine: researching.step_3.running invokes the agent `research` (child `step_3`)
// with a 10-minute timeout, while the context asks a person a question. ---

type StudyCtx = {
  topic: string;
  notes: string[];
  findings?: unknown;
  awaiting?: { decision: string; question: string; options: string[]; since: number };
};

const study = setup({
  types: {
    context: {} as StudyCtx,
    input: {} as { topic: string },
    events: {} as { type: 'note'; text: string },
  },
  actors: { research: fromAgent('research', { attempts: 1 }) },
}).createMachine({
  id: 'study',
  context: ({ input }) => ({
    topic: input.topic,
    notes: [],
    awaiting: { decision: 'scope', question: 'Widen the scope to solid-state cells?', options: ['yes', 'no'], since: Date.now() },
  }),
  initial: 'researching',
  states: {
    researching: {
      on: { note: { actions: assign({ notes: ({ context, event }) => [...context.notes, event.text] }) } },
      initial: 'step_3',
      states: {
        step_3: {
          initial: 'running',
          states: {
            running: {
              invoke: {
                id: 'step_3',
                src: 'research',
                input: ({ context }: { context: StudyCtx }) => ({ topic: context.topic }),
                onDone: { target: 'reviewed', actions: assign({ findings: ({ event }) => event.output }) },
                onError: 'failed',
              },
              after: { 600_000: 'timedOut' },
            },
            reviewed: {},
            failed: {},
            timedOut: {},
          },
        },
      },
    },
  },
});

const machines = {
  study: defineTask(study, {
    // Refinements: JSON Schema cannot say them, so a client without the machine lets them through and the task's process refuses.
    input: z.object({ topic: z.string() }).refine((i) => i.topic !== 'forbidden', 'topic is off limits'),
    events: { note: z.object({ type: z.literal('note'), text: z.string().refine((t) => t.trim().length > 0, 'text must not be blank') }) },
  }),
};

/** Per topic, a gate the test opens when the agent may return (it waits for it, or for its abort). */
const gates = new Map<string, { promise: Promise<void>; open: () => void }>();
function gate(topic: string) {
  let g = gates.get(topic);
  if (!g) {
    let open!: () => void;
    const promise = new Promise<void>((r) => (open = r));
    g = { promise, open };
    gates.set(topic, g);
  }
  return g;
}

const agents = {
  research: async ({ input, signal }: AgentContext<{ topic: string }>) => {
    if (input.topic === 'fail') throw new UnrecoverableError(`no sources on ${input.topic}`);
    await Promise.race([gate(input.topic).promise, new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }))]);
    return { findings: [`${input.topic} age`] };
  },
};

const prefix = uniquePrefix('cli-output');
const baton = useBaton({ close: 'all' });
let runtime: Runtime;
/** A client without the machines, like the CLI: it checks what the registry's JSON Schemas say, and no more. */
let blind: BatonClient;

beforeAll(async () => {
  runtime = await baton.runtime(prefix, { machines, agents });
  blind = baton.client(prefix);
});

/** The one line matching `re` (there must be exactly one). */
function line(lines: string[], re: RegExp): string {
  const found = lines.filter((l) => re.test(l));
  expect(found, `one line matching ${re} in:\n${lines.join('\n')}`).toHaveLength(1);
  return found[0]!;
}

/** The lines of a section, from its title to the next blank line. */
function sectionOf(lines: string[], title: RegExp): string[] {
  const start = lines.findIndex((l) => title.test(l));
  expect(start, `a section ${title} in:\n${lines.join('\n')}`).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start && l.trim() === '');
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

describe('baton show: a short summary', () => {
  it('a nested state, a child agent, a timer, a decision, a refused event and the last commits; the context only with --context', async () => {
    await blind.spawn('study', { id: 'st1', input: { topic: 'batteries' } });
    const started = await runtime.handle('st1').waitFor((v) => !!v.children.step_3?.jobId, { timeout: 20_000 });
    // The job id says the task, the commit that started the invocation, and the child.
    expect(started.children.step_3!.jobId).toBe('st1.1.step_3');
    const refused = await blind.send('st1', { type: 'note', text: '   ' }, { wait: 'applied' }).then(
      () => undefined,
      (e: unknown) => e as { code?: string },
    );
    expect(refused?.code).toBe('INVALID_EVENT');

    const lines = await batonLines(prefix, ['show', 'st1']);
    expect(lines[0]).toBe('st1  study@1  active');
    line(lines, /^ {2}state\s+researching\.step_3\.running$/);
    line(lines, /^ {2}seq\s+2 \(updated [0-9hms]+ ago, created [0-9hms]+ ago\)$/);
    // The context is summarised by its keys, not dumped.
    line(lines, /^ {2}context\s+3 keys: topic, notes, awaiting {2}\(--context prints it\)$/);
    expect(lines.join('\n')).not.toContain('batteries');

    expect(sectionOf(lines, /^Awaiting decision$/)).toEqual([
      '  scope: Widen the scope to solid-state cells?',
      expect.stringMatching(/^ {2}options: yes \| no {2}\(asked [0-9hms]+ ago\)$/),
      `  answer: baton send st1 '{"type":"decision","decision":"scope","choice":"yes"}'`,
    ]);
    const children = sectionOf(lines, /^Children and agents \(1 agent job\)$/);
    expect(children[0]).toMatch(/^ {2}ID\s+SRC\s+STATUS\s+STATE \/ AGENT$/);
    expect(children.slice(1)).toEqual([expect.stringMatching(/^ {2}step_3\s+research\s+active\s+agent research \(started at commit 1\)$/)]);
    const timers = sectionOf(lines, /^Pending timers$/);
    expect(timers.slice(1)).toEqual([expect.stringMatching(/^ {2}xstate\.after\.600000\.study\.researching\.step_3\.running\s+in (10m|9m\d+s)\s+\(root\)$/)]);
    const rejected = sectionOf(lines, /^Rejected events \(1\)$/);
    expect(rejected.slice(1)).toEqual([expect.stringMatching(/^ {4}2 {2}note\s+[0-9hms]+ ago\s+.*text must not be blank$/)]);
    const commits = sectionOf(lines, /^Last commits \(2 of 2\)$/);
    expect(commits.slice(1)).toEqual([
      expect.stringMatching(/^ {4}1 {2}[0-9hms]+ ago\s+baton\.spawn\s+researching\.step_3\.running\s+→\s+researching\.step_3\.running$/),
      expect.stringMatching(/^ {4}2 {2}[0-9hms]+ ago\s+rejected note\s+researching\.step_3\.running\s+→\s+researching\.step_3\.running\s+.*text must not be blank$/),
    ]);
    expect(lines.some((l) => /^Context$/.test(l))).toBe(false);

    const [full, detail] = await Promise.all([batonLines(prefix, ['show', 'st1', '--context']), json<TaskDetail>(prefix, ['show', 'st1'])]);
    expect(sectionOf(full, /^Context$/).join('\n')).toContain('"topic": "batteries"');
    // --json is the whole detail, as committed.
    expect(detail.view).toMatchObject({ id: 'st1', status: 'active', value: { researching: { step_3: 'running' } }, context: { topic: 'batteries', notes: [] } });
    expect(detail.view.rejections).toEqual([expect.objectContaining({ type: 'note', seq: 2, reason: expect.stringMatching(/blank/) })]);
    expect(detail.agents).toEqual([expect.objectContaining({ path: ['step_3'], agent: 'research', jobId: 'st1.1.step_3', status: 'active' })]);
  });
});

describe('baton history: for people', () => {
  it('nested states as dotted paths, a refused event with its reason, the agent job by agent and commit; --json stays raw', async () => {
    await blind.send('st1', { type: 'note', text: 'look at sodium too' }, { wait: 'applied' });
    gate('batteries').open();
    await runtime.handle('st1').waitFor((v) => stateLabel(v.value) === 'researching.step_3.reviewed', { timeout: 20_000 });

    const [lines, raw] = await Promise.all([batonLines(prefix, ['history', 'st1']), json<HistoryEntry[]>(prefix, ['history', 'st1'])]);
    expect(raw.map((h) => h.event.type)).toEqual(['baton.spawn', 'baton.rejected', 'note', 'baton.agent.result']);
    expect(raw[1]!.event).toMatchObject({ rejectedType: 'note', reason: expect.stringMatching(/blank/) });
    expect(raw[3]!.event).toMatchObject({ jobId: 'st1.1.step_3', childPath: ['step_3'] });

    expect(lines[0]).toMatch(/^SEQ\s+AT \(UTC\)\s+AGO\s+EVENT\s+FROM\s+TO\s+DETAIL$/);
    const at = String.raw`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\s+[0-9hms]+ ago`;
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(new RegExp(String.raw`^ {2}1\s+${at}\s+baton\.spawn\s+researching\.step_3\.running\s+→\s+researching\.step_3\.running$`)),
      expect.stringMatching(new RegExp(String.raw`^ {2}2\s+${at}\s+rejected note\s+researching\.step_3\.running\s+→\s+researching\.step_3\.running\s+.*text must not be blank`)),
      expect.stringMatching(new RegExp(String.raw`^ {2}3\s+${at}\s+note\s+researching\.step_3\.running\s+→\s+researching\.step_3\.running\s+\{"text":"look at sodium too"\}$`)),
      // The child has left the snapshot: the agent is named by the src the statechart (from the registry) invokes there.
      expect.stringMatching(
        new RegExp(
          String.raw`^ {2}4\s+${at}\s+baton\.agent\.result\s+researching\.step_3\.running\s+→\s+researching\.step_3\.reviewed\s+agent via src research \(child step_3, started at commit 1\): \{"findings":\["batteries age"\]\}$`,
        ),
      ),
    ]);
    expect(lines.join('\n')).not.toContain('st1.1.step_3');
  });

  it('a failed agent, and a spawn input the task refused (status error with the reason)', async () => {
    await Promise.all([blind.spawn('study', { id: 'st2', input: { topic: 'fail' } }), blind.spawn('study', { id: 'st3', input: { topic: 'forbidden' } })]);
    await Promise.all([
      runtime.handle('st2').waitFor((v) => stateLabel(v.value) === 'researching.step_3.failed', { timeout: 20_000 }),
      runtime.handle('st3').waitFor((v) => v.status === 'error', { timeout: 20_000 }),
    ]);
    const [failed, refused, shown] = await Promise.all([
      batonLines(prefix, ['history', 'st2']),
      batonLines(prefix, ['history', 'st3']),
      batonLines(prefix, ['show', 'st3']),
    ]);
    line(
      failed,
      /^ {2}2\s.*baton\.agent\.error\s+researching\.step_3\.running\s+→\s+researching\.step_3\.failed\s+agent via src research \(child step_3, started at commit 1\) failed: UnrecoverableError: no sources on fail \(after 1 attempt\)$/,
    );
    expect(refused.slice(1)).toEqual([expect.stringMatching(/^ {2}1\s.*rejected spawn input\s+-\s+→\s+-\s+.*topic is off limits/)]);
    expect(shown[0]).toBe('st3  study@1  error');
    line(shown, /^ {2}reason\s+.*topic is off limits/);
    line(shown, /^ {2}state\s+-$/);
    // Nothing is pending on a task that ended: no empty sections for children and timers.
    expect(shown.some((l) => /^(Children and agents|Pending timers)/.test(l))).toBe(false);
  });
});

describe('formatting pieces', () => {
  it('state values as dotted paths; parallel regions comma separated', () => {
    expect(stateLabel('idle')).toBe('idle');
    expect(stateLabel({ researching: { step_3: 'running' } })).toBe('researching.step_3.running');
    expect(stateLabel({ work: { fetch: 'loading', render: { draft: {} } } })).toBe('work.(fetch.loading, render.draft)');
    expect(stateLabel({ left: 'a', right: { b: 'c' } })).toBe('left.a, right.b.c');
    expect(stateLabel(undefined)).toBe('-');
  });

  it('job ids: the commit and child, whatever dots the child id holds', () => {
    expect(parseJobId('t.1', 't.1.12.0.shout.shouting', ['0.shout.shouting'])).toEqual({ seq: 12, path: ['0.shout.shouting'] });
    expect(parseJobId('t', 't.3.review.tech')).toEqual({ seq: 3, path: ['review.tech'] });
    expect(parseJobId('t', 'something-else')).toEqual({ path: [] });
    const namer = agentNamer({ children: { review: { id: 'review', status: 'active', children: { tech: { id: 'tech', status: 'active', agent: 'tech-v2', src: 'tech', jobId: 't.3.review.tech' } } } } }, undefined);
    expect(describeJob('t', 't.3.review.tech', ['review', 'tech'], namer)).toBe('agent tech-v2 (child review/tech, started at commit 3)');
    expect(describeJob('t', 't.9.gone', ['gone'], namer)).toBe('agent job (child gone, started at commit 9)');
    expect(describeJob('t', 'opaque', undefined, namer)).toBe('agent job opaque');
  });

  it('history events: refusals, agent outcomes, dropped results, payloads', () => {
    expect(describeEvent('t', { type: 'baton.rejected', entry: '1-0', rejectedType: 'approve', reason: 'by: Required' })).toEqual({ label: 'rejected approve', detail: 'by: Required', kind: 'rejected' });
    expect(describeEvent('t', { type: 'baton.rejected', entry: '1-0', reason: 'not valid JSON' }).label).toBe('rejected (no type)');
    expect(describeEvent('t', { type: 'baton.rejected', input: true, reason: 'start: too small' })).toMatchObject({ label: 'rejected spawn input', detail: 'start: too small' });
    expect(describeEvent('t', { type: 'baton.agent.dropped', jobId: 't.4.a', result: 'baton.agent.result' }).detail).toBe(
      'agent job (child a, started at commit 4): result ignored (the child had left or was re-invoked)',
    );
    expect(describeEvent('t', { type: 'baton.task.done', jobId: 't.1.c0', childPath: ['c0'], output: { n: 1 } }).detail).toBe('child task t.1.c0: {"n":1}');
    expect(describeEvent('t', { type: 'baton.task.error', jobId: 't.1.c0', error: { name: 'TaskStopped', message: 'the child task was stopped' } }).detail).toBe(
      'child task t.1.c0 failed: TaskStopped: the child task was stopped',
    );
    expect(describeEvent('t', { type: 'baton.send.failed', target: 'x', eventType: 'hello', code: 'TASK_NOT_FOUND', reason: "task 'x' does not exist" }).detail).toBe(
      "to x (hello): TASK_NOT_FOUND task 'x' does not exist",
    );
    expect(describeEvent('t', { type: 'approve', by: 'ann' })).toEqual({ label: 'approve', detail: '{"by":"ann"}', kind: 'event' });
    expect(describeEvent('t', { type: 'decision', decision: 'publish', choice: 'yes', by: 'cli' }).detail).toBe('publish → yes by cli');
    expect(describeEvent('t', { type: 'baton.agent.error', jobId: 't.2.a', childPath: ['a'], error: { name: 'Error', message: 'boom', attempts: 3 } }, () => ({ name: 'fetch', exact: true })).detail).toBe(
      'agent fetch (child a, started at commit 2) failed: boom (after 3 attempts)',
    );
    expect(describeEvent('t', { type: 'xstate.after.1000.m.s' }).detail).toBe('timer');
  });

  it('show says why a task is not running as it should: unserved, quarantined', () => {
    setColor(false);
    const base: TaskView = {
      id: 'q1', machine: 'study', version: 2, status: 'active', value: { a: 'b' }, context: { big: 'x'.repeat(10_000) }, children: {},
      seq: 7, updatedAt: 1_000, createdAt: 1_000, timers: [],
    };
    const unserved = renderDetail({ view: { ...base, unserved: true, reason: 'no live process runs study@2' }, agents: [], decisions: [] }, { now: 61_000 }).split('\n');
    expect(unserved[0]).toBe('q1  study@2  active  unserved');
    expect(unserved).toContain('  reason   no live process runs study@2');
    expect(unserved).toContain('  seq      7 (updated 1m ago, created 1m ago)');
    expect(unserved.join('\n')).not.toContain('xxxx');
    const quarantined = renderDetail({ view: { ...base, status: 'quarantined', reason: 'snapshot has active children the machine cannot restore' }, agents: [], decisions: [] }).split('\n');
    expect(quarantined[0]).toBe('q1  study@2  quarantined');
    expect(quarantined).toContain('  reason   snapshot has active children the machine cannot restore');
  });
});
