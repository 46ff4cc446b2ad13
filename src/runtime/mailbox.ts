import { compareStreamIds, nextStreamId } from '../persistence/stream-id.js';
import type { TaskStore } from '../persistence/task-store.js';

/** An event, as the actor takes it. */
export type AnyEvent = { type: string; [k: string]: unknown };

/** An entry of the task's mailbox stream, not yet applied. */
export interface Entry {
  id: string;
  event: string;
}

/** An event sent from this process to the task it holds, not yet in the mailbox. */
export interface LocalSend {
  event: string;
  token: string;
  /** The entry id once committed; undefined when it must go through the mailbox instead. */
  resolve: (id: string | undefined) => void;
}

/** What the host applies next, in mailbox order. */
export type Next =
  /** The outcome of an agent run in this process, handed over in memory (no mailbox entry). */
  | { kind: 'agent'; event: AnyEvent }
  /** A mailbox entry. */
  | { kind: 'entry'; entry: Entry }
  /** An event sent from this process: its commit appends it under `id`, if `expectLast` is still the last entry. */
  | { kind: 'local'; local: LocalSend; id: string; expectLast: string }
  /** The stream was read: look again (the actor may have moved meanwhile, and that goes first). */
  | { kind: 'read' };

const MAILBOX_BATCH = 256;

/**
 * The mailbox of one held task, as its host sees it: entries announced by
 * wake notices or read from the stream, outcomes of in-process agents, and
 * sends from this process. {@link next} hands them out in the order they
 * must be applied: agent outcomes, then mailbox entries (reading the stream
 * when a notice could not carry them), then this process's own sends, which
 * come after everything already in the mailbox.
 */
export class HostMailbox {
  private inbox: Entry[] = [];
  private head = 0;
  /** Highest mailbox id queued or applied. */
  private known: string;
  private needsRead: boolean;
  private readonly agentEvents: AnyEvent[] = [];
  private locals: LocalSend[] = [];
  /** Local sends applied, their commits (which append them) in flight. */
  private readonly inFlight: Array<{ local: LocalSend; id: string }> = [];

  /** `fresh`: a task this process just created has an empty mailbox, nothing to read. */
  constructor(
    private readonly taskId: string,
    private readonly store: TaskStore,
    cursor: string,
    fresh: boolean,
  ) {
    this.known = cursor;
    this.needsRead = !fresh;
  }

  /** New entries may be in the stream (a notice that did not carry them, a reconnect). */
  poke(): void {
    this.needsRead = true;
  }

  /** An entry appended here or announced by a notice: queued when it follows the last one known, else the stream is read. */
  offer(id: string, prev: string | undefined, event: string): boolean {
    if (compareStreamIds(id, this.known) <= 0) return false;
    if (prev !== undefined && prev === this.known) {
      this.inbox.push({ id, event });
      this.known = id;
    } else {
      this.needsRead = true;
    }
    return true;
  }

  /** The outcome of an agent run in this process. */
  offerAgentOutcome(event: AnyEvent): void {
    this.agentEvents.push(event);
  }

  /** An event sent from this process, applied after what the mailbox holds. */
  offerLocal(local: LocalSend): void {
    this.locals.push(local);
  }

  /** The next thing to apply, or undefined when there is none (a promise only when the stream must be read). */
  next(): Next | Promise<Next> | undefined {
    const event = this.agentEvents.shift();
    if (event) return { kind: 'agent', event };
    const entry = this.takeInbox();
    if (entry) return { kind: 'entry', entry };
    if (this.needsRead) return this.read();
    const local = this.locals.shift();
    if (!local) return undefined;
    const expectLast = this.known;
    const id = nextStreamId(expectLast, Date.now());
    this.known = id;
    return { kind: 'local', local, id, expectLast };
  }

  /** Read the stream past the last entry known (only when a notice could not carry what came in). */
  private async read(): Promise<Next> {
    {
      this.needsRead = false;
      const rows = await this.store.readMailbox(this.taskId, this.known, MAILBOX_BATCH);
      for (const r of rows) {
        if (compareStreamIds(r.id, this.known) > 0) {
          this.inbox.push({ id: r.id, event: r.event });
          this.known = r.id;
        }
      }
      if (rows.length === MAILBOX_BATCH) this.needsRead = true;
      return { kind: 'read' };
    }
  }

  /** A local send's commit is on its way: it resolves with its id once `landed` does. */
  track(local: LocalSend, id: string, landed: Promise<void>): void {
    const f = { local, id };
    this.inFlight.push(f);
    landed.then(() => {
      const i = this.inFlight.indexOf(f);
      if (i >= 0) this.inFlight.splice(i, 1);
      local.resolve(id);
    }, () => undefined);
  }

  /** Local sends not committed go through the mailbox instead, in order, once `commits` (those in flight) settled. */
  failLocals(commits: Promise<void>[]): void {
    const queued = this.locals.splice(0);
    if (!queued.length && !this.inFlight.length) return;
    void Promise.allSettled(commits).then(() => {
      for (const f of this.inFlight.splice(0)) f.local.resolve(undefined);
      for (const l of queued) l.resolve(undefined);
    });
  }

  /** True when nothing waits to be applied. */
  get empty(): boolean {
    return !this.agentEvents.length && !this.locals.length && this.inbox.length <= this.head;
  }

  /** True when the stream must be read before the host can be sure it has everything (a release raced an entry). */
  get stale(): boolean {
    return this.needsRead;
  }

  private takeInbox(): Entry | undefined {
    if (this.head >= this.inbox.length) return undefined;
    const e = this.inbox[this.head++];
    if (this.head > 1024 && this.head * 2 > this.inbox.length) {
      this.inbox = this.inbox.slice(this.head);
      this.head = 0;
    }
    return e;
  }
}
