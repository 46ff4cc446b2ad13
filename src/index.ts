/**
 * Baton: a durable actor runtime for long-running AI-agent tasks.
 *
 * Each task is an XState v5 actor whose snapshot is committed to Redis after
 * every step, fed by a durable mailbox and advanced by one writer at a time.
 */
export { createRuntime, createWorker, Runtime, type RuntimeOptions } from './runtime/runtime.js';
export { fromAgent, type AgentSchemas, type AgentSnapshot } from './actors/fromAgent.js';
export { fromTask, TASK_DONE, TASK_ERROR, type TaskSchemas, type ChildTaskSnapshot } from './actors/fromTask.js';
export { sendToTask, type SendToTaskArgs, type SendToTaskOptions } from './actors/sendToTask.js';
export * from './machines/index.js';
export {
  UnrecoverableError,
  type AgentContext,
  type AgentFunction,
  type AgentRegistration,
  type AgentEntry,
} from './runtime/agent-run.js';
export type { StreamWriter } from './runtime/agent-stream.js';
export type { StreamOptions } from './runtime/task-stream.js';
export type { StreamItem } from './persistence/stream-store.js';
export {
  createClient,
  BatonClient,
  type TaskApi,
  type ClientOptions,
  type SendOptions,
  type SendReceipt,
  type SpawnOptions,
  type WaitOptions,
  type HistoryEntry,
  type ListOptions,
  type TaskHandle,
  type TaskWatch,
  type Subscription,
  type AgentProgress,
  type MachineInfo,
} from './runtime/client.js';
export { defineTask, type TaskDefinition, type TaskDefinitionOptions, type MachineEntry } from './runtime/definition.js';
export { ManualClock, systemClock, type Clock } from './runtime/clock.js';
export type { ConnectionOption } from './runtime/connection.js';
export type { TaskView, TaskStatus, ChildView, Rejection } from './persistence/view.js';
export { machineGraph, describeEvent, type MachineGraph, type GraphNode, type GraphEdge } from './runtime/machine-graph.js';
export { describeMachine } from './runtime/machine-schemas.js';
export type { MachineRecord } from './persistence/registry-store.js';
export type { PersistedTimer } from './persistence/codec.js';
export type { SchemaLike } from './persistence/validate.js';
export {
  BatonError,
  ErrorCode,
  InvalidEventError,
  InvalidInputError,
  InvalidIdError,
  PayloadTooLargeError,
  UnknownMachineError,
  TaskNotFoundError,
  TaskExistsError,
  TaskNotRunningError,
  FencedError,
  TimeoutError,
  ClosedError,
  InvalidOptionsError,
  RedisNoPermError,
  RedisAuthError,
  RedisUnreachableError,
  NotReplicatedError,
} from './errors.js';
