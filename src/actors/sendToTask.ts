import type { AnyEventObject, EventObject, MachineContext } from 'xstate';
import { bridgeOf } from './agent-bridge.js';

/** What `target` and `event` of {@link sendToTask} may be computed from. */
export interface SendToTaskArgs<TContext extends MachineContext, TEvent extends EventObject> {
  context: TContext;
  event: TEvent;
}

/** Options of {@link sendToTask}. */
export interface SendToTaskOptions<TContext extends MachineContext, TEvent extends EventObject> {
  /**
   * The delivery's idempotency key. By default one is derived from the
   * sender, the commit and the send's place in it, so a restore that delivers
   * again delivers nothing twice.
   */
  idempotencyKey?: string | ((args: SendToTaskArgs<TContext, TEvent>) => string);
  /**
   * When the target does not take the event (it does not exist, has ended, or
   * its machine refuses the event), send `baton.send.failed` (with `target`,
   * `eventType`, `code`, `reason`) to the sender itself. Either way the
   * failure is in the sender's history; the sender's step never fails.
   * @default false
   */
  replyOnFailure?: boolean;
}

let warned = false;

/**
 * An XState action that sends an event to another task: `target` is a task
 * id or a function of `{ context, event }` (so is `event`). The send is
 * decided by the step and happens once its commit has landed, exactly once
 * even across a crash (it is committed with the step and delivered under an
 * idempotency key). The receiver sees the sender's id as `event.origin`, so
 * it can answer with `sendToTask(({ event }) => event.origin, …)`.
 *
 * @example
 * const pinger = setup({ actions: { ping: sendToTask(({ context }) => context.peer, { type: 'ping' }) } }).createMachine({
 *   entry: 'ping',
 * });
 */
export function sendToTask<TContext extends MachineContext = MachineContext, TEvent extends EventObject = AnyEventObject>(
  target: string | ((args: SendToTaskArgs<TContext, TEvent>) => string),
  event: { type: string; [k: string]: unknown } | ((args: SendToTaskArgs<TContext, TEvent>) => { type: string; [k: string]: unknown }),
  options: SendToTaskOptions<TContext, TEvent> = {},
): (args: { context: TContext; event: TEvent; system?: unknown; self?: { system?: unknown } }) => void {
  return (args) => {
    const system = (args.system ?? args.self?.system) as object | undefined;
    const bridge = system ? bridgeOf(system) : undefined;
    if (!bridge) {
      if (!warned) console.warn('sendToTask: the actor does not run in a Baton runtime; nothing is sent');
      warned = true;
      return;
    }
    const a = { context: args.context, event: args.event };
    const to = typeof target === 'function' ? target(a) : target;
    const ev = typeof event === 'function' ? event(a) : event;
    const key = typeof options.idempotencyKey === 'function' ? options.idempotencyKey(a) : options.idempotencyKey;
    bridge.sendToTask({ target: String(to), event: ev, ...(key !== undefined ? { key } : {}), replyOnFailure: options.replyOnFailure === true });
  };
}
