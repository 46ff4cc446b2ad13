/**
 * Shapes shared by Baton's orchestration patterns. Plain data: everything
 * here is committed with the task's snapshot.
 */

/** A decision the task waits for; the task view surfaces it as `awaiting`. */
export interface Awaiting {
  /** Name of the decision point (what the answer's `decision` must say). */
  decision: string;
  /** The question put to the caller. */
  question: string;
  /** The allowed answers. */
  options: string[];
  /** When the task started waiting (ms since the epoch). */
  since: number;
  /** When the default or escalation applies (ms since the epoch), if there is a deadline. */
  deadline?: number;
  /** True once the decision was escalated. */
  escalated?: boolean;
  /** Free-form detail for the person deciding (the conflict, the update, …). */
  detail?: unknown;
}

/** The event that answers a decision point. */
export interface DecisionEvent {
  type: 'decision';
  /** Which decision this answers ({@link Awaiting.decision}). */
  decision: string;
  /** One of the offered options. */
  choice: string;
  /** Who decided (a user id, 'auto', …). */
  by?: string;
  /** Optional note kept with the decision. */
  note?: string;
}

/** A recorded answer. */
export interface DecisionRecord {
  decision: string;
  choice: string;
  by: string;
  at: number;
  note?: string;
  /** 'answer' when someone decided, 'default' when the deadline picked the default. */
  source: 'answer' | 'default';
}

/** A scope change sent to a running task. */
export interface ContextUpdateEvent {
  type: 'context.update';
  /** What changed, as the caller states it (e.g. `{ scope: 'EU only' }`). */
  update: Record<string, unknown>;
  /** Who sent it. */
  by?: string;
}

/** What a decision surfaces when it opens. */
export interface OpenDecision {
  decision: string;
  question: string;
  options: string[];
  /** Time to answer (ms); none: no deadline. */
  deadlineMs?: number | undefined;
  detail?: unknown;
}

/**
 * The `awaiting` of a decision opened at `now` (by the actor's clock, see
 * `actorNow`): `since` is `now`, `deadline` is `deadlineMs` later when there is one.
 */
export function awaitingOf(d: OpenDecision, now: number): Awaiting {
  return {
    decision: d.decision,
    question: d.question,
    options: d.options,
    since: now,
    ...(d.deadlineMs !== undefined ? { deadline: now + d.deadlineMs } : {}),
    ...(d.detail !== undefined ? { detail: d.detail } : {}),
  };
}

/** True when `choice` answers `awaiting`. */
export function answers(awaiting: Awaiting | undefined, event: { decision?: unknown; choice?: unknown }): boolean {
  return !!awaiting && event.decision === awaiting.decision && typeof event.choice === 'string' && awaiting.options.includes(event.choice);
}
