import type { HistoryEntry } from '../index.js';
import { compactJson } from './format.js';
import { describeJob, type AgentNamer } from './jobs.js';

/** A committed event as a person reads it: what happened, and the detail that matters. */
export interface EventText {
  /** The event type, or `rejected <type>` for an event the task refused. */
  label: string;
  /** The reason of a refusal, the agent job of an agent event, the payload of others ('' when none). */
  detail: string;
  /** The kind, for colouring. */
  kind: 'event' | 'rejected' | 'agent' | 'agent-error' | 'internal';
}

type Obj = Record<string, unknown>;

function errorText(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as Obj;
    const msg = typeof e.message === 'string' ? e.message : compactJson(error, 80);
    const name = typeof e.name === 'string' && e.name !== 'Error' ? `${e.name}: ` : '';
    const attempts = typeof e.attempts === 'number' ? ` (after ${e.attempts} attempt${e.attempts === 1 ? '' : 's'})` : '';
    return `${name}${msg}${attempts}`;
  }
  return String(error);
}

/** The event's fields besides `type`, as short JSON ('' when there are none). */
function payload(event: Obj, omit: string[] = []): string {
  const rest = Object.fromEntries(Object.entries(event).filter(([k]) => k !== 'type' && !omit.includes(k)));
  return Object.keys(rest).length ? compactJson(rest, 80) : '';
}

/**
 * Describe a history entry's event: refusals by the refused type and reason,
 * agent outcomes by a readable job (`agent research (child step_3, started at
 * commit 12)`) instead of the raw job id, others by their payload.
 */
export function describeEvent(taskId: string, event: HistoryEntry['event'], namer?: AgentNamer): EventText {
  const e = event as Obj & { type: string };
  switch (e.type) {
    case 'baton.rejected':
      if (e.input === true) return { label: 'rejected spawn input', detail: String(e.reason ?? ''), kind: 'rejected' };
      return {
        label: `rejected ${typeof e.rejectedType === 'string' ? e.rejectedType : '(no type)'}`,
        detail: String(e.reason ?? ''),
        kind: 'rejected',
      };
    case 'baton.agent.result': {
      const job = describeJob(taskId, String(e.jobId ?? ''), e.childPath, namer);
      const out = e.output === undefined ? '' : `: ${compactJson(e.output, 60)}`;
      return { label: e.type, detail: `${job}${out}`, kind: 'agent' };
    }
    case 'baton.agent.error':
      return { label: e.type, detail: `${describeJob(taskId, String(e.jobId ?? ''), e.childPath, namer)} failed: ${errorText(e.error)}`, kind: 'agent-error' };
    case 'baton.task.done':
      return { label: e.type, detail: `child task ${String(e.jobId ?? '')}${e.output === undefined ? '' : `: ${compactJson(e.output, 60)}`}`, kind: 'agent' };
    case 'baton.task.error':
      return { label: e.type, detail: `child task ${String(e.jobId ?? '')} failed: ${errorText(e.error)}`, kind: 'agent-error' };
    case 'baton.send.failed':
      return { label: e.type, detail: `to ${String(e.target ?? '')} (${String(e.eventType ?? '')}): ${String(e.code ?? '')} ${String(e.reason ?? '')}`.trim(), kind: 'agent-error' };
    case 'baton.agent.dropped': {
      const what = e.result === 'baton.agent.error' ? 'error' : 'result';
      return {
        label: e.type,
        detail: `${describeJob(taskId, String(e.jobId ?? ''), e.childPath, namer)}: ${what} ignored (the child had left or was re-invoked)`,
        kind: 'internal',
      };
    }
    default:
      // A decision answer (the patterns' `decision` event) reads as what was chosen.
      if (typeof e.decision === 'string' && typeof e.choice === 'string') {
        const rest = payload(e, ['decision', 'choice', 'by']);
        return { label: e.type, detail: `${e.decision} → ${e.choice}${typeof e.by === 'string' ? ` by ${e.by}` : ''}${rest ? ` ${rest}` : ''}`, kind: 'event' };
      }
      if (e.type.startsWith('xstate.after.')) return { label: e.type, detail: 'timer', kind: 'internal' };
      return { label: e.type, detail: payload(e), kind: e.type.startsWith('baton.') || e.type.startsWith('xstate.') ? 'internal' : 'event' };
  }
}
