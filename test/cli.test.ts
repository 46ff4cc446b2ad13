// The `baton` command as users run it: bin/baton.mjs in a child process against
// the test Redis, with a runtime in this process running the tasks (and, for
// `baton worker`, a worker process running them instead).
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime, TaskView } from '../src/index.js';
import type { TaskDetail } from '../src/cli/task-detail.js';
import { baton, batonFailure as failure, batonJson as json } from './helpers/baton-cli.ts';
import { redisUrl, runChild, uniquePrefix, waitUntil } from './helpers/index.ts';
import { useBaton } from './helpers/setup.ts';
import { agents, machines } from './fixtures/ui-machines.ts';

const prefix = uniquePrefix('cli');
const { runtime: startRuntime } = useBaton({ close: 'all' });
let runtime: Runtime;

beforeAll(async () => {
  runtime = await startRuntime(prefix, { machines, agents });
});

describe('baton CLI', () => {
  it('spawn, send, ps, history and wait, with --json', async () => {
    expect(await json(prefix, ['spawn', 'counter', '--id', 'c1', '--input', '{"start":2}'])).toEqual({ id: 'c1', machine: 'counter' });
    await runtime.handle('c1').waitFor((v) => v.seq >= 1);

    const first = await json<{ entryId: string; duplicate: boolean }>(prefix, ['send', 'c1', '{"type":"inc","by":3}', '--key', 'k1']);
    expect(first.duplicate).toBe(false);
    const again = await json<{ entryId: string; duplicate: boolean }>(prefix, ['send', 'c1', '{"type":"inc","by":3}', '--key', 'k1']);
    expect(again).toEqual({ entryId: first.entryId, duplicate: true });
    await runtime.handle('c1').waitFor((v) => (v.context as { n: number }).n === 5);

    const [active, done, counters] = await Promise.all([
      json<TaskView[]>(prefix, ['ps', '--status', 'active']),
      json<TaskView[]>(prefix, ['ps', '--status', 'done']),
      json<TaskView[]>(prefix, ['ps', '--machine', 'counter']),
    ]);
    expect(active.map((v) => v.id)).toContain('c1');
    expect(done.map((v) => v.id)).not.toContain('c1');
    expect(counters.every((v) => v.machine === 'counter')).toBe(true);

    await json(prefix, ['send', 'c1', '{"type":"finish"}']);
    const finished = await json<TaskView>(prefix, ['wait', 'c1', '--status', 'done', '--timeout', '20000']);
    expect(finished).toMatchObject({ id: 'c1', status: 'done', value: 'finished', output: { n: 5 } });

    const history = await json<Array<{ seq: number; event: { type: string }; to: unknown }>>(prefix, ['history', 'c1']);
    expect(history.map((h) => h.event.type)).toEqual(['baton.spawn', 'inc', 'finish']);
    expect(history.map((h) => h.seq)).toEqual([1, 2, 3]);
    expect(history.at(-1)?.to).toBe('finished');
  });

  it('show: state, awaiting decision, children, decisions with originals; send answers it', async () => {
    await json(prefix, ['spawn', 'launch', '--id', 'l1', '--input', '{"product":"rocket"}']);
    await runtime.handle('l1').waitFor((v) => v.awaiting?.decision === 'reconcile', { timeout: 20_000 });
    const detail = await json<TaskDetail>(prefix, ['show', 'l1']);
    expect(detail.view).toMatchObject({ id: 'l1', machine: 'launch', status: 'active', value: 'reviewing' });
    expect(detail.view.awaiting).toMatchObject({ decision: 'reconcile', options: ['tech', 'legal'] });
    expect(detail.view.children.review).toMatchObject({ src: 'review', status: 'active', value: 'reconciling' });
    const rec = detail.decisions.find((d) => d.kind === 'reconciliation');
    expect(rec?.value).toMatchObject({ originals: { tech: { verdict: 'go' }, legal: { verdict: 'no-go' } }, conflict: { fields: ['verdict'] } });

    const human = await baton(prefix, ['show', 'l1']);
    expect(human.code).toBe(0);
    expect(human.stdout).not.toMatch(/\u001b\[/); // no colour when stdout is not a terminal
    for (const s of ['Awaiting decision', 'reconcile', 'options: tech | legal', 'Children and agents', 'Pending timers', 'Decisions and reconciliations']) {
      expect(human.stdout).toContain(s);
    }

    await json(prefix, ['send', 'l1', '{"type":"decision","decision":"reconcile","choice":"legal","by":"cli"}']);
    await json(prefix, ['wait', 'l1', '--state', 'approval', '--timeout', '20000']);
    await json(prefix, ['send', 'l1', '{"type":"decision","decision":"publish","choice":"yes","by":"cli"}']);
    await json(prefix, ['wait', 'l1', '--state', 'publishing', '--timeout', '20000']);
    const later = await json<TaskDetail>(prefix, ['show', 'l1']);
    expect(later.view.timers).toHaveLength(1);
    expect(later.view.timers[0]!.event.type).toMatch(/^xstate\.after\.3600000\./);
    expect(later.view.context).toMatchObject({ review: { decidedBy: 'human:cli', reconciled: { verdict: 'no-go' } }, approval: { choice: 'yes', by: 'cli' } });
    expect((await baton(prefix, ['show', 'l1'])).stdout).toMatch(/xstate\.after\.3600000\.launch\.publishing\s+in (59m\d*s?|1h)\s+\(root\)/);
  });

  it('show lists agent jobs in flight; stop cancels them and ends the task', async () => {
    await json(prefix, ['spawn', 'shout', '--id', 's1', '--input', '{"text":"hi","hold":true}']);
    const detail = await waitUntil(async () => {
      const d = await json<TaskDetail>(prefix, ['show', 's1']);
      return d.agents.length ? d : undefined;
    }, { timeout: 20_000 });
    expect(detail.agents[0]).toMatchObject({ agent: 'shout', status: 'active', input: { text: 'hi', hold: true } });
    expect(detail.agents[0]!.jobId).not.toBe('');
    // The job is described by the commit that started it (its id is `<task>.<seq>.<child path>`), not by the raw id.
    const seq = /^s1\.(\d+)\./.exec(detail.agents[0]!.jobId)?.[1];
    expect(seq).toBeDefined();
    const shown = (await baton(prefix, ['show', 's1'])).stdout;
    expect(shown).toContain(`agent shout (started at commit ${seq})`);
    expect(shown).not.toContain(detail.agents[0]!.jobId);

    const stopped = await json<TaskView>(prefix, ['stop', 's1']);
    expect(stopped).toMatchObject({ id: 's1', status: 'stopped' });
    expect(await failure(prefix, ['stop', 's1'])).toMatch(/\[TASK_NOT_RUNNING\]$/);
    expect(await failure(prefix, ['wait', 's1', '--status', 'done'])).toMatch(/ended stopped/);
  });

  it('fails with one error line and exit 1: bad id, unknown task, invalid JSON, usage', async () => {
    const lines = await Promise.all([
      failure(prefix, ['show', 'bad id!']),
      failure(prefix, ['show', 'no-such-task']),
      failure(prefix, ['history', 'no-such-task']),
      failure(prefix, ['send', 'c1', '{"type":']),
      failure(prefix, ['send', 'c1', '[1,2]']),
      failure(prefix, ['spawn', 'counter', '--input', '{oops}']),
      failure(prefix, ['send', 'no-such-task', '{"type":"inc"}']),
      failure(prefix, ['ps', '--status', 'sleeping']),
      failure(prefix, ['show']),
    ]);
    expect(lines[0]).toMatch(/invalid.*\[INVALID_ID\]$/);
    expect(lines[1]).toBe(`baton: task 'no-such-task' does not exist [TASK_NOT_FOUND]`);
    expect(lines[2]).toMatch(/\[TASK_NOT_FOUND\]$/);
    expect(lines[3]).toMatch(/^baton: event is not valid JSON: /);
    expect(lines[4]).toMatch(/event must be a JSON object with a string "type"/);
    expect(lines[5]).toMatch(/^baton: input is not valid JSON: /);
    expect(lines[6]).toMatch(/\[TASK_NOT_FOUND\]$/);
    expect(lines[7]).toMatch(/unknown status 'sleeping'/);
    expect(lines[8]).toBe(`baton: missing required argument 'id'`);
  });

  it('prints tables for people', async () => {
    const r = await baton(prefix, ['ps']);
    expect(r.code).toBe(0);
    const [head, ...rows] = r.stdout.trimEnd().split('\n');
    expect(head).toMatch(/^ID\s+MACHINE\s+STATUS\s+SEQ\s+UPDATED\s+STATE$/);
    expect(rows.some((l) => /^c1\s+counter\s+done\s+3\s+.*finished$/.test(l))).toBe(true);
    const h = await baton(prefix, ['history', 'c1']);
    const [hhead, ...hrows] = h.stdout.trimEnd().split('\n');
    expect(hhead).toMatch(/^SEQ\s+AT \(UTC\)\s+AGO\s+EVENT\s+FROM\s+TO\s+DETAIL$/);
    expect(hrows[0]).toMatch(/^ {2}1\s+\S+ \S+\s+[0-9hms]+ ago\s+baton\.spawn\s+counting\s+→\s+counting$/);
    expect(hrows[1]).toMatch(/^ {2}2\s+\S+ \S+\s+[0-9hms]+ ago\s+inc\s+counting\s+→\s+counting\s+\{"by":3\}$/);
  });

  it('worker <module> runs tasks and agents in its own process', async () => {
    const wprefix = uniquePrefix('cli-worker');
    const worker = runChild('bin/baton.mjs', { args: ['--prefix', wprefix, 'worker', 'test/fixtures/ui-machines.ts', '--owner', 'pod-7'], env: { REDIS_URL: redisUrl() } });
    try {
      await worker.waitForLine(/baton worker pod-7 .* machines \[launch, counter, shout\] .*agents \[tech, legal, shout\]/, 30_000);
      const { id } = await json<{ id: string }>(wprefix, ['spawn', 'shout', '--input', '{"text":"hey"}']);
      const done = await json<TaskView>(wprefix, ['wait', id, '--timeout', '30000']);
      expect(done).toMatchObject({ status: 'done', value: 'done', output: { text: 'HEY', pid: worker.pid } });
    } finally {
      await worker.kill('SIGTERM');
    }
    expect((await worker.exited).code).toBe(0);
  });
});
