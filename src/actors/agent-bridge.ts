/**
 * The seam between `fromAgent` logic (pure XState) and the runtime that hosts
 * it. A task host registers a bridge for its actor system; the logic finds it
 * there. Outside a Baton runtime there is no bridge and an agent child fails
 * with a readable error instead of running.
 */

/** What a started agent invocation needs dispatched. */
export interface AgentDispatch {
  /** Deterministic BullMQ job id: task, commit seq, child path (no ':'). */
  jobId: string;
  /** Registered agent name. */
  agent: string;
  /** Agent input (already validated). */
  input: unknown;
  /** Path of child ids from the root to the agent child. */
  childPath: string[];
  /** Attempts before the invocation fails for good. */
  attempts: number;
  /** Exponential backoff base, ms. */
  backoffMs: number;
  /** Time limit of one attempt, ms. */
  timeoutMs?: number;
  /**
   * Set by the host when a restore re-dispatches the invocation: it may have
   * run already, so it goes through the agent's queue if the queue has its job
   * (the queue runs a job id once).
   */
  restored?: boolean;
}

/** Implemented by the task host. */
export interface AgentBridge {
  /** Task id. */
  readonly taskId: string;
  /** Seq of the commit the current change will be part of. */
  nextSeq(): number;
  /** Dispatch after the commit that decided it (outbox). Idempotent by job id. */
  dispatch(spec: AgentDispatch): void;
  /** Run `start` once the commit the current change will be part of has landed (in-process children's work). */
  afterCommit(start: () => void): void;
  /** Cancel a dispatched invocation (the child left its state). */
  cancel(jobId: string, agent: string): void;
  /** True while the host itself is stopping the actor (passivation, shutdown): children stopping then are not cancelled. */
  readonly stopping: boolean;
}

const bridges = new WeakMap<object, AgentBridge>();

/** @internal Register the bridge of an actor system. */
export function registerBridge(system: object, bridge: AgentBridge): void {
  bridges.set(system, bridge);
}

let constructing: AgentBridge | undefined;

/**
 * @internal Run `fn` (which creates the actor) with `bridge` as the current
 * one: children of the initial state are created inside `createActor`,
 * before its system can be registered.
 */
export function withBridge<T>(bridge: AgentBridge, fn: () => T): T {
  const saved = constructing;
  constructing = bridge;
  try {
    return fn();
  } finally {
    constructing = saved;
  }
}

/** @internal The bridge of an actor system, if it runs in Baton. */
export function bridgeOf(system: object): AgentBridge | undefined {
  return bridges.get(system) ?? constructing;
}
