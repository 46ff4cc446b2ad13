import { AGENT_ERROR, AGENT_RESULT } from '../actors/fromAgent.js';
import { eventRefusal, type EventRules } from '../persistence/validate.js';
import type { AnyEvent, Entry } from './mailbox.js';

/** Event types of the runtime's own (agent outcomes, stop): not subject to the machine's event rules. */
const INTERNAL = /^(baton|xstate)\./;

/** What a mailbox entry is, once read where the task runs. */
export type Decoded =
  | { kind: 'refused'; reason: string; type?: string }
  | { kind: 'agent'; event: AnyEvent }
  | { kind: 'stop'; event: AnyEvent }
  | { kind: 'event'; event: AnyEvent };

/**
 * Read a mailbox entry for the machine that runs it: JSON, an event object,
 * and the machine's own rules again (its zod schema, a closed event set), for
 * a client may have checked only what JSON Schema can say, or nothing.
 */
export function decodeEntry(entry: Entry, rules: EventRules): Decoded {
  let event: AnyEvent;
  try {
    event = JSON.parse(entry.event) as AnyEvent;
  } catch {
    return { kind: 'refused', reason: 'not valid JSON' };
  }
  if (!event || typeof event.type !== 'string') return { kind: 'refused', reason: 'not an event object' };
  if (event.type === AGENT_RESULT || event.type === AGENT_ERROR) return { kind: 'agent', event };
  if (event.type === 'baton.stop') return { kind: 'stop', event };
  const refusal = INTERNAL.test(event.type) ? undefined : eventRefusal(rules, event.type, event);
  return refusal ? { kind: 'refused', reason: refusal.text, type: event.type } : { kind: 'event', event };
}
