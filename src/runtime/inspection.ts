import type { AnyActorRef, InspectionEvent, Observer } from 'xstate';
import { actorPath } from '../actors/actor-path.js';

/** Any XState inspector: `createBrowserInspector().inspect`, `createWebSocketInspector({ url }).inspect`, or a function. */
export type Inspector = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

/**
 * Stable inspection ids. XState names actors by per-process session ids
 * (`x:0`, `x:1`…), so the same task restored in another process would look
 * like a new actor. The bridge hands the inspector a facade of each actor
 * whose `sessionId` is the task id for the root and `<taskId>/<child path>`
 * for children: a task keeps its identity across restores and workers.
 */
export function stableInspector(taskId: string, target: Inspector): (event: InspectionEvent) => void {
  const facades = new WeakMap<AnyActorRef, AnyActorRef>();
  const stableId = (ref: AnyActorRef): string => {
    const path = actorPath(ref);
    return path.length ? `${taskId}/${path.join('/')}` : taskId;
  };
  const facade = (ref: AnyActorRef | undefined): AnyActorRef | undefined => {
    if (!ref) return undefined;
    let f = facades.get(ref);
    if (!f) {
      const sessionId = stableId(ref);
      f = new Proxy(ref, {
        get(obj, prop, receiver) {
          if (prop === 'sessionId') return sessionId;
          if (prop === 'id' && !ref._parent) return taskId;
          if (prop === '_parent') return facade(obj._parent);
          const v = Reflect.get(obj, prop, receiver) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(obj) : v;
        },
      });
      facades.set(ref, f);
    }
    return f;
  };
  const deliver = typeof target === 'function' ? target : (e: InspectionEvent) => target.next?.(e);
  return (event) => {
    const e = event as InspectionEvent & { sourceRef?: AnyActorRef; actorRef: AnyActorRef };
    try {
      deliver({
        ...e,
        rootId: taskId,
        actorRef: facade(e.actorRef)!,
        ...(e.sourceRef ? { sourceRef: facade(e.sourceRef) } : {}),
      } as InspectionEvent);
    } catch {
      // an inspector's failure never affects the task
    }
  };
}
