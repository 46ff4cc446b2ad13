// Tasks that start and message tasks, in one process: fromTask children are
// tasks of their own (a view naming the parent), their outputs complete the
// invoke, a stop cascades, bad input is an onError, and sendToTask delivers
// once, with the sender's id, or records why not.
import { describe, expect, it } from 'vitest';
import { taskMachines } from './fixtures/task-machines.js';
import { uniquePrefix } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

const baton = useBaton();
const square = async ({ input }: { input: { n: number } }) => ({ sq: input.n * input.n });

describe('child tasks (fromTask)', () => {
  it('a parent starts child tasks; each is a task of its own that names the parent; their outputs complete the invokes', async () => {
    const prefix = uniquePrefix('ctask');
    const rt = await baton.runtime(prefix, { machines: taskMachines(5), agents: { square } });
    const parent = await rt.spawn('fanout', { id: 'fan' });
    const done = await parent.waitFor((v) => v.status !== 'active', { timeout: 15_000 });
    expect(done.status).toBe('done');
    const out = done.output as { results: Record<string, { n: number; sq: number }>; errors: Record<string, unknown> };
    expect(out.errors).toEqual({});
    expect(Object.keys(out.results)).toHaveLength(5);
    for (let i = 0; i < 5; i++) expect(out.results[i]).toEqual({ n: i, sq: i * i });
    const kids = await rt.list({ parent: 'fan' });
    expect(kids).toHaveLength(5);
    for (const k of kids) {
      expect(k.status).toBe('done');
      expect(k.machine).toBe('leaf');
      expect(k.parent).toBe('fan');
    }
    // Each child's id is derived from the parent, the commit and the child's path: no ':' (BullMQ job ids).
    expect(kids.map((k) => k.id).every((id) => id.startsWith('fan.1.') && !id.includes(':'))).toBe(true);
  });
});
