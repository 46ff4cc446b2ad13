// Stream ids the holder picks for its own process's sends must follow the
// mailbox's last id exactly as Redis's own `*` ids would.
import { describe, expect, it } from 'vitest';
import { compareStreamIds, nextStreamId } from '../src/persistence/stream-id.js';

describe('nextStreamId', () => {
  it('uses the clock when it is ahead, else the next sequence number of the same millisecond', () => {
    expect(nextStreamId('0-0', 5)).toBe('5-0');
    expect(nextStreamId('10-3', 5)).toBe('10-4'); // clock behind the stream: stay after it
    expect(nextStreamId('10-3', 10)).toBe('10-4');
    expect(nextStreamId('10-3', 11)).toBe('11-0');
  });
  it('is always after its input', () => {
    for (const [a, n] of [['0-0', 0], ['9-9', 9], ['9-9', 100], ['123-0', 122]] as const) {
      expect(compareStreamIds(nextStreamId(a, n), a)).toBeGreaterThan(0);
    }
  });
});
