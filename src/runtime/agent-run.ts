import { BatonError, ErrorCode } from '../errors.js';
import { AGENT_ERROR, AGENT_RESULT } from '../actors/fromAgent.js';
import { encodeJson } from '../persistence/codec.js';
import type { AgentJobData } from './agent-queues.js';
import type { StreamWriter } from './agent-stream.js';

/** What an agent function receives. */
export interface AgentContext<TInput = unknown> {
  /** The invocation's input (validated by the `fromAgent` input schema). */
  input: TInput;
  /** Aborted when the invoking state is left, the attempt times out, or the worker shuts down. */
  signal: AbortSignal;
  /** Report progress; it reaches the task's progress subscribers in any process. */
  progress: (data: unknown) => Promise<void>;
  /** 1 for the first attempt, 2 for the first retry, … */
  attempt: number;
  /** The task that invoked the agent. */
  taskId: string;
  /** Deterministic id of this invocation (the same across retries). */
  jobId: string;
  /**
   * The task's durable stream: `await stream.write(chunk)` appends a chunk
   * (tokens, partial text, any JSON data) that every reader of the task's
   * stream gets, live or replayed, in order, once (`task.stream()`).
   */
  stream: StreamWriter;
}

/** An agent implementation: returns the output (JSON data) or throws. */
export type AgentFunction<TInput = any, TOutput = unknown> = (ctx: AgentContext<TInput>) => Promise<TOutput> | TOutput;

/** An agent implementation with worker-side limits. */
export interface AgentRegistration<TInput = any, TOutput = unknown> {
  run: AgentFunction<TInput, TOutput>;
  /**
   * Jobs of this agent run at once in this process (separately for in-process
   * runs and for jobs taken from the agent's queue).
   * @default 8
   */
  concurrency?: number;
  /** At most `max` jobs per `duration` ms across all workers (BullMQ's limiter). Implies `inProcess: false`. */
  limiter?: { max: number; duration: number };
  /**
   * Run invocations from tasks this process holds in this process, right
   * after the commit that started them, instead of through the agent's BullMQ
   * queue (no queue round trips; retries, backoff, timeout, cancel and
   * progress behave the same). Invocations beyond `concurrency`, from tasks
   * held elsewhere, or of agents with a `limiter` go through the queue.
   * @default true (false when `limiter` is set)
   */
  inProcess?: boolean;
}

/** What `agents` accepts: a function or a registration with limits. */
export type AgentEntry = AgentFunction | AgentRegistration;

/**
 * Throw this from an agent to fail the invocation at once, without retries.
 * (BullMQ's own `UnrecoverableError` is honoured too.)
 */
export class UnrecoverableError extends BatonError {
  constructor(message = 'the agent failed for good') {
    super(ErrorCode.Unrecoverable, message);
  }
}

/**
 * True when a write's failure says nothing of the write itself: Redis was
 * away (a connection error, REDIS, REDIS_UNREACHABLE) or too few replicas
 * acknowledged it (NOT_REPLICATED). Such a write is retried under its key.
 */
export function isOutage(err: unknown): boolean {
  if (!(err instanceof BatonError)) return true;
  return err.code === ErrorCode.Redis || err.code === ErrorCode.RedisUnreachable || err.code === ErrorCode.NotReplicated;
}

/** True for Baton's or BullMQ's `UnrecoverableError`. */
export function isUnrecoverable(err: Error): boolean {
  return err instanceof UnrecoverableError || err.name === 'UnrecoverableError';
}

/** The mailbox (or in-memory) event carrying an invocation's output. */
export function resultEvent(d: AgentJobData, output: unknown): Record<string, unknown> {
  return { type: AGENT_RESULT, jobId: d.jobId, agent: d.agent, childPath: d.childPath, output };
}

/** Idempotency key of an invocation's outcome in its task's mailbox: delivered once however often it runs. */
export function outcomeKey(d: AgentJobData): string {
  return `agent-${d.jobId}`;
}

/** The error record when attempt `attempt` of `attempts` failed for good, else undefined (retry). */
export function finalError(err: Error, attempt: number, attempts: number): Record<string, unknown> | undefined {
  return isUnrecoverable(err) || attempt >= attempts ? { name: err.name, message: err.message, attempts: attempt } : undefined;
}

/** The event carrying an invocation's final error. */
export function errorEvent(d: AgentJobData, error: Record<string, unknown>): Record<string, unknown> {
  return { type: AGENT_ERROR, jobId: d.jobId, agent: d.agent, childPath: d.childPath, error };
}

/** Abort reason: the invoking state was left. Nothing is delivered. */
export class Cancelled extends Error {
  constructor() {
    super('agent invocation cancelled: its invoking state was left');
    this.name = 'Cancelled';
  }
}

/** Abort reason: the process is closing. Nothing is delivered; the task's next holder runs it again. */
export class ShuttingDown extends Error {
  constructor() {
    super('agent invocation interrupted: the runtime is closing');
    this.name = 'ShuttingDown';
  }
}

/**
 * Run one attempt of an agent: the function races its abort signal, which
 * fires on cancel, shutdown or the attempt's `timeoutMs`. Resolves with the
 * output, rejects with what the agent threw (or the abort reason).
 */
export async function runAttempt(reg: AgentRegistration, d: AgentJobData, attempt: number, controller: AbortController, io: AttemptIo): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const aborted = new Promise<never>((_, reject) => {
    if (controller.signal.aborted) reject(controller.signal.reason);
    controller.signal.addEventListener(
      'abort',
      () => {
        // A cancelled invocation writes its stream no more (FENCED), even if its code carries on.
        if (controller.signal.reason instanceof Cancelled) io.stream.cancel();
        reject(controller.signal.reason);
      },
      { once: true },
    );
  });
  if (d.timeoutMs) {
    timer = setTimeout(() => controller.abort(new Error(`agent '${d.agent}' attempt timed out after ${d.timeoutMs} ms`)), d.timeoutMs);
  }
  try {
    return await Promise.race([
      Promise.resolve(
        reg.run({
          input: d.input,
          signal: controller.signal,
          attempt,
          taskId: d.taskId,
          jobId: d.jobId,
          stream: io.stream,
          progress: (data) => io.progress(encodeJson({ jobId: d.jobId, agent: d.agent, childPath: d.childPath, attempt, data, at: Date.now() })),
        }),
      ),
      aborted,
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Whatever an agent threw, as an Error (BullMQ needs one; so do readable results). */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : `agent threw ${JSON.stringify(thrown) ?? String(thrown)}`);
}

/** The output as JSON data, or the error result when it is larger than `maxBytes`. */
export function outputData(agent: string, output: unknown, maxBytes: number): { ok: true; data: unknown } | { ok: false; error: Record<string, unknown> } {
  const json = encodeJson(output ?? null);
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) return { ok: false, error: { name: 'OutputTooLarge', message: `agent '${agent}' output is ${bytes} bytes, over ${maxBytes}` } };
  return { ok: true, data: JSON.parse(json) };
}

/**
 * Where an invocation's outcome goes, whichever process ran it: the runtime
 * hands it to the task's host in memory when the host is here, else appends
 * it to the task's mailbox under its idempotency key ({@link outcomeKey}).
 */
export interface OutcomeDelivery {
  deliver(taskId: string, event: Record<string, unknown>, idempotencyKey: string): Promise<void>;
  /** What one attempt reports through: progress and the stream (`first`: see AgentStream). */
  attempt(d: AgentJobData, first: boolean): AttemptIo;
  log(msg: string, extra?: Record<string, unknown>): void;
}

/** An attempt's reporting: its progress reports (the JSON message) and its stream writer. */
export interface AttemptIo {
  progress(message: string): Promise<void>;
  stream: StreamWriter & { cancel(): void };
}
