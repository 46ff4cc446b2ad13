// Worker processes of the fault suite (test/chaos/worker.ts): started,
// SIGKILLed, frozen (SIGSTOP) and resumed (SIGCONT) by the fault loops. A
// worker that exits without having been killed by the suite is a crash.
import { runChild, type ChildHandle } from '../helpers/child.ts';

export interface WorkerOptions {
  /** Redis URL or ioredis options (JSON-serialisable). */
  connection: string | Record<string, unknown>;
  prefix: string;
  leaseMs?: number;
  idleMs?: number;
  agentLockMs?: number;
  role?: 'all' | 'tasks' | 'agents';
  concurrency?: number;
  agentConcurrency?: number;
  maxOutputBytes?: number;
  memMs?: number;
  /** Baton's `durability` (replicas to wait for). */
  durability?: { replicas: number; timeoutMs: number };
}

export interface WorkerProc {
  /** Slot in the pool (a replacement takes the slot of the worker it replaces). */
  slot: number;
  pid: number;
  owner: string;
  child: ChildHandle;
  /** The suite killed it on purpose (SIGKILL/SIGTERM). */
  killed: boolean;
  /** Currently SIGSTOPped. */
  frozen: boolean;
  startedAt: number;
}

/** JSON lines of a child (lines starting with '{' that parse). */
export function jsonLines(child: ChildHandle): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const l of child.lines) {
    if (!l.startsWith('{')) continue;
    try {
      out.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      /* partial line */
    }
  }
  return out;
}

/** A pool of worker processes, each in a slot. */
export class WorkerPool {
  readonly all: WorkerProc[] = [];
  readonly slots: Array<WorkerProc | undefined> = [];
  /** Workers that exited without the suite killing them (crashes). */
  readonly crashes: Array<{ pid: number; code: number | null; signal: string | null; tail: string[] }> = [];

  constructor(private readonly opts: WorkerOptions) {}

  private env(): Record<string, string> {
    const o = this.opts;
    const env: Record<string, string> = {
      CHAOS_CONNECTION: JSON.stringify(o.connection),
      CHAOS_PREFIX: o.prefix,
      CHAOS_LEASE_MS: String(o.leaseMs ?? 1000),
      CHAOS_IDLE_MS: String(o.idleMs ?? 3000),
      CHAOS_AGENT_LOCK_MS: String(o.agentLockMs ?? 1500),
      CHAOS_ROLE: o.role ?? 'all',
      BATON_DEBUG: '',
    };
    if (o.concurrency !== undefined) env.CHAOS_CONCURRENCY = String(o.concurrency);
    if (o.agentConcurrency !== undefined) env.CHAOS_AGENT_CONCURRENCY = String(o.agentConcurrency);
    if (o.maxOutputBytes !== undefined) env.CHAOS_MAX_OUTPUT_BYTES = String(o.maxOutputBytes);
    if (o.memMs !== undefined) env.CHAOS_MEM_MS = String(o.memMs);
    if (o.durability) env.CHAOS_DURABILITY = JSON.stringify(o.durability);
    return env;
  }

  /** Start a worker in `slot` (a new slot when omitted); resolves once it is ready. */
  async start(slot = this.slots.length): Promise<WorkerProc> {
    const child = runChild('test/chaos/worker.ts', { env: this.env() });
    const w: WorkerProc = { slot, pid: child.pid, owner: `chaos-${child.pid}`, child, killed: false, frozen: false, startedAt: Date.now() };
    this.all.push(w);
    this.slots[slot] = w;
    void child.exited.then((e) => {
      if (!w.killed) this.crashes.push({ pid: w.pid, code: e.code, signal: e.signal, tail: child.lines.slice(-30) });
    });
    await child.waitForJson((o) => o.ready === true, 60_000);
    return w;
  }

  /** Start `n` workers at once. */
  async startMany(n: number): Promise<WorkerProc[]> {
    return Promise.all(Array.from({ length: n }, (_, i) => this.start(this.slots.length + i)));
  }

  /** Live workers (not killed, not exited), frozen or not. */
  live(): WorkerProc[] {
    return this.slots.filter((w): w is WorkerProc => !!w && !w.killed && w.child.proc.exitCode === null && w.child.proc.signalCode === null);
  }

  /** SIGKILL a worker (it is recorded as killed, not crashed). */
  async kill(w: WorkerProc): Promise<void> {
    w.killed = true;
    if (w.frozen) {
      try {
        process.kill(w.pid, 'SIGCONT');
      } catch {
        /* gone */
      }
      w.frozen = false;
    }
    await w.child.kill('SIGKILL');
  }

  freeze(w: WorkerProc): void {
    w.frozen = true;
    process.kill(w.pid, 'SIGSTOP');
  }

  thaw(w: WorkerProc): void {
    w.frozen = false;
    try {
      process.kill(w.pid, 'SIGCONT');
    } catch {
      /* gone */
    }
  }

  /** Runtime log lines of every worker that ever ran, with its pid. */
  logs(): Array<{ pid: number; log: string; [k: string]: unknown }> {
    return this.all.flatMap((w) =>
      jsonLines(w.child)
        .filter((o) => typeof o.log === 'string')
        .map((o) => ({ ...o, pid: w.pid }) as { pid: number; log: string }),
    );
  }

  /** Lines `{"crash": …}` printed by any worker. */
  crashLines(): string[] {
    return this.all.flatMap((w) => jsonLines(w.child).flatMap((o) => (typeof o.crash === 'string' ? [`${w.pid}: ${o.crash}`] : [])));
  }

  /** Graceful stop of every live worker (SIGCONT first), SIGKILL after `graceMs`. */
  async stopAll(graceMs = 5000): Promise<void> {
    await Promise.all(
      this.all.map(async (w) => {
        if (w.child.proc.exitCode !== null || w.child.proc.signalCode !== null) return;
        w.killed = true;
        this.thaw(w);
        const t = setTimeout(() => void w.child.kill('SIGKILL'), graceMs);
        await w.child.kill('SIGTERM');
        clearTimeout(t);
      }),
    );
  }

  /** SIGKILL everything (cleanup after a failure). */
  async killAll(): Promise<void> {
    await Promise.all(this.all.map((w) => this.kill(w)));
  }
}
