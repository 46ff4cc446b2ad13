import type { AnyActor, AnyActorRef, InspectionEvent } from 'xstate';
import { FencedError, NotReplicatedError, StaleMailboxError } from '../errors.js';
import type { StateFields } from '../persistence/task-store.js';
import type { TaskStatus } from '../persistence/view.js';
import { Commits, type Append, type Capture } from './commit.js';
import { InputRefusedError } from './committed-state.js';
import { definitionRules, type TaskDefinition } from './definition.js';
import type { EventRules } from '../persistence/validate.js';
import { agentStep, decodeEntry, entryStep } from './decode-entry.js';
import { HostPhase, type GoneReason, type HeldTask, type HostContext } from './host-context.js';

export { HostPhase };
import { ActorEvents } from './actor-events.js';
import { HostMailbox, type AnyEvent, type Entry, type LocalSend } from './mailbox.js';
import { quiescent } from './quiescence.js';
import { passivate, tracked } from './passivation.js';
import { restoreActor } from './restore.js';
import { StateDelta } from './state-delta.js';
import { captureTimers } from './timers.js';
import { outcomeOf, readLink, storedOutbox, type TaskLink } from './task-link-fields.js';


/**
 * Holds one running task in this process: its XState actor, restored from
 * the last commit, a run loop that applies what the mailbox hands out, one
 * step at a time, and the commit path that records each step. Transitions
 * the actor makes on its own (timers, promise children) are captured as they
 * happen and committed before anything still unapplied. A commit refused by
 * the fence lets the task go at once: another process owns it.
 */
export class TaskHost implements HeldTask {
  private actor!: AnyActor;
  private phase = HostPhase.Starting;
  private firstStep: 'spawn' | 'restore' = 'spawn';
  /** The first step has not run yet (it may still be pending when a release begins). */
  private firstPending = true;
  private readonly mailbox: HostMailbox;
  private readonly commits: Commits;
  private readonly events = new ActorEvents();
  private readonly rules: EventRules;
  /** True while the host stops the actor on purpose and children stopping should cancel their agent work (a user's stop). */
  private cancelOnStop = false;
  private pumping: Promise<void> | undefined;
  private again = false;

  /** Clock time of the last step or wake: idle hosts are passivated. */
  lastActivity: number;
  /** The task that started this one with `fromTask`, and where its invoking actor is. */
  private readonly link: TaskLink | undefined;

  private constructor(
    readonly id: string,
    readonly machineName: string,
    readonly def: TaskDefinition,
    epoch: number,
    private readonly fields: StateFields,
    private readonly ctx: HostContext,
    fresh: boolean,
  ) {
    const createdAt = Number(fields.createdAt ?? ctx.clock.now());
    this.lastActivity = ctx.clock.now();
    this.link = readLink(fields);
    this.commits = new Commits({ id, machine: machineName, version: def.version, createdAt, depth: this.link?.depth ?? 0 }, fields, ctx, () => this.isGone);
    this.commits.epoch = epoch;
    this.mailbox = new HostMailbox(id, ctx.store, fields.cursor ?? '0-0', fresh);
    this.rules = definitionRules(def);
  }

  /**
   * Restore (or create) the actor from committed fields and start applying the
   * mailbox. Resolves with the host, or undefined when the task was quarantined
   * or its input refused. `fresh`: this process's spawn script created it just now.
   */
  static async start(ctx: HostContext, taskId: string, machineName: string, def: TaskDefinition, epoch: number, fields: StateFields, fresh = false): Promise<TaskHost | undefined> {
    const host = new TaskHost(taskId, machineName, def, epoch, fields, ctx, fresh);
    try {
      host.restore();
    } catch (err) {
      host.phase = HostPhase.Gone;
      await host.endUnrun(err instanceof InputRefusedError ? 'refused' : 'quarantined', err instanceof Error ? err.message : String(err));
      return undefined;
    }
    // The first step runs in the loop, so a wake or an agent outcome arriving now is applied after it, never beside it.
    host.firstStep = host.commits.seq === 0 ? 'spawn' : 'restore';
    ctx.onHeld(host);
    void host.pump();
    return host;
  }

  /** True once the host no longer holds the task. */
  get isGone(): boolean {
    return this.phase === HostPhase.Gone;
  }

  /** Where the host is in its life. */
  get state(): HostPhase {
    return this.phase;
  }

  private restore(): void {
    const r = restoreActor({
      taskId: this.id,
      machineName: this.machineName,
      def: this.def,
      fields: this.fields,
      ctx: this.ctx,
      bridge: this.commits.bridge(() => this.phase === HostPhase.Gone && !this.cancelOnStop),
      onInspect: (ev) => this.onInspect(ev),
      starting: (on) => (this.events.starting = on),
      // Nothing the stop does may be captured or committed: the quarantine keeps the snapshot.
      onFailure: () => (this.phase = HostPhase.Gone),
    });
    this.actor = r.actor;
    // Agent children restored active re-dispatch their invocation: it may have run already.
    if (r.fromSnapshot) this.commits.outbox.markRestored();
    // The sends and spawns the last commit decided may not have been done (a crash right after it): again, under their keys and ids.
    const stored = storedOutbox(this.fields);
    for (const send of stored.sends) this.commits.outbox.sendToTask(send);
    for (const spawn of stored.spawns) this.commits.outbox.spawnTask(spawn);
    // What the first commit writes: what differs between the restored actor and the stored parts (all of a task never stored in parts).
    this.commits.delta = new StateDelta(this.fields, this.actor);
    this.commits.from = this.actor.getSnapshot().value;
    this.commits.captured.length = 0;
  }

  private onInspect(ev: InspectionEvent): void {
    if (this.isGone) return;
    // The delta of the next capture looks only at the actors that moved.
    if (ev.type === '@xstate.snapshot') this.commits.dirty.add(ev.actorRef as AnyActorRef);
    this.events.inspect(ev, this.actor, this.moved);
  }

  /** The actor moved on its own: capture it, and run the loop after the rest of this synchronous cascade. */
  private readonly moved = (cause: AnyEvent): void => {
    this.commits.captureOwn(this.actor, cause);
    queueMicrotask(() => void this.pump());
  };

  /** Something arrived (or may have): the host is active, and its loop runs when `run` is true. */
  private touched(run = true): void {
    this.lastActivity = this.ctx.clock.now();
    if (run) void this.pump();
  }

  /** New entries may be in the mailbox stream (a wake notice that did not carry them, a reconnect). */
  poke(): void {
    this.mailbox.poke();
    this.touched();
  }

  /** An entry appended here or announced by a wake notice. */
  offer(id: string, prev: string | undefined, event: string): void {
    this.touched(this.mailbox.offer(id, prev, event));
  }

  /**
   * The outcome of an agent run in this process: applied like a promise
   * child's, as a step of its own committed at the current cursor. Lost with
   * the process, it is re-run by the restored child (its commit never landed).
   */
  offerAgentOutcome(event: AnyEvent): void {
    this.mailbox.offerAgentOutcome(event);
    this.touched();
  }

  /**
   * An event sent from this process (no idempotency key): applied after every
   * entry already in the mailbox and appended by the commit that records it
   * (one script). Resolves with the entry id once committed, or undefined when
   * the caller must send it through the mailbox instead (the host let the
   * task go, or an entry came in between: the commit wrote nothing, and the
   * send's token makes the fallback append once even if it did).
   */
  sendLocal(event: string, token: string): Promise<string | undefined> {
    if (this.phase === HostPhase.Gone || this.phase === HostPhase.Releasing) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.mailbox.offerLocal({ event, token, resolve });
      this.touched();
    });
  }

  /** Run the loop if it is not running; resolves when it is idle. */
  pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return this.pumping;
    }
    this.pumping = (async () => {
      do {
        this.again = false;
        await this.run();
      } while (this.again && !this.isGone);
      // Cleared in the same continuation as the last check: a poke can never fall between them.
      this.pumping = undefined;
      this.ctx.onIdle(this);
    })();
    return this.pumping;
  }

  private async run(): Promise<void> {
    try {
      while (!this.isGone) {
        if (this.firstPending) {
          this.firstPending = false;
          if (this.phase === HostPhase.Starting) this.phase = HostPhase.Running;
          if (this.firstStep === 'spawn') await this.step(() => undefined, { type: 'baton.spawn' }, this.commits.cursor);
          else await this.commits.outbox.flush(() => this.isGone);
          continue;
        }
        // Captured transitions happened before anything still unapplied: they go first, in order.
        const captured = this.commits.captured.shift();
        if (captured) {
          await this.commit(captured, this.commits.cursor);
          continue;
        }
        const pending = this.mailbox.next();
        const next = pending instanceof Promise ? await pending : pending;
        // A step waits only when its commit must land first (effects, an ending, a full pipeline): else no await, no microtask.
        let wait: Promise<void> | undefined;
        if (next?.kind === 'agent') wait = this.applyAgentEvent(next.event);
        else if (next?.kind === 'entry') wait = this.apply(next.entry);
        else if (next?.kind === 'local') wait = this.apply({ id: next.id, event: next.local.event }, { local: next.local, expectLast: next.expectLast });
        else if (next?.kind === 'read') continue;
        else if (this.commits.busy) await this.commits.drain();
        else break;
        if (wait) await wait;
      }
    } catch (err) {
      this.onFailure(err);
    }
  }

  private onFailure(err: unknown): void {
    // A stale mailbox: our own event's commit met an entry it did not know (nothing written); start again from the last commit.
    const [why, msg]: ['stale' | 'fenced' | 'lost', string] =
      err instanceof StaleMailboxError
        ? ['stale', 'the mailbox is not as this process saw it; restoring the task from its last commit']
        : err instanceof FencedError
          ? ['fenced', 'fenced: another process took the task over; dropping it']
          : err instanceof NotReplicatedError
            ? ['lost', 'a commit was not acknowledged by enough replicas; dropping the task (it is resumed from what Redis kept)']
            : ['lost', 'task loop failed; dropping the task (its lease expires and another activation resumes it)'];
    this.ctx.log(msg, why === 'fenced' ? { taskId: this.id } : { taskId: this.id, error: err instanceof Error ? err.message : String(err) });
    this.drop(why);
  }

  /** Apply one mailbox entry (or, with `local`, an event sent from this process that its commit appends). */
  private apply(entry: Entry, local?: { local: LocalSend; expectLast: string }): Promise<void> | undefined {
    const append = local ? { local: local.local, append: { event: local.local.event, expectLast: local.expectLast, token: local.local.token } } : undefined;
    // This process's own sends were checked by this machine's rules already (client.send): not twice.
    const d = decodeEntry(entry, local ? undefined : this.rules);
    if (d.kind === 'refused') this.commits.refused({ entry: entry.id, ...(d.type ? { type: d.type } : {}), reason: d.reason, at: this.ctx.clock.now() });
    const s = d.kind === 'agent' ? agentStep(this.actor, d.event, entry.id) : entryStep(this.actor, d, entry.id);
    return s ? this.step(s.change, s.event, entry.id, s.force, append) : undefined;
  }

  /** An agent's outcome handed over in memory (no mailbox entry): dropped when its child left. */
  private applyAgentEvent(ev: AnyEvent): Promise<void> | undefined {
    const s = agentStep(this.actor, ev, undefined);
    return s ? this.step(s.change, s.event, this.commits.cursor) : undefined;
  }

  /** Run `change` on the actor, then commit what it changed with `cursor` (a promise only when the loop must wait: see commit). */
  private step(change: () => void, event: AnyEvent, cursor: string, force?: TaskStatus, local?: { local: LocalSend; append: Append }): Promise<void> | undefined {
    this.events.during(change);
    return this.commit(this.commits.capture(this.actor, event, force), cursor, local);
  }

  private commit(c: Capture, cursor: string, local?: { local: LocalSend; append: Append }): Promise<void> | undefined {
    this.lastActivity = this.ctx.clock.now();
    const wait = this.commits.commit(c, cursor, local?.append, local ? (landed) => this.mailbox.track(local.local, cursor, landed) : undefined);
    // An ending always waits for its commit (Commits.commit), then lets the task go.
    return c.status === 'active' ? wait : wait?.then(() => this.finish(c.status));
  }

  /**
   * Let the task go: stop the actor, send this process's uncommitted local
   * sends through the mailbox, and tell the runtime. `cancel`: children
   * stopping now cancel their agent work (a user's stop); otherwise they
   * persist (the next holder restores them).
   */
  private letGo(why: GoneReason, cancel = false): void {
    this.phase = HostPhase.Gone;
    this.mailbox.failLocals(this.commits.pending);
    this.cancelOnStop = cancel;
    this.actor?.stop();
    this.cancelOnStop = false;
    this.ctx.onGone(this, why);
  }

  private finish(status: TaskStatus): void {
    const snap = this.actor.getSnapshot() as { output?: unknown; error?: unknown };
    // A task stopped by the user cancels the agent work it still has in flight; other endings already stopped their children.
    this.letGo('finished', status === 'stopped');
    void this.afterEnd(status, snap).catch(() => undefined);
  }

  /**
   * What a task that ended still owes: the last effects (one try: the task
   * is over), then, for a child task, telling its parent. The task stays due
   * until both are done, so should this process die first, a sweeper's
   * activation finds it ended and does them again (TaskLinks.finishEnded).
   */
  private async afterEnd(status: TaskStatus, snap: { output?: unknown; error?: unknown }): Promise<void> {
    const outbox = this.commits.outbox;
    if (outbox.pending && !(await outbox.perform(outbox.take(), () => false, true))) return;
    if (this.link) await this.ctx.tasks.ended({ id: this.id, ...this.link }, outcomeOf(status, snap));
    await this.ctx.store.clearDue(this.id);
  }

  /**
   * True when the actor can leave memory without losing work: settled, and
   * no in-process child (promise, callback, observable) in flight. Machine
   * and agent children persist fully.
   */
  get passivatable(): boolean {
    return !this.isGone && this.settled && quiescent(this.actor);
  }

  /** True when the host has no step in hand: nothing to apply, no commit in flight, no agent running here for it. */
  get settled(): boolean {
    if (this.isGone) return true;
    return !this.pumping && !this.commits.captured.length && this.mailbox.empty && !this.ctx.agentsRunning(this.id);
  }

  /** Stop holding the task without committing (fenced, lease lost, runtime dying). */
  drop(why: 'fenced' | 'lost' | 'stale'): void {
    if (!this.isGone) this.letGo(why);
  }

  /** End a task that never runs here (see Commits.endUnrun), then tell the runtime. */
  private async endUnrun(how: 'quarantined' | 'refused', reason: string): Promise<void> {
    this.ctx.log(how === 'quarantined' ? 'task quarantined' : 'spawn input refused; the task ends in error', { taskId: this.id, reason });
    await this.commits.endUnrun(how, reason, Number(this.fields.version ?? 0));
    this.ctx.onGone(this, how === 'quarantined' ? 'quarantined' : 'finished');
    // A refused input ends the task: its parent hears of it. (A quarantined child waits for an operator, so does its parent.)
    if (how === 'refused' && this.link) await this.ctx.tasks.ended({ id: this.id, ...this.link }, { status: 'error', error: { name: 'INVALID_INPUT', message: reason } }).catch(() => undefined);
  }

  /**
   * Passivate: finish the work in hand, then release the lease unless events
   * wait in the mailbox (see passivation.ts). The earliest timer's deadline,
   * or false when it could not let go.
   */
  release(attempts = 5): Promise<{ nextDue: number | undefined } | false> {
    return (this.releasing = tracked(this.passivate(attempts), (p) => this.releasing === p && (this.releasing = undefined)));
  }

  /** The passivation under way, if any (see HeldTask.releasing). */
  releasing: Promise<unknown> | undefined;

  private passivate(attempts: number): Promise<{ nextDue: number | undefined } | false> {
    return passivate(
      {
        id: this.id,
        begin: () => {
          if (this.phase === HostPhase.Releasing || this.phase === HostPhase.Gone) return false;
          this.phase = HostPhase.Releasing;
          return true;
        },
        end: () => {
          if (this.phase === HostPhase.Releasing) this.phase = HostPhase.Running;
        },
        gone: () => this.isGone,
        drain: () => this.pump(),
        nextDue: () => captureTimers(this.actor, this.ctx.clock)[0]?.dueAt,
        epoch: this.commits.epoch,
        released: () => this.letGo('released'),
        failed: (err) => this.onFailure(err),
        raced: () => this.mailbox.poke(),
      },
      this.ctx,
      attempts,
    );
  }
}
