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

/** A child task to create once the commit that started it landed (see `fromTask`). */
export interface ChildTaskSpawn {
  /** The child task's deterministic id. */
  taskId: string;
  /** Machine the child runs. */
  machine: string;
  /** Its input (already checked by the `fromTask` input schema). */
  input: unknown;
  /** Path of child ids from the parent's root to the invoking `fromTask` actor (its outcome is routed there). */
  childPath: string[];
  /** Start it this long after the commit (a retry's backoff), ms; 0: at once. */
  delayMs: number;
  /** Its depth in the chain of child tasks (the parent's + 1). */
  depth: number;
}

/** An event one task sends another once the commit that decided it landed (see `sendToTask`). */
export interface TaskSend {
  /** The receiving task's id. */
  target: string;
  /** The event (the delivery adds `origin`, the sender's id). */
  event: { type: string; [k: string]: unknown };
  /** Idempotency key of the delivery: the same across a crash and a restore. */
  key: string;
  /** Send `baton.send.failed` to the sender's own machine when the target does not take it. */
  replyOnFailure?: boolean;
  /** A runtime's own send (a child task's stop): not checked against the target's rules, and a target that ended is no failure. */
  system?: boolean;
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
  /** Depth of this task in its chain of child tasks (0: spawned by a client). */
  readonly depth: number;
  /** Deepest chain of child tasks allowed (the runtime's `maxTaskDepth`). */
  readonly maxDepth: number;
  /** Create a child task after the commit (outbox). Idempotent by the child's id. */
  spawnTask(spec: ChildTaskSpawn): void;
  /** Send an event to another task after the commit; it is committed with the step, so it is delivered even across a crash. */
  sendToTask(spec: Omit<TaskSend, 'key'> & { key?: string }): void;
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
