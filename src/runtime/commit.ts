import type { AnyActor, AnyActorRef } from 'xstate';
import type { AgentBridge } from '../actors/agent-bridge.js';
import { BatonError, ErrorCode, FencedError } from '../errors.js';
import { encodeJson } from '../persistence/codec.js';
import { OUTBOX_FIELD, type CommitArgs, type StateFields } from '../persistence/task-store.js';
import { decodeRejections, encodeNotice, noticeHead, REJECTIONS_KEPT, type NoticeFields, type Rejection, type TaskStatus } from '../persistence/view.js';
import type { HostContext } from './host-context.js';
import type { AnyEvent } from './mailbox.js';
import { hasEffects, mergeEffects, Outbox, type Effects } from './outbox.js';
import { retry } from './retry.js';
import { captureTimers } from './timers.js';
import { mergeDelta, type Delta, type StateDelta } from './state-delta.js';
import { PARTS_FORMAT } from '../persistence/parts.js';

/** A step ready to commit: the actor's state when it was taken and the effects it decided. */
export interface Capture {
  event: AnyEvent;
  status: TaskStatus;
  /** The parts of the actor tree that changed since the previous capture. */
  parts: Delta;
  timers: string;
  value: string;
  effects: Effects;
  /** The refusals list (JSON) when this step added one, else undefined (left as stored). */
  rejections?: string;
}

/** An event sent from the holder's own process that this commit appends (its id is the cursor). */
export interface Append {
  event: string;
  expectLast: string;
  token: string;
}


/** Commits in flight per task before the loop waits for them. */
const MAX_INFLIGHT = 32;

/**
 * The commit path of one held task: captures of the actor's state, the
 * pipeline of fenced commit scripts (one per step, in seq order on one
 * connection, retried while Redis is unreachable), and the effects each step
 * decided, sent only once its commit landed (the outbox).
 */
export class Commits {
  /** Seq of the last commit sent. */
  seq: number;
  /** Mailbox cursor of the last commit sent. */
  cursor: string;
  /** Transitions the actor made on its own (timers, promise children), captured as they happened, not yet sent. */
  readonly captured: Capture[] = [];
  readonly outbox: Outbox;
  private fromValue = 'null';
  /** Commits sent and not yet confirmed, oldest first. */
  private readonly inflight: Promise<void>[] = [];
  /** True while the current synchronous cascade already has a capture (a microtask clears it). */
  private capturing = false;
  private rejections: Rejection[];
  private rejectionsChanged = false;
  /** The delta encoder (set by the host once the actor is restored). */
  delta!: StateDelta;
  /** Actors whose snapshot changed since the last capture (the host adds them from XState's inspection events). */
  readonly dirty = new Set<AnyActorRef>();
  /** Timers JSON of the last commit sent: unchanged timers are not written again. */
  private timersSent: string | undefined;
  /** The task was stored in format 1 (one snapshot field): its first commit converts it. */
  private upgrade: boolean;
  /** The state hash holds an earlier step's sends and spawns (`o`): the next commit deletes them (they were done). */
  private outboxStored: boolean;
  /** Sends recorded in the change being made now, and the seq they belong to (their keys count within a commit). */
  private sendSeq = 0;
  private sendIndex = 0;

  constructor(
    private readonly task: { id: string; machine: string; version: number; createdAt: number; depth: number },
    fields: StateFields,
    private readonly ctx: HostContext,
    /** True once the host let the task go: effects are then abandoned (a restore re-dispatches). */
    private readonly abandoned: () => boolean,
  ) {
    this.seq = Number(fields.seq ?? 0);
    this.cursor = fields.cursor ?? '0-0';
    this.rejections = decodeRejections(fields.rejections);
    this.timersSent = fields.timers;
    this.upgrade = fields.format !== PARTS_FORMAT;
    this.outboxStored = fields.o !== undefined;
    this.outbox = new Outbox(task.id, ctx.agents, ctx.tasks, ctx.log);
  }

  /** The root state value committed last (the next history entry's `from`). */
  set from(value: unknown) {
    this.fromValue = JSON.stringify(value ?? null);
  }

  /**
   * The agent bridge of the task's actor: agent children dispatch, cancel and
   * start their work through the outbox, after the commit that decided it.
   * `stopping`: the host itself is stopping the actor (its children persist).
   */
  bridge(stopping: () => boolean): AgentBridge {
    const outbox = this.outbox;
    return {
      taskId: this.task.id,
      // The seq advances when a step is sent to Redis, so a change made now lands in the next commit.
      nextSeq: () => this.nextSeq(),
      dispatch: (spec) => outbox.dispatch(spec),
      cancel: (jobId, agent) => outbox.cancel({ jobId, agent }),
      afterCommit: (start) => outbox.start(start),
      get stopping() {
        return stopping();
      },
      depth: this.task.depth,
      maxDepth: this.ctx.maxTaskDepth,
      spawnTask: (spec) => outbox.spawnTask(spec),
      sendToTask: (spec) => outbox.sendToTask({ ...spec, key: spec.key ?? this.sendKey() }),
    };
  }

  /** The idempotency key of a send decided now: task, commit seq and its place among the commit's sends. */
  private sendKey(): string {
    const seq = this.nextSeq();
    if (seq !== this.sendSeq) {
      this.sendSeq = seq;
      this.sendIndex = 0;
    }
    return `send-${this.task.id}-${seq}-${this.sendIndex++}`;
  }

  /** Seq of the commit the change being made now will be part of. */
  nextSeq(): number {
    // Captures waiting to be sent take the seqs after the committed one; a cascade's capture is replaced, not added.
    return this.seq + this.captured.length + (this.capturing && this.captured.length > 0 ? 0 : 1);
  }

  /** Everything a commit needs from the actor, taken now (the seq is assigned when it is sent). */
  capture(actor: AnyActor, event: AnyEvent, force?: TaskStatus): Capture {
    const snap = actor.getSnapshot();
    const status: TaskStatus = force ?? (snap.status === 'done' ? 'done' : snap.status === 'error' ? 'error' : 'active');
    const timers = status === 'active' ? captureTimers(actor, this.ctx.clock) : [];
    const rejections = this.rejectionsChanged ? JSON.stringify(this.rejections) : undefined;
    this.rejectionsChanged = false;
    const parts = this.delta.take(actor, this.dirty);
    this.dirty.clear();
    return {
      event,
      status,
      parts,
      timers: JSON.stringify(timers),
      value: encodeJson(snap.value ?? null),
      effects: this.outbox.take(),
      rejections,
    };
  }

  /**
   * The actor moved on its own: capture it now, so every such transition gets
   * its own commit. A cascade within one synchronous run (a child finishing,
   * then its parent moving) is one capture: the later snapshot supersedes the
   * earlier and their effects are merged.
   */
  captureOwn(actor: AnyActor, event: AnyEvent): void {
    const last = this.captured[this.captured.length - 1];
    const c = this.capture(actor, event);
    if (this.capturing && last) {
      mergeEffects(last.effects, c.effects);
      this.captured[this.captured.length - 1] = { ...c, parts: mergeDelta(last.parts, c.parts), effects: last.effects, event: last.event, rejections: c.rejections ?? last.rejections };
    } else {
      this.captured.push(c);
      this.capturing = true;
      queueMicrotask(() => (this.capturing = false));
    }
  }

  /** Record an event refused at apply: kept (the last few) in the task's view, written by the next capture's commit. */
  refused(r: Omit<Rejection, 'seq'>): void {
    this.rejections = [...this.rejections, { ...r, seq: this.seq + 1 }].slice(-REJECTIONS_KEPT);
    this.rejectionsChanged = true;
  }

  /**
   * Commit a capture with `cursor`. Pipelined: returns once sent (undefined),
   * unless the step has effects, ends the task or fills the pipeline, when it
   * returns a promise of the commits in flight landing (and then of the
   * effects being sent). `onSent` sees the commit's promise (a local send
   * resolves once it lands).
   */
  commit(c: Capture, cursor: string, append?: Append, onSent?: (landed: Promise<void>) => void): Promise<void> | undefined {
    const now = this.ctx.clock.now();
    const seq = this.seq + 1;
    // One object shape for every commit (no conditional spreads): the commit path stays monomorphic.
    const notice: NoticeFields = {
      machine: this.task.machine,
      version: this.task.version,
      status: c.status,
      seq,
      updatedAt: now,
      createdAt: this.task.createdAt,
      reason: undefined,
      cursor,
      rejections: this.rejections.length ? this.rejections : undefined,
      base: seq - 1,
    };
    const timers = c.timers === this.timersSent ? '' : c.timers;
    this.timersSent = c.timers;
    const args = this.args(seq, cursor, now, this.epoch, this.withOutbox(c, seq), timers, c.status, encodeJson(c.event), this.fromValue, c.value, noticeHead(this.task.id, notice, c.timers));
    args.append = append;
    args.rejections = c.rejections;
    args.upgrade = this.upgrade;
    this.upgrade = false;
    // Commits land in order (one connection, seq-checked); a refused one drops the host before anything depends on it.
    this.seq = seq;
    this.cursor = cursor;
    this.fromValue = c.value;
    const sent = this.write(args);
    // Observed through drain(); a refusal that lands after the host let the task go is only logged here.
    sent.catch((err: unknown) => {
      if (err instanceof FencedError && this.abandoned()) this.ctx.log('fenced: a commit in flight when the task was let go was refused', { taskId: this.task.id, seq });
    });
    onSent?.(sent);
    this.inflight.push(sent);
    if (hasEffects(c.effects)) return this.drain().then(() => void this.outbox.perform(c.effects, this.abandoned)); // effects only after the commit that decided them
    if (c.status !== 'active' || this.inflight.length >= MAX_INFLIGHT) return this.drain();
    return undefined;
  }

  /**
   * The parts a commit writes, with the step's sends to other tasks and the
   * child tasks it starts as the field `o`: committed with the step, so a
   * restore after a crash between the commit and the effects does them (under
   * the same keys and ids). Nothing else re-drives them: a send leaves nothing
   * in the snapshot, and a restored `fromTask` does not spawn again. The next
   * commit deletes them: the loop did them before it (a step with effects
   * waits for them).
   */
  private withOutbox(c: Capture, seq: number): Delta {
    const { send, spawn } = c.effects;
    if (send.length || spawn.length) {
      this.outboxStored = true;
      return { set: [...c.parts.set, OUTBOX_FIELD, encodeJson({ seq, sends: send, spawns: spawn })], del: c.parts.del };
    }
    if (!this.outboxStored) return c.parts;
    this.outboxStored = false;
    return { set: c.parts.set, del: [...c.parts.del, OUTBOX_FIELD] };
  }

  /** The commit that ends a task before it ever ran: its spawn input failed the machine's own schema. */
  async refuseInput(epoch: number, reason: string): Promise<void> {
    const now = this.ctx.clock.now();
    const seq = this.seq + 1;
    const notice: NoticeFields = { machine: this.task.machine, version: this.task.version, status: 'error', seq, updatedAt: now, createdAt: this.task.createdAt, reason, cursor: this.cursor, base: seq - 1 };
    const args = this.args(seq, this.cursor, now, epoch, { set: [], del: [] }, '[]', 'error', encodeJson({ type: 'baton.rejected', input: true, reason }), 'null', 'null', noticeHead(this.task.id, notice, '[]'));
    args.reason = reason;
    await this.write(args);
  }

  /** Quarantine the task (a snapshot that does not restore): status and reason, its state kept as it is for inspection. */
  async quarantine(storedVersion: number, reason: string): Promise<void> {
    const now = this.ctx.clock.now();
    const notice = encodeNotice(this.task.id, { machine: this.task.machine, version: storedVersion, status: 'quarantined', seq: this.seq, updatedAt: now, createdAt: this.task.createdAt, reason, base: this.seq }, '[]');
    await this.ctx.store.quarantine(this.task.id, { epoch: this.epoch, reason, now, owner: this.ctx.owner, notice });
  }

  /**
   * End a task that never runs here: quarantined (its snapshot does not
   * restore; kept as it is, for inspection) or its spawn input refused by the
   * machine's own schema (status `error`). One fenced write; fenced is fine
   * (another process owns the task now).
   */
  async endUnrun(how: 'quarantined' | 'refused', reason: string, storedVersion: number): Promise<void> {
    try {
      if (how === 'quarantined') await this.quarantine(storedVersion, reason);
      else await this.refuseInput(this.epoch, reason);
      await this.ctx.store.clearDue(this.task.id);
    } catch (err) {
      if (!(err instanceof FencedError)) throw err;
    }
  }

  /** Wait for every commit in flight, in order; throws the first failure. */
  async drain(): Promise<void> {
    while (this.inflight.length) {
      await this.inflight[0];
      this.inflight.shift();
    }
  }

  /** True while commits are in flight. */
  get busy(): boolean {
    return this.inflight.length > 0;
  }

  /** The commits in flight (a let-go waits for them before failing local sends). */
  get pending(): Promise<void>[] {
    return [...this.inflight];
  }

  /** The writer's epoch (set by the host once it holds the lease). */
  epoch = 0;

  private args(seq: number, cursor: string, now: number, epoch: number, parts: Delta, timers: string, status: string, event: string, from: string, to: string, notice: string): CommitArgs {
    return {
      epoch,
      seq,
      cursor,
      parts,
      timers,
      status,
      now,
      event,
      from,
      to,
      notice,
      owner: this.ctx.owner,
      leaseMs: this.ctx.leaseMs,
      historyLimit: this.ctx.historyLimit,
      version: this.task.version,
      append: undefined,
      reason: undefined,
      rejections: undefined,
      upgrade: false,
    };
  }

  /** Send one commit; Redis unreachable: retried (a resent commit is recognised), until it lands or is fenced. */
  private async write(args: CommitArgs): Promise<void> {
    try {
      // The first try outside the retry loop: no closures on the common path.
      await this.ctx.store.commit(this.task.id, args);
      return;
    } catch (err) {
      if (answered(err) || this.abandoned()) throw err instanceof BatonError && err.code === ErrorCode.SeqConflict ? new FencedError(this.task.id) : err;
      this.ctx.log('commit failed, retrying', { taskId: this.task.id, error: (err as Error).message, delay: 0 });
    }
    try {
      await retry(() => this.ctx.store.commit(this.task.id, args), {
        // A fence, a seq conflict (another writer moved on) and a stale mailbox are answers, not outages.
        fatal: (err) => answered(err) || this.abandoned(),
        onRetry: (err, delay) => this.ctx.log('commit failed, retrying', { taskId: this.task.id, error: (err as Error).message, delay }),
      });
    } catch (err) {
      throw err instanceof BatonError && err.code === ErrorCode.SeqConflict ? new FencedError(this.task.id) : err;
    }
  }
}

function answered(err: unknown): boolean {
  // NOT_REPLICATED too: the script ran, so a resend proves nothing; the host lets the task go (the commit is not trusted).
  return (
    err instanceof BatonError &&
    (err.code === ErrorCode.Fenced || err.code === ErrorCode.SeqConflict || err.code === ErrorCode.StaleMailbox || err.code === ErrorCode.NotReplicated)
  );
}
