/** Reusable orchestration statecharts. Plain XState and zod: no Redis, no runtime. */
export { durableSteps, defaultFailurePolicy, type DurableStepsOptions, type StepDefinition, type StepsState, type StepsOutput, type FailureDecision } from './durable-steps.js';
export { checkpointStates, checkpointDelays, queueUpdate, flushPending, type CheckpointContext, type CheckpointDelay, type CheckpointEvent, type CheckpointOptions, type PatternAction, type PatternStateConfig, type PendingUpdate, type UpdateAssessment, type UpdateRecord, type ProceedTransition } from './checkpoint.js';
export { parallelAgents, parallelAgentTasks, branchMachineName, type ParallelAgentsOptions, type ParallelResult, type Conflict, type ConflictDetector, type Reconciler } from './parallel-agents.js';
export { decisionPoint, type DecisionPointOptions, type DecisionPointOutput, type TimeoutPolicy } from './decision-point.js';
export { answers, awaitingOf, type OpenDecision, type Awaiting, type DecisionEvent, type DecisionRecord, type ContextUpdateEvent } from './types.js';
export { actorNow } from './clock.js';
