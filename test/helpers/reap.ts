// Child processes a test process started must not outlive it.
import type { ChildProcess } from 'node:child_process';

/** A set for the caller's live child processes: whatever is still in it when this process exits is SIGKILLed then (synchronously). */
export function killedOnExit(): Set<ChildProcess> {
  const live = new Set<ChildProcess>();
  process.on('exit', () => {
    for (const p of live) {
      try {
        p.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
  return live;
}
