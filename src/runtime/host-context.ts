import type { TaskStore } from '../persistence/task-store.js';
import type { Clock } from './clock.js';
import type { Inspector } from './inspection.js';
import type { AgentSink } from './local-agents.js';
import type { TaskSink } from './outbox.js';

/** Where a host is in its life. */
export enum HostPhase {
  /** Restored; its first step (the spawn commit, or re-sending what the restore decided) is next. */
  Starting = 'starting',
  /** Applying the mailbox and committing each step. */
  Running = 'running',
  /** Passivating: finishing the work in hand, then releasing the lease. */
  Releasing = 'releasing',
  /** No longer holds the task. */
  Gone = 'gone',
}

/** Why a host stopped holding its task. */
export type GoneReason = 'finished' | 'fenced' | 'released' | 'quarantined' | 'lost' | 'stale';

/** What a task host needs from its runtime. */
export interface HostContext {
  store: TaskStore;
  clock: Clock;
  /** This process's owner id (the lease holder's name). */
  owner: string;
  leaseMs: number;
  /** Number of history entries kept per task. */
  historyLimit: number;
  log: (msg: string, extra?: Record<string, unknown>) => void;
  /** True while an agent invoked by the task runs in this process (its outcome comes back to the host in memory). */
  agentsRunning: (taskId: string) => boolean;
  /** Called once the actor is restored, before its first step: the host holds the task from now on. */
  onHeld: (host: HeldTask) => void;
  /** Called once when the host stops holding the task. */
  onGone: (host: HeldTask, why: GoneReason) => void;
  /** Called when the host's loop has nothing left to do (for now). */
  onIdle: (host: HeldTask) => void;
  /** Where agent invocations are started (in process or enqueued) and cancelled. */
  agents: AgentSink;
  /** Where child tasks are created and events to other tasks delivered. */
  tasks: TaskSink & {
    /** Tell a child task's parent that it ended (its outcome goes to the parent's mailbox under `task-<child id>`). */
    ended(child: { id: string; parent: string; path: string[] }, outcome: ChildOutcome): Promise<void>;
  };
  /** Deepest chain of child tasks allowed. */
  maxTaskDepth: number;
  /** The user's XState inspector; events reach it with stable ids (see inspection.ts). */
  inspect?: Inspector;
}

/** How a child task ended, as its parent is told. */
export type ChildOutcome = { status: 'done'; output: unknown } | { status: 'error' | 'stopped'; error: unknown };

/** What the runtime sees of a task held here: the host's narrow face. */
export interface HeldTask {
  readonly id: string;
  /** True once the host no longer holds the task. */
  readonly isGone: boolean;
  /** Clock time of the last step or wake: idle hosts are passivated. */
  readonly lastActivity: number;
  /** No step in hand: nothing to apply, no commit in flight, no agent running here for it. */
  readonly settled: boolean;
  /** Settled, and no in-process child in flight: the actor may leave memory. */
  readonly passivatable: boolean;
  /** New entries may be in the mailbox stream. */
  poke(): void;
  /** An entry appended to the mailbox (by this process, or announced by a wake notice). */
  offer(id: string, prev: string | undefined, event: string): void;
  /** The outcome of an agent run in this process, handed over in memory. */
  offerAgentOutcome(event: { type: string; [k: string]: unknown }): void;
  /** An event sent from this process: committed with the step that applies it; undefined: send it through the mailbox. */
  sendLocal(event: string, token: string): Promise<string | undefined>;
  /** While a passivation is under way: settles when it has (the host then either let the task go or kept it). */
  readonly releasing: Promise<unknown> | undefined;
  /** Passivate: finish the work in hand and release the lease (false when events kept coming). */
  release(attempts?: number): Promise<{ nextDue: number | undefined } | false>;
  /** Stop holding the task without committing. */
  drop(why: 'fenced' | 'lost' | 'stale'): void;
}
