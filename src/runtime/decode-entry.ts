import { AGENT_ERROR, AGENT_RESULT } from '../actors/fromAgent.js';
import { TASK_DONE, TASK_ERROR } from '../actors/fromTask.js';
import { eventRefusal, type EventRules } from '../persistence/validate.js';
import type { AnyActor } from 'xstate';
import type { TaskStatus } from '../persistence/view.js';
import type { AnyEvent, Entry } from './mailbox.js';
import { resolvePath } from './timers.js';

/** Event types of the runtime's own (agent outcomes, stop): not subject to the machine's event rules. */
const INTERNAL = /^(baton|xstate)\./;

/** What a mailbox entry is, once read where the task runs. */
export type Decoded =
  | { kind: 'refused'; reason: string; type?: string }
  | { kind: 'agent'; event: AnyEvent }
  | { kind: 'stop'; event: AnyEvent }
  /** Committed to the history, not sent to the machine (a failed sendToTask that did not ask for a reply). */
  | { kind: 'record'; event: AnyEvent }
  | { kind: 'event'; event: AnyEvent };

/**
 * Read a mailbox entry for the machine that runs it: JSON, an event object,
 * and the machine's own rules again (its zod schema, a closed event set), for
 * a client may have checked only what JSON Schema can say, or nothing.
 * Without `rules` (an event sent from this process, checked by the same
 * machine's rules before it was queued) only the JSON is read.
 */
export function decodeEntry(entry: Entry, rules: EventRules | undefined): Decoded {
  let event: AnyEvent;
  try {
    event = JSON.parse(entry.event) as AnyEvent;
  } catch {
    return { kind: 'refused', reason: 'not valid JSON' };
  }
  if (!event || typeof event.type !== 'string') return { kind: 'refused', reason: 'not an event object' };
  // A child task's outcome is routed like an agent's: to the invoking actor, matched by its id.
  if (event.type === AGENT_RESULT || event.type === AGENT_ERROR || event.type === TASK_DONE || event.type === TASK_ERROR) return { kind: 'agent', event };
  if (event.type === 'baton.stop') return { kind: 'stop', event };
  if (event.type === 'baton.send.failed' && event.notify !== true) return { kind: 'record', event };
  const refusal = !rules || INTERNAL.test(event.type) ? undefined : eventRefusal(rules, event.type, event);
  return refusal ? { kind: 'refused', reason: refusal.text, type: event.type } : { kind: 'event', event };
}

/** What applying an entry does: run `change` on the actor, then commit with `event` (and `force`d status). */
export interface EntryStep {
  change: () => void;
  event: AnyEvent;
  force?: TaskStatus;
}

const nothing = () => undefined;

/** The step a decoded entry makes (a refusal and a stop change nothing but are committed, to move the cursor). */
export function entryStep(actor: AnyActor, d: Exclude<Decoded, { kind: 'agent' }>, entryId: string): EntryStep {
  if (d.kind === 'refused') return { change: nothing, event: { type: 'baton.rejected', entry: entryId, ...(d.type ? { rejectedType: d.type } : {}), reason: d.reason } };
  if (d.kind === 'stop') return { change: nothing, event: d.event, force: 'stopped' };
  if (d.kind === 'record') return { change: nothing, event: d.event };
  return { change: () => actor.send(d.event), event: d.event };
}

/**
 * The step an agent's outcome makes, from the mailbox entry `entryId` or
 * (undefined) handed over in memory. A child that left (cancelled, state
 * exited, or a newer invocation) drops it: a mailbox entry still gets a
 * commit, to move the cursor; an outcome in memory none (undefined).
 */
export function agentStep(actor: AnyActor, ev: AnyEvent, entryId: string | undefined): EntryStep | undefined {
  const child = Array.isArray(ev.childPath) ? resolvePath(actor, ev.childPath as string[]) : undefined;
  const snap = child?.getSnapshot() as { status?: string; jobId?: string } | undefined;
  if (!child || snap?.status !== 'active' || snap.jobId !== ev.jobId) {
    return entryId === undefined ? undefined : { change: nothing, event: { type: 'baton.agent.dropped', jobId: ev.jobId, result: ev.type } };
  }
  return { change: () => child.send(ev), event: ev };
}
