import type { HostContext } from './host-context.js';

/** What passivation needs of a host. */
export interface Releasable {
  readonly id: string;
  /** Enter the releasing phase; false when already releasing or gone. */
  begin(): boolean;
  /** Leave it (back to running, unless gone). */
  end(): void;
  gone(): boolean;
  /** Apply and commit everything in hand. */
  drain(): Promise<void>;
  /** The earliest pending timer's deadline. */
  nextDue(): number | undefined;
  readonly epoch: number;
  /** The lease was released: let the task go. */
  released(): void;
  /** Redis refused (fenced) or failed. */
  failed(err: unknown): void;
  /** Entries came in meanwhile: read the mailbox. */
  raced(): void;
}

/**
 * Passivate a host: finish the work in hand, then release the lease unless
 * events wait in the mailbox past the cursor (release-4.lua refuses then, so
 * an event that races the release is never stranded): apply them and try
 * again, up to `attempts` times. The wake-up for the next timer is registered
 * before the lease goes, so a crash in between never loses it. Returns the
 * earliest pending timer's deadline (undefined when none), or false.
 */
export async function passivate(h: Releasable, ctx: HostContext, attempts: number): Promise<{ nextDue: number | undefined } | false> {
  if (!h.begin()) return false;
  try {
    for (let i = 0; i < attempts && !h.gone(); i++) {
      await h.drain();
      if (h.gone()) return false;
      const nextDue = h.nextDue();
      if (nextDue !== undefined) await ctx.store.setDue([[h.id, nextDue]]);
      let released: boolean;
      try {
        released = await ctx.store.release(h.id, h.epoch, ctx.owner);
      } catch (err) {
        h.failed(err);
        return false;
      }
      if (released) {
        // Leave the registry before any await: a wake arriving now must activate afresh, not poke this host.
        h.released();
        // (A new holder's heartbeat re-marks the task due should this land after its activation.)
        if (nextDue === undefined) await ctx.store.clearDue(h.id);
        // A sweep that claimed the task while it was held here pushed its due time; put the timer's back.
        else await ctx.store.setDue([[h.id, nextDue]]);
        return { nextDue };
      }
      h.raced();
    }
    if (!h.gone()) void h.drain(); // entries raced the release: apply them
    return false;
  } finally {
    h.end();
  }
}

/** `p`, with `done(p)` called once it settles (either way): the host forgets its passivation. */
export function tracked<T>(p: Promise<T>, done: (p: Promise<T>) => unknown): Promise<T> {
  void p.finally(() => done(p)).catch(() => undefined);
  return p;
}
