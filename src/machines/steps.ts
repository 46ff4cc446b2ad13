import { setup, type AnyActorLogic } from 'xstate';
import { checkpointDelays, type CheckpointContext, type CheckpointEvent, type PendingUpdate, type UpdateAssessment, type UpdateRecord } from './checkpoint.js';
import type { Awaiting, DecisionRecord } from './types.js';

/**
 * The shapes of a step sequence (`durableSteps`), shared by its parts:
 * the sequencing and the failure policy (`durable-steps.ts`), the saga
 * (`saga.ts`) and the checkpoints that take context updates (`step-updates.ts`).
 */

/** One step: actor logic (usually `fromAgent(...)`, which carries its own retry policy). */
export interface StepDefinition {
  /** Step name: key of its result. */
  name: string;
  /** The work. Registered in `setup({ actors })` as `step_<i>`. */
  run: AnyActorLogic;
  /** Input of the work. @default ({ input, results }) */
  input?: (state: StepsState) => unknown;
  /** Undo, run with `{ result, input }` when the sequence is compensated (saga). */
  compensate?: AnyActorLogic;
}

/** The committed state of a step sequence, as decision functions see it. */
export interface StepsState {
  /** The sequence's input, with absorbed context updates merged in. */
  input: Record<string, unknown>;
  /** Results by step name. */
  results: Record<string, unknown>;
  /** Steps skipped, and why. */
  skipped: Array<{ step: string; reason: string }>;
  /** Failures seen, with what was decided. */
  failures: Array<{ step: string; error: { name?: string; message?: string }; decision: string }>;
  /** Steps compensated, in the order they were undone. */
  compensated: string[];
  /** Names of the steps planned (absorbing an update may drop some, or re-open done ones with `redo`). */
  plan: string[];
  /** Retries so far, by step. */
  retries: Record<string, number>;
  /** Context updates received and not yet assessed (empty after every checkpoint). */
  pending: PendingUpdate[];
  /** Updates assessed: the outcome, the reason, the checkpoint and the answer when one was asked for. */
  updates: UpdateRecord[];
  /** Answers to decision points. */
  decisions: DecisionRecord[];
  /** The open decision, surfaced in the task view. */
  awaiting?: Awaiting;
  /** Recovery paths taken, by step. */
  recovered: Record<string, string>;
}

/** What to do when a step fails for good (its own retries exhausted). */
export type FailureDecision =
  | { action: 'retry' }
  | { action: 'skip'; reason: string }
  | { action: 'recover'; with: string; reason?: string }
  | { action: 'compensate'; reason?: string }
  | { action: 'fail'; reason?: string };

/** Options of {@link durableSteps}. */
export interface DurableStepsOptions {
  /** Machine id. */
  id: string;
  /** The steps, in order. */
  steps: StepDefinition[];
  /**
   * Decides, at run time from the state so far, what a failed step leads to.
   * @default compensate when a completed step has a compensation (the saga has something to undo), else fail
   */
  onFailure?: (failure: { step: string; error: { name?: string; message?: string }; state: StepsState }) => FailureDecision;
  /**
   * Recovery paths by name: each runs in place of the failed step and, on
   * success, the sequence continues; one that fails ends the sequence by the
   * default rule (the saga when a completed step has a compensation, else failed).
   */
  recovery?: Record<string, { run: AnyActorLogic; input?: (state: StepsState, failedStep: string) => unknown }>;
  /**
   * Mid-run context updates, assessed at each checkpoint: before every step
   * (`nextStep` is its name) and after the last one (`nextStep` undefined).
   * @default every update is ignored, with the reason that this sequence takes none
   */
  updates?: {
    assess: (update: Record<string, unknown>, state: StepsState, nextStep: string | undefined) => UpdateAssessment;
    /** Applies a human answer to a surfaced update. @default 'absorb' absorbs it as is, anything else ignores it */
    resolve?: (choice: string, update: Record<string, unknown>, state: StepsState) => UpdateAssessment;
  };
}

/** Output of a step sequence. */
export interface StepsOutput {
  outcome: 'done' | 'failed';
  results: Record<string, unknown>;
  skipped: StepsState['skipped'];
  failures: StepsState['failures'];
  compensated: string[];
  recovered: Record<string, string>;
  updates: StepsState['updates'];
  decisions: DecisionRecord[];
  input: Record<string, unknown>;
}

/** The machine's context: the state, the checkpoint's fields, the pending failure decision and the outcome. */
export type StepsContext = StepsState & CheckpointContext & { decision?: FailureDecision; outcome?: 'done' | 'failed' };

/** The setup of a step sequence: its actors are the steps, compensations and recovery paths, by generated name. */
export function stepsSetup(actors: Record<string, AnyActorLogic>) {
  return setup({
    types: {
      context: {} as StepsContext,
      input: {} as Record<string, unknown> | undefined,
      events: {} as CheckpointEvent,
      output: {} as StepsOutput,
    },
    actors,
    delays: checkpointDelays,
  });
}

/** A state node of a step sequence, typed by its setup. */
export type StepStateConfig = Parameters<ReturnType<typeof stepsSetup>['createStateConfig']>[0];

/** The error of a failed actor, as recorded in `failures`. */
export function errorOf(e: unknown): { name?: string; message?: string } {
  if (e && typeof e === 'object') {
    const o = e as { name?: unknown; message?: unknown };
    return { name: typeof o.name === 'string' ? o.name : undefined, message: typeof o.message === 'string' ? o.message : JSON.stringify(e) };
  }
  return { message: String(e) };
}
