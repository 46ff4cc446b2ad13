import type { AnyActorRef } from 'xstate';
import { logicKind } from './xstate-internals.js';

/**
 * True when no child below `ref` is doing in-process work that would be lost
 * if the actor left memory: machine children are checked recursively, agent
 * children persist fully (their results come back through the mailbox), and
 * any other active child (promise, callback, observable) is in flight.
 */
export function quiescent(ref: AnyActorRef): boolean {
  const children = (ref.getSnapshot() as { children?: Record<string, AnyActorRef> }).children ?? {};
  for (const child of Object.values(children)) {
    if (!child || (child.getSnapshot() as { status?: string }).status !== 'active') continue;
    const kind = logicKind(child);
    if (kind === 'machine') {
      if (!quiescent(child)) return false;
      continue;
    }
    if (kind === 'agent') continue;
    return false;
  }
  return true;
}
