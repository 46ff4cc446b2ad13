// Change notices: the head carries its own length, so a reader parses the
// snapshot only when a caller looks at a field that needs it; the view is the
// same as one built from the whole notice.
import { describe, expect, it } from 'vitest';
import { encodeNotice, noticeHead, viewFromNotice } from '../src/persistence/view.js';

const fields = { machine: 'm', version: 2, status: 'active', seq: 7, updatedAt: 50, createdAt: 10 };
const snapshot = {
  status: 'active',
  value: { steps: 'b' },
  context: { n: 1, awaiting: { decision: 'ok?', options: ['yes', 'no'], since: 1 } },
  children: { a: { snapshot: { status: 'active', agent: 'research', jobId: 't.1.a', input: {} }, src: 'research' } },
};

describe('viewFromNotice', () => {
  it('reads the head without the snapshot, and the snapshot fields on demand', () => {
    const timers = JSON.stringify([{ id: 'x', dueAt: 99 }]);
    const message = noticeHead('t', fields, timers) + JSON.stringify(snapshot) + '}';
    expect(() => JSON.parse(message)).not.toThrow(); // still one JSON document
    const v = viewFromNotice(message);
    expect(v.status).toBe('active');
    expect(v.seq).toBe(7);
    expect(v.timers).toEqual([{ id: 'x', dueAt: 99 }]);
    expect(v.value).toEqual({ steps: 'b' });
    expect(v.context).toEqual(snapshot.context);
    expect(v.children.a).toMatchObject({ status: 'active', agent: 'research', jobId: 't.1.a' });
    expect(v.awaiting).toMatchObject({ decision: 'ok?' });
    // The same view as one built eagerly from the whole notice (the format older notices have).
    const eager = viewFromNotice(JSON.stringify({ id: 't', ...fields, timers: JSON.parse(timers), snapshot }));
    expect(JSON.parse(JSON.stringify(v))).toEqual(JSON.parse(JSON.stringify(eager)));
    expect({ ...v }).toEqual(eager);
  });
  it('a quarantine notice (null snapshot) and fields set by a caller', () => {
    const v = viewFromNotice(encodeNotice('q', { ...fields, status: 'quarantined', reason: 'bad snapshot' }, 'null', '[]'));
    expect(v.status).toBe('quarantined');
    expect(v.reason).toBe('bad snapshot');
    expect(v.value).toBeUndefined();
    expect(v.children).toEqual({});
    v.context = { replaced: true };
    expect(v.context).toEqual({ replaced: true });
  });
});
