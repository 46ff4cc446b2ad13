import type { AnyActorRef } from 'xstate';

/** Path of child ids from the root down to `ref` ([] for the root): stable across processes, unlike session ids. */
export function actorPath(ref: AnyActorRef): string[] {
  const path: string[] = [];
  let cur: AnyActorRef | undefined = ref;
  while (cur && cur._parent) {
    path.unshift(cur.id);
    cur = cur._parent;
  }
  return path;
}
