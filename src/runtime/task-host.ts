import { createActor, type AnyActor, type InspectionEvent } from 'xstate';
import { BatonError, ErrorCode, FencedError, StaleMailboxError } from '../errors.js';
import { encodeJson } from '../persistence/codec.js';
import { decodeCommitted, describeError, InputRefusedError } from './committed-state.js';
import { compareStreamIds, nextStreamId } from '../persistence/stream-id.js';
import type { CommitArgs, StateFields, TaskStore } from '../persistence/task-store.js';
import { decodeRejections, encodeNotice, noticeHead, REJECTIONS_KEPT, type Rejection, type TaskStatus } from '../persistence/view.js';
import { eventRefusal } from '../persistence/validate.js';
import type { Clock } from './clock.js';
import { registerBridge, withBridge, type AgentBridge } from '../actors/agent-bridge.js';
import { AGENT_ERROR, AGENT_RESULT } from '../actors/fromAgent.js';
import type { AgentSink } from './local-agents.js';
import { Outbox, type Effects } from './outbox.js';
import { quiescent } from './quiescence.js';
import { definitionRules, type TaskDefinition } from './definition.js';
import { stableInspector, type Inspector } from './inspection.js';
import { captureTimers, instrumentScheduler, rearmTimers, resolvePath } from './timers.js';
import { withDeferredPromises } from './deferred-starts.js';

/** What a host needs from its runtime. */
export interface HostContext {
  store: TaskStore;
  clock: Clock;
  owner: string;
  leaseMs: number;
  historyMax: number;
  log: (msg: string, extra?: Record<string, unknown>) => void;
  /** True while an agent invoked by the task runs in this process (its outcome comes back to the host in memory). */
  agentsRunning: (taskId: string) => boolean;
  /** Called once the actor is restored, before its first step: the host holds the task from now on. */
  onHeld: (host: TaskHost) => void;
  /** Called once when the host stops holding the task (finished, dropped, released). */
  onGone: (host: TaskHost, why: 'finished' | 'fenced' | 'released' | 'quarantined' | 'lost' | 'stale') => void;
  /** Where agent invocations are started (in process or enqueued) and cancelled. */
  agents: AgentSink;
  /** The user's XState inspector; events reach it with stable ids (see inspection.ts). */
  inspect?: Inspector;
}

interface Entry {
  id: string;
  event: string;
}

/** An event sent from this process to the task it holds, not yet in the mailbox. */
interface LocalSend {
  event: string;
  token: string;
  /** The entry id once committed; undefined when it must go through the mailbox instead. */
  resolve: (id: string | undefined) => void;
}

/** A step ready to commit: the actor's state when it was taken and the effects it decided. */
interface Capture {
  event: AnyEvent;
  status: TaskStatus;
  snapshot: string;
  timers: string;
  value: string;
  effects: Effects;
  /** The refusals list (JSON) when this step added one, else undefined (left as stored). */
  rejections?: string;
}

const MAILBOX_BATCH = 256;
/** Event types of the runtime's own (agent outcomes, stop): not subject to the machine's event rules. */
const INTERNAL = /^(baton|xstate)\./;
/** Commits in flight per task before the loop waits for them. */
const MAX_INFLIGHT = 32;
type AnyEvent = { type: string; [k: string]: unknown };

/**
 * Holds one running task in this process: the XState actor restored from its
 * last commit, the mailbox entries not yet applied, and the commit loop.
 *
 * Work is serial: one mailbox entry is applied and committed before the next;
 * transitions the actor makes by itself (timers, promise children) are
 * committed as soon as the current step is done. A commit refused by the
 * fence drops the actor at once: another process owns the task.
 */
export class TaskHost {
  private actor!: AnyActor;
  private seq: number;
  private cursor: string;
  /** Highest mailbox id queued or applied. */
  private known: string;
  private readonly createdAt: number;
  private inbox: Entry[] = [];
  private inboxHead = 0;
  /** Outcomes of agents run in this process, handed over in memory (not mailbox entries). */
  private readonly agentEvents: AnyEvent[] = [];
  /** Events sent from this process, applied after every entry already in the mailbox. */
  private locals: LocalSend[] = [];
  /** Local sends applied, their commits (which append them) in flight. */
  private readonly localsInFlight: Array<{ local: LocalSend; id: string }> = [];
  /** Set while a local send is applied: the next commit appends it. */
  private appendNext: { local: LocalSend; id: string; expectLast: string } | undefined;
  /** Commits sent and not yet confirmed, oldest first (pipelined on one connection, so they land in order). */
  private readonly inflight: Promise<void>[] = [];
  private needsRead = true;
  /** Transitions the actor made on its own (timers, promise children), captured as they happened, not yet sent. */
  private readonly captured: Capture[] = [];
  /** True while the current synchronous cascade already has a capture (a microtask clears it). */
  private capturing = false;
  private applying = false;
  private lastEvent: AnyEvent | undefined;
  private lastEventToRoot = false;
  private fromValue = 'null';
  private pumping: Promise<void> | undefined;
  private again = false;
  private gone = false;
  private releasing = false;
  private stopping = false;
  private readonly outbox: Outbox;
  /** The first thing the loop does: commit the spawn, or send the effects the restore decided. */
  private starting: 'spawn' | 'restore' | undefined;
  /** The last events refused at apply (kept in the view); `rejectionsChanged` until a capture takes them. */
  private rejections: Rejection[];
  private rejectionsChanged = false;

  private constructor(
    readonly id: string,
    readonly machineName: string,
    readonly def: TaskDefinition,
    private epoch: number,
    private readonly fields: StateFields,
    private readonly ctx: HostContext,
  ) {
    this.seq = Number(fields.seq ?? 0);
    this.cursor = fields.cursor ?? '0-0';
    this.known = this.cursor;
    this.createdAt = Number(fields.createdAt ?? ctx.clock.now());
    this.lastActivity = ctx.clock.now();
    this.outbox = new Outbox(id, ctx.agents, ctx.log);
    this.rejections = decodeRejections(fields.rejections);
  }

  /** Clock time of the last step or wake: idle hosts are passivated. */
  lastActivity = 0;

  /** True once the host no longer holds the task. */
  get isGone(): boolean {
    return this.gone;
  }

  /** The lease epoch this host writes with. */
  get fence(): number {
    return this.epoch;
  }

  /**
   * Restore (or create) the actor from committed fields and start applying the
   * mailbox. Resolves with the host, or undefined when the task was quarantined.
   * `fresh`: the task was created by this process's spawn script just now.
   */
  static async start(
    ctx: HostContext,
    taskId: string,
    machineName: string,
    def: TaskDefinition,
    epoch: number,
    fields: StateFields,
    fresh = false,
  ): Promise<TaskHost | undefined> {
    const host = new TaskHost(taskId, machineName, def, epoch, fields, ctx);
    // A task this process just created has an empty mailbox: anything sent from now on reaches the host
    // (in memory, or as a wake notice once the host is registered, below), so there is nothing to read.
    if (fresh) host.needsRead = false;
    let reason: string | undefined;
    try {
      host.restore();
    } catch (err) {
      if (err instanceof InputRefusedError) {
        await host.refuseInput(err.message);
        return undefined;
      }
      reason = err instanceof Error ? err.message : String(err);
    }
    if (reason !== undefined) {
      await host.quarantine(reason);
      return undefined;
    }
    // The first step (the spawn commit, or sending what the restore re-dispatched) runs in the loop,
    // so a wake or an agent outcome arriving now is applied after it, never beside it.
    host.starting = host.seq === 0 ? 'spawn' : 'restore';
    ctx.onHeld(host);
    void host.pump();
    return host;
  }

  private restore(): void {
    const { fields, def, ctx } = this;
    const { snapshot, timers, input } = decodeCommitted(fields, def, this.machineName);
    const extra = ctx.inspect ? stableInspector(this.id, ctx.inspect) : undefined;
    const bridge = this.bridge();
    const actor = withBridge(bridge, () => createActor(withDeferredPromises(def.machine), {
      ...(snapshot ? { snapshot: snapshot as never } : { input }),
      id: this.id,
      clock: ctx.clock,
      inspect: (ev: InspectionEvent) => {
        this.onInspect(ev);
        extra?.(ev);
      },
    }));
    actor.subscribe({ error: () => undefined }); // a failing actor is data (status 'error'), never a crash
    registerBridge(actor.system, bridge);
    instrumentScheduler(actor, ctx.clock);
    this.actor = actor;
    this.applying = true;
    try {
      actor.start();
    } finally {
      this.applying = false;
    }
    // Agent children restored active re-dispatch their invocation: it may have run already.
    if (snapshot) this.outbox.markRestored();
    const now = actor.getSnapshot();
    if (snapshot && now.status === 'error' && snapshot.status !== 'error') {
      this.gone = true; // nothing the stop does may be captured or committed: the quarantine keeps the snapshot
      this.stopping = true;
      actor.stop();
      throw new Error(`snapshot does not restore on the current machine: ${describeError(now.error)}`);
    }
    if (snapshot) {
      // XState restores a child whose logic the machine no longer registers by leaving it out, silently.
      const persisted = (snapshot.children ?? {}) as Record<string, { snapshot?: { status?: string }; src?: unknown }>;
      const live = (now as { children?: Record<string, unknown> }).children ?? {};
      const lost = Object.entries(persisted).filter(([cid, c]) => c?.snapshot?.status === 'active' && !live[cid]);
      if (lost.length) {
        this.gone = true; // nothing the stop does may be captured or committed: the quarantine keeps the snapshot
        this.stopping = true;
        actor.stop();
        throw new Error(`snapshot has active children the machine cannot restore: ${lost.map(([cid, c]) => `${cid} (src ${JSON.stringify(c?.src)})`).join(', ')}`);
      }
      const dropped = rearmTimers(actor, timers, ctx.clock);
      if (dropped.length) ctx.log('timers dropped on restore: their actor is gone', { taskId: this.id, dropped: dropped.map((t) => t.id) });
    }
    this.fromValue = JSON.stringify(now.value ?? null);
    this.captured.length = 0;
  }

  private bridge(): AgentBridge {
    const host = this;
    return {
      taskId: this.id,
      // `seq` advances when a step is sent to Redis, so a change made now lands in the next commit.
      // Captures waiting to be sent take the seqs after the committed one; a cascade's capture is replaced, not added.
      nextSeq: () => host.seq + host.captured.length + (host.capturing && host.captured.length > 0 ? 0 : 1),
      dispatch: (spec) => host.outbox.dispatch(spec),
      cancel: (jobId, agent) => host.outbox.cancel({ jobId, agent }),
      afterCommit: (start) => host.outbox.start(start),
      get stopping() {
        return host.stopping;
      },
    };
  }

  /** Effects decided by committed steps: enqueue and cancel agent jobs (idempotent by job id). */
  private flushOutbox(): Promise<void> {
    return this.outbox.flush(() => this.gone);
  }

  private onInspect(ev: InspectionEvent): void {
    if (this.gone) return;
    if (ev.type === '@xstate.event') {
      // The history names the first event of the step; a new child's xstate.init is a consequence, not a cause.
      // The root's event is preferred over the child event that caused it (xstate.done.actor.* over xstate.promise.resolve).
      if (ev.event.type === 'xstate.init') return;
      const toRoot = ev.actorRef === this.actor;
      if (!this.lastEvent || (toRoot && !this.lastEventToRoot)) {
        this.lastEvent = ev.event as AnyEvent;
        this.lastEventToRoot = toRoot;
      }
    } else if (ev.type === '@xstate.snapshot' && !this.applying) {
      this.captureAsync();
    }
  }

  /**
   * The actor moved on its own (a timer fired, a promise child settled): take
   * the whole tree's snapshot now, so every such transition gets its own
   * commit even when the next one follows a microtask later. A cascade within
   * one synchronous run (a child finishing, then its parent moving) is one
   * capture: the later snapshot supersedes the earlier.
   */
  private captureAsync(): void {
    const last = this.captured[this.captured.length - 1];
    const c = this.capture(this.lastEvent ?? { type: 'xstate.internal' });
    if (this.capturing && last) {
      last.effects.dispatch.push(...c.effects.dispatch);
      last.effects.cancel.push(...c.effects.cancel);
      last.effects.starts.push(...c.effects.starts);
      this.captured[this.captured.length - 1] = { ...c, effects: last.effects, event: last.event };
    } else {
      this.captured.push(c);
      this.capturing = true;
      queueMicrotask(() => (this.capturing = false));
    }
    this.lastEvent = undefined;
    this.lastEventToRoot = false;
    // After the rest of this synchronous cascade (a child's own snapshot follows its parent's): the loop
    // must not take this capture before a later snapshot of the same cascade could supersede it.
    queueMicrotask(() => void this.pump());
  }

  /** New entries may be in the mailbox (a wake notice from another process). */
  poke(): void {
    this.lastActivity = this.ctx.clock.now();
    this.needsRead = true;
    this.pump();
  }

  /** An entry appended here or announced by a wake notice: queue it directly when it follows the last known one, else read the stream. */
  deliver(id: string, prev: string | undefined, event: string): void {
    this.lastActivity = this.ctx.clock.now();
    if (compareStreamIds(id, this.known) <= 0) return;
    if (prev !== undefined && prev === this.known) {
      this.inbox.push({ id, event });
      this.known = id;
    } else {
      this.needsRead = true;
    }
    this.pump();
  }

  /**
   * The outcome of an agent run in this process: applied like a promise
   * child's, as a step of its own committed at the current cursor. Lost with
   * the process, it is re-run by the restored child (the invocation's commit
   * has not landed).
   */
  deliverAgentEvent(event: AnyEvent): void {
    this.lastActivity = this.ctx.clock.now();
    this.agentEvents.push(event);
    this.pump();
  }

  /**
   * An event sent from this process (no idempotency key): applied after every
   * entry already in the mailbox, and appended to the mailbox by the commit
   * that records it, under an id chosen here, provided no entry came in
   * meanwhile (one script instead of send + commit). Resolves with the entry
   * id once committed, or undefined when the caller must send it through the
   * mailbox instead (the host let the task go, or an entry came in between:
   * the commit wrote nothing, and the send's token makes the fallback append
   * once even if it did).
   */
  sendLocal(event: string, token: string): Promise<string | undefined> {
    if (this.gone || this.releasing) return Promise.resolve(undefined);
    this.lastActivity = this.ctx.clock.now();
    return new Promise((resolve) => {
      this.locals.push({ event, token, resolve });
      this.pump();
    });
  }

  private async applyLocal(local: LocalSend): Promise<void> {
    const expectLast = this.known;
    const id = nextStreamId(expectLast, Date.now());
    this.known = id;
    this.appendNext = { local, id, expectLast };
    try {
      await this.apply({ id, event: local.event });
    } finally {
      this.appendNext = undefined;
    }
  }

  /** Local sends not committed: send them through the mailbox, in order, once the commits in flight have settled. */
  private failLocals(): void {
    const queued = this.locals.splice(0);
    if (!queued.length && !this.localsInFlight.length) return;
    void Promise.allSettled([...this.inflight]).then(() => {
      for (const f of this.localsInFlight.splice(0)) f.local.resolve(undefined);
      for (const l of queued) l.resolve(undefined);
    });
  }

  /** Run the apply/commit loop if it is not running; resolves when it is idle. */
  pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return this.pumping;
    }
    this.pumping = (async () => {
      do {
        this.again = false;
        await this.run();
      } while (this.again && !this.gone);
      // Cleared in the same continuation as the last check: a poke can never fall between them.
      this.pumping = undefined;
    })();
    return this.pumping;
  }

  private async run(): Promise<void> {
    try {
      while (!this.gone) {
        if (this.starting) {
          const first = this.starting;
          this.starting = undefined;
          if (first === 'spawn') await this.step(() => undefined, { type: 'baton.spawn' }, this.cursor);
          else await this.flushOutbox();
          continue;
        }
        // Captured transitions happened before anything still unapplied: they go first, in order.
        const captured = this.captured.shift();
        if (captured) {
          await this.send(captured, this.cursor);
          continue;
        }
        const agentEvent = this.agentEvents.shift();
        if (agentEvent) {
          await this.applyAgentEvent(agentEvent, undefined);
          continue;
        }
        const next = this.takeInbox();
        if (next) {
          await this.apply(next);
          continue;
        }
        if (this.needsRead) {
          this.needsRead = false;
          const rows = await this.ctx.store.readMailbox(this.id, this.known, MAILBOX_BATCH);
          for (const r of rows) {
            if (compareStreamIds(r.id, this.known) > 0) {
              this.inbox.push({ id: r.id, event: r.event });
              this.known = r.id;
            }
          }
          if (rows.length === MAILBOX_BATCH) this.needsRead = true;
          continue;
        }

        // Events sent from this process come after everything already in the mailbox.
        const local = this.locals.shift();
        if (local) {
          await this.applyLocal(local);
          continue;
        }
        if (this.inflight.length) {
          await this.settle();
          continue;
        }
        break;
      }
    } catch (err) {
      this.onFailure(err);
    }
  }

  private takeInbox(): Entry | undefined {
    if (this.inboxHead >= this.inbox.length) return undefined;
    const e = this.inbox[this.inboxHead++];
    if (this.inboxHead > 1024 && this.inboxHead * 2 > this.inbox.length) {
      this.inbox = this.inbox.slice(this.inboxHead);
      this.inboxHead = 0;
    }
    return e;
  }

  /** Wait for every commit in flight, in order; throws the first failure. */
  private async settle(): Promise<void> {
    while (this.inflight.length) {
      await this.inflight[0];
      this.inflight.shift();
    }
  }

  private onFailure(err: unknown): void {
    if (err instanceof StaleMailboxError) {
      // Our own event's commit met an entry it did not know: nothing was written. Start again from the last commit.
      this.ctx.log('an event came in before this process\'s own; restoring the task', { taskId: this.id });
      this.drop('stale');
      return;
    }
    if (err instanceof FencedError) {
      this.ctx.log('fenced: another process took the task over; dropping it', { taskId: this.id });
      this.drop('fenced');
      return;
    }
    this.ctx.log('task loop failed; dropping the task (its lease expires and another activation resumes it)', {
      taskId: this.id,
      error: err instanceof Error ? err.message : String(err),
    });
    this.drop('lost');
  }

  private async apply(entry: Entry): Promise<void> {
    let event: AnyEvent | undefined;
    let rejected: string | undefined;
    try {
      event = JSON.parse(entry.event) as AnyEvent;
      if (!event || typeof event.type !== 'string') rejected = 'not an event object';
    } catch {
      rejected = 'not valid JSON';
    }
    // The machine's own rules, again: a client may have checked only what JSON Schema can say (or nothing).
    if (!rejected && event && !INTERNAL.test(event.type)) rejected = eventRefusal(definitionRules(this.def), event.type, event)?.text;
    if (rejected || !event) {
      const reason = rejected ?? 'invalid';
      const type = typeof event?.type === 'string' ? event.type : undefined;
      this.rejections = [...this.rejections, { entry: entry.id, ...(type ? { type } : {}), reason, seq: this.seq + 1, at: this.ctx.clock.now() }].slice(-REJECTIONS_KEPT);
      this.rejectionsChanged = true;
      await this.step(() => undefined, { type: 'baton.rejected', entry: entry.id, ...(type ? { rejectedType: type } : {}), reason }, entry.id);
      return;
    }
    if (event.type === AGENT_RESULT || event.type === AGENT_ERROR) {
      await this.applyAgentEvent(event, entry.id);
      return;
    }
    if (event.type === 'baton.stop') {
      await this.step(() => undefined, event, entry.id, 'stopped');
      return;
    }
    const ev = event;
    await this.step(() => this.actor.send(ev), ev, entry.id);
  }

  /**
   * An agent's outcome, from the mailbox entry `entryId` or (undefined) handed
   * over in memory. A child that left (cancelled, state exited, or a newer
   * invocation) drops it: a mailbox entry still gets a commit, to move the cursor.
   */
  private async applyAgentEvent(ev: AnyEvent, entryId: string | undefined): Promise<void> {
    const child = Array.isArray(ev.childPath) ? resolvePath(this.actor, ev.childPath as string[]) : undefined;
    const snap = child?.getSnapshot() as { status?: string; jobId?: string } | undefined;
    if (!child || snap?.status !== 'active' || snap.jobId !== ev.jobId) {
      if (entryId !== undefined) await this.step(() => undefined, { type: 'baton.agent.dropped', jobId: ev.jobId, result: ev.type }, entryId);
      return;
    }
    await this.step(() => child.send(ev), ev, entryId ?? this.cursor);
  }

  /** Run `change` on the actor, then commit the whole actor tree with `cursor`. */
  private async step(change: () => void, event: AnyEvent, cursor: string, force?: TaskStatus): Promise<void> {
    this.applying = true;
    try {
      change();
    } finally {
      this.applying = false;
    }
    this.lastEvent = undefined;
    this.lastEventToRoot = false;
    await this.send(this.capture(event, force), cursor);
  }

  /** Everything a commit needs from the actor, taken now (the seq is assigned when it is sent). */
  private capture(event: AnyEvent, force?: TaskStatus): Capture {
    const snap = this.actor.getSnapshot();
    const status: TaskStatus = force ?? (snap.status === 'done' ? 'done' : snap.status === 'error' ? 'error' : 'active');
    const timers = status === 'active' ? captureTimers(this.actor, this.ctx.clock) : [];
    return {
      event,
      status,
      snapshot: encodeJson(this.actor.getPersistedSnapshot()),
      timers: JSON.stringify(timers),
      value: encodeJson(snap.value ?? null),
      effects: this.outbox.take(),
      rejections: this.takeRejections(),
    };
  }

  private takeRejections(): string | undefined {
    if (!this.rejectionsChanged) return undefined;
    this.rejectionsChanged = false;
    return JSON.stringify(this.rejections);
  }

  /**
   * The spawn input fails the machine's own schema (a check the sender could
   * not make, such as a refinement): the task ends in status `error` with the
   * reason and never runs. One fenced commit, like any step's.
   */
  private async refuseInput(reason: string): Promise<void> {
    this.gone = true;
    const now = this.ctx.clock.now();
    const seq = this.seq + 1;
    const fields = { machine: this.machineName, version: this.def.version, status: 'error', seq, updatedAt: now, createdAt: this.createdAt, reason, cursor: this.cursor };
    this.ctx.log('spawn input refused; the task ends in error', { taskId: this.id, reason });
    try {
      await this.ctx.store.commit(this.id, {
        epoch: this.epoch,
        seq,
        cursor: this.cursor,
        snapshot: 'null',
        timers: '[]',
        status: 'error',
        now,
        event: encodeJson({ type: 'baton.rejected', input: true, reason }),
        from: 'null',
        to: 'null',
        notice: noticeHead(this.id, fields, '[]'),
        owner: this.ctx.owner,
        leaseMs: this.ctx.leaseMs,
        historyMax: this.ctx.historyMax,
        version: this.def.version,
        reason,
      });
      await this.ctx.store.clearDue(this.id);
    } catch (err) {
      if (!(err instanceof FencedError)) throw err;
    }
    this.ctx.onGone(this, 'finished');
  }

  /** Commit a capture. Pipelined: the next step is applied while this commit travels. */
  private async send(c: Capture, cursor: string): Promise<void> {
    const now = this.ctx.clock.now();
    const seq = this.seq + 1;
    const args: CommitArgs = {
      epoch: this.epoch,
      seq,
      cursor,
      snapshot: c.snapshot,
      timers: c.timers,
      status: c.status,
      now,
      event: encodeJson(c.event),
      from: this.fromValue,
      to: c.value,
      notice: noticeHead(
        this.id,
        {
          machine: this.machineName,
          version: this.def.version,
          status: c.status,
          seq,
          updatedAt: now,
          createdAt: this.createdAt,
          cursor,
          ...(this.rejections.length ? { rejections: this.rejections } : {}),
        },
        c.timers,
      ),
      owner: this.ctx.owner,
      leaseMs: this.ctx.leaseMs,
      historyMax: this.ctx.historyMax,
      version: this.def.version,
      ...(c.rejections !== undefined ? { rejections: c.rejections } : {}),
    };
    const appended = this.appendNext;
    this.appendNext = undefined;
    if (appended) args.append = { event: appended.local.event, expectLast: appended.expectLast, token: appended.local.token };
    // Commits land in order (one connection, seq-checked); a refused one drops the host before anything depends on it.
    this.seq = seq;
    this.cursor = cursor;
    this.fromValue = c.value;
    this.lastActivity = now;
    const sent = this.commitWithRetry(args);
    sent.catch(() => undefined); // observed through settle()
    if (appended) {
      const f = { local: appended.local, id: appended.id };
      this.localsInFlight.push(f);
      sent.then(() => {
        const i = this.localsInFlight.indexOf(f);
        if (i >= 0) this.localsInFlight.splice(i, 1);
        f.local.resolve(f.id);
      }, () => undefined);
    }
    this.inflight.push(sent);
    const effects = c.effects.dispatch.length > 0 || c.effects.cancel.length > 0 || c.effects.starts.length > 0;
    if (effects || c.status !== 'active' || this.inflight.length >= MAX_INFLIGHT) await this.settle();
    // Effects only after the commit that decided them.
    if (effects) await this.outbox.send(c.effects, () => this.gone);
    if (c.status !== 'active') this.finish(c.status);
  }

  private async commitWithRetry(args: CommitArgs): Promise<void> {
    let delay = 50;
    for (;;) {
      try {
        await this.ctx.store.commit(this.id, args);
        return;
      } catch (err) {
        if (err instanceof StaleMailboxError) throw err;
        if (err instanceof BatonError && (err.code === ErrorCode.Fenced || err.code === ErrorCode.SeqConflict)) {
          throw err.code === ErrorCode.Fenced ? err : new FencedError(this.id);
        }
        if (this.gone) throw err;
        // Redis unreachable: the commit is idempotent (a resent one is recognised), so retry until it lands or we are fenced.
        this.ctx.log('commit failed, retrying', { taskId: this.id, error: (err as Error).message, delay });
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 1000);
      }
    }
  }

  private finish(status: TaskStatus): void {
    this.gone = true;
    this.failLocals();
    // A task stopped by the user cancels the agent work it still has in flight; other endings already stopped their children.
    this.stopping = status !== 'stopped';
    this.actor.stop();
    this.stopping = true;
    // One attempt: the task is over, so nothing would re-send them.
    if (this.outbox.pending) void this.outbox.send(this.outbox.take(), () => true);
    this.ctx.store.clearDue(this.id).catch(() => undefined);
    this.ctx.onGone(this, 'finished');
  }

  /**
   * True when the actor can leave memory without losing work: settled, and
   * no in-process child (promise, callback, observable) in flight. Machine
   * children and agent children persist fully; results of agents running
   * elsewhere come back through the mailbox and re-activate the task.
   */
  get passivatable(): boolean {
    return !this.gone && this.settled && quiescent(this.actor);
  }

  /** True when the host has no step in hand: nothing to apply, no commit in flight, no agent running here for it. */
  get settled(): boolean {
    if (this.gone) return true;
    const idle = !this.pumping && !this.captured.length && !this.agentEvents.length && !this.locals.length && this.inbox.length <= this.inboxHead;
    return idle && !this.ctx.agentsRunning(this.id);
  }

  /** Stop holding the task without committing (fenced, lease lost, runtime dying). */
  drop(why: 'fenced' | 'lost' | 'stale'): void {
    if (this.gone) return;
    this.gone = true;
    this.failLocals();
    this.stopping = true;
    this.actor?.stop();
    this.ctx.onGone(this, why);
  }

  private async quarantine(reason: string): Promise<void> {
    this.gone = true;
    const now = this.ctx.clock.now();
    const f = this.fields;
    const notice = encodeNotice(
      this.id,
      { machine: this.machineName, version: Number(f.version ?? 0), status: 'quarantined', seq: this.seq, updatedAt: now, createdAt: this.createdAt, reason },
      'null',
      '[]',
    );
    this.ctx.log('task quarantined', { taskId: this.id, reason });
    try {
      await this.ctx.store.quarantine(this.id, { epoch: this.epoch, reason, now, owner: this.ctx.owner, notice });
      await this.ctx.store.clearDue(this.id);
    } catch (err) {
      if (!(err instanceof FencedError)) throw err;
    }
    this.ctx.onGone(this, 'quarantined');
  }

  /**
   * Passivate: finish the work in hand, then release the lease unless events
   * wait in the mailbox (then apply them and try again). Returns the earliest
   * pending timer deadline (undefined when none), or false when it could not
   * release after `attempts` tries.
   */
  async release(attempts = 5): Promise<{ nextDue: number | undefined } | false> {
    if (this.releasing) return false;
    this.releasing = true;
    try {
      return await this.releaseNow(attempts);
    } finally {
      this.releasing = false;
    }
  }

  private async releaseNow(attempts: number): Promise<{ nextDue: number | undefined } | false> {
    for (let i = 0; i < attempts && !this.gone; i++) {
      await this.pump();
      if (this.gone) return false;
      const timers = captureTimers(this.actor, this.ctx.clock);
      const nextDue = timers[0]?.dueAt;
      // Register the wake-up before letting go, so a crash in between never loses the timer.
      if (nextDue !== undefined) await this.ctx.store.setDue([[this.id, nextDue]]);
      let released: boolean;
      try {
        released = await this.ctx.store.release(this.id, this.epoch, this.ctx.owner);
      } catch (err) {
        this.onFailure(err);
        return false;
      }
      if (released) {
        this.gone = true;
        this.failLocals();
        this.stopping = true;
        this.actor.stop();
        // Leave the registry before any await: a wake arriving now must activate afresh, not poke this host.
        this.ctx.onGone(this, 'released');
        // (A new holder's heartbeat re-marks the task due should this land after its activation.)
        if (nextDue === undefined) await this.ctx.store.clearDue(this.id);
        // A sweep that claimed the task while it was held here pushed its due time; put the timer's back.
        else await this.ctx.store.setDue([[this.id, nextDue]]);
        return { nextDue };
      }
      this.needsRead = true;
    }
    if (!this.gone) void this.pump(); // entries raced the release: apply them
    return false;
  }
}

