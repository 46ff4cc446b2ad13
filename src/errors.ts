/**
 * Typed errors. Every failure Baton reports is a {@link BatonError} with a
 * stable `code`; tests and callers branch on the code, never on message text.
 */

/** Stable error codes, one per kind of failure. */
export const ErrorCode = {
  InvalidEvent: 'INVALID_EVENT',
  InvalidInput: 'INVALID_INPUT',
  InvalidId: 'INVALID_ID',
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  UnknownMachine: 'UNKNOWN_MACHINE',
  TaskNotFound: 'TASK_NOT_FOUND',
  TaskExists: 'TASK_EXISTS',
  TaskNotRunning: 'TASK_NOT_RUNNING',
  Fenced: 'FENCED',
  SeqConflict: 'SEQ_CONFLICT',
  StaleMailbox: 'STALE_MAILBOX',
  Unrecoverable: 'UNRECOVERABLE',
  Timeout: 'TIMEOUT',
  /** The commit asked for is older than what the task's history keeps. */
  NotRetained: 'NOT_RETAINED',
  Closed: 'CLOSED',
  InvalidOptions: 'INVALID_OPTIONS',
  Redis: 'REDIS',
  RedisNoPerm: 'REDIS_NOPERM',
  RedisAuth: 'REDIS_AUTH',
  RedisUnreachable: 'REDIS_UNREACHABLE',
  NotReplicated: 'NOT_REPLICATED',
  /** A chain of child tasks is deeper than the runtime's `maxTaskDepth`. */
  TaskDepth: 'TASK_DEPTH',
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class of every error Baton throws. */
export class BatonError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Structured details (the offending field, the task id, …). */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** An event failed validation (shape, JSON, reserved type or its zod schema). Nothing was written. */
export class InvalidEventError extends BatonError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(ErrorCode.InvalidEvent, message, options);
  }
}

/** Spawn input failed validation (JSON or the machine's zod schema). Nothing was written. */
export class InvalidInputError extends BatonError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(ErrorCode.InvalidInput, message, options);
  }
}

/** A task id or idempotency key has characters or a length Baton does not accept. */
export class InvalidIdError extends BatonError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCode.InvalidId, message, { details });
  }
}

/** A payload (event or input) exceeds the configured size limit. Nothing was written. */
export class PayloadTooLargeError extends BatonError {
  constructor(what: string, bytes: number, limit: number) {
    super(ErrorCode.PayloadTooLarge, `${what} is ${bytes} bytes, over the limit of ${limit} bytes`, {
      details: { bytes, limit },
    });
  }
}

/** The machine name is not registered with this runtime or client. */
export class UnknownMachineError extends BatonError {
  constructor(machine: string, known: string[]) {
    super(ErrorCode.UnknownMachine, `unknown machine '${machine}' (registered: ${known.join(', ') || 'none'})`, {
      details: { machine, known },
    });
  }
}

/** No task with this id exists under this prefix. */
export class TaskNotFoundError extends BatonError {
  constructor(taskId: string) {
    super(ErrorCode.TaskNotFound, `task '${taskId}' does not exist`, { details: { taskId } });
  }
}

/** `spawn` was given an id that is already taken. */
export class TaskExistsError extends BatonError {
  constructor(taskId: string) {
    super(ErrorCode.TaskExists, `task '${taskId}' already exists`, { details: { taskId } });
  }
}

/** The task has finished (done, error, stopped or quarantined) and takes no more events. */
export class TaskNotRunningError extends BatonError {
  constructor(taskId: string, status: string) {
    super(ErrorCode.TaskNotRunning, `task '${taskId}' is ${status} and accepts no events`, {
      details: { taskId, status },
    });
  }
}

/** This writer's epoch is no longer current: another process took the task over. */
export class FencedError extends BatonError {
  constructor(taskId: string, message = `task '${taskId}': commit refused, the lease epoch moved on (another writer holds it)`) {
    super(ErrorCode.Fenced, message, { details: { taskId } });
  }
}

/** A commit's sequence number does not follow the committed one. */
export class SeqConflictError extends BatonError {
  constructor(taskId: string, expected: number, found: number) {
    super(ErrorCode.SeqConflict, `task '${taskId}': commit seq ${expected} does not follow committed seq ${found}`, {
      details: { taskId, expected, found },
    });
  }
}

/**
 * @internal A commit found the mailbox other than its writer saw it: an
 * entry appended since the last one its writer knew (the writer's own event
 * then goes through the mailbox instead), or the entry it consumes missing
 * (after a failover, one the old master never passed on). Nothing was
 * written; the holder restores the task from its last commit. Never reaches a caller.
 */
export class StaleMailboxError extends BatonError {
  constructor(taskId: string, last: string, message = `task '${taskId}': an entry (${last}) was appended before this process's own event`) {
    super(ErrorCode.StaleMailbox, message, { details: { taskId, last } });
  }
}

/** Redis refused a command: the connection's ACL user may not run it or touch its keys (NOPERM). */
export class RedisNoPermError extends BatonError {
  constructor(message: string, cause: unknown) {
    super(ErrorCode.RedisNoPerm, `Redis refused the command: ${message} (the ACL user needs Baton's keys, channels and commands; see docs/operate.md)`, { cause });
  }
}

/** Redis refused the connection's credentials (WRONGPASS, NOAUTH). */
export class RedisAuthError extends BatonError {
  constructor(message: string, cause: unknown) {
    super(ErrorCode.RedisAuth, `Redis refused the credentials: ${message}`, { cause });
  }
}

/** Redis could not be reached within `connectTimeoutMs`. Nothing was sent. */
export class RedisUnreachableError extends BatonError {
  constructor(address: string, timeoutMs: number, cause: string | undefined) {
    super(ErrorCode.RedisUnreachable, `Redis at ${address} is unreachable: ${cause ?? 'no answer'} (waited ${timeoutMs} ms; connectTimeoutMs)`, {
      details: { address, timeoutMs, cause },
    });
  }
}

/**
 * A write reached the Redis master but too few replicas acknowledged it in
 * time (`durability.replicas`, Redis `WAIT`): a failover now could lose it.
 * The write may or may not be kept; resending a `send` with the same
 * idempotency key is safe.
 */
export class NotReplicatedError extends BatonError {
  constructor(what: string, wanted: number, acknowledged: number, timeoutMs: number, why?: string) {
    super(
      ErrorCode.NotReplicated,
      why
        ? `${what} reached the Redis master but ${why}; it may or may not be kept (a resend with the same idempotency key is safe)`
        : `${what} reached the Redis master but ${acknowledged} of the ${wanted} replica(s) asked for acknowledged it within ${timeoutMs} ms; it may or may not be kept (a resend with the same idempotency key is safe)`,
      { details: { what, wanted, acknowledged, timeoutMs, ...(why ? { why } : {}) } },
    );
  }
}

/** A wait ran past its deadline. */
export class TimeoutError extends BatonError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCode.Timeout, message, { details });
  }
}

/** The runtime or client was closed. */
export class ClosedError extends BatonError {
  constructor() {
    super(ErrorCode.Closed, 'the runtime is closed');
  }
}

/** Options passed to Baton are invalid. */
export class InvalidOptionsError extends BatonError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.InvalidOptions, message, options);
  }
}
