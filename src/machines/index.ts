/** Reusable orchestration statecharts. Plain XState and zod: no Redis, no runtime. */
export { durableSteps, type DurableStepsOptions, type StepDefinition, type StepsState, type StepsOutput, type FailureDecision } from './durable-steps.js';
export { checkpointStates, checkpointDelays, queueUpdate, flushPending, type CheckpointContext, type CheckpointOptions, type PendingUpdate, type UpdateAssessment, type UpdateRecord, type ProceedTransition } from './checkpoint.js';
export { parallelAgents, type ParallelAgentsOptions, type ParallelResult, type Conflict, type ConflictDetector, type Reconciler } from './parallel-agents.js';
export { decisionPoint, type DecisionPointOptions, type DecisionPointOutput, type TimeoutPolicy } from './decision-point.js';
export { answers, type Awaiting, type DecisionEvent, type DecisionRecord, type ContextUpdateEvent } from './types.js';
