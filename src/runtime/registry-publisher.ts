import { hostname } from 'node:os';
import { machineField, type MachineRecord, type ProcessRecord, type RegistryStore } from '../persistence/registry-store.js';
import type { Clock } from './clock.js';
import type { TaskDefinition } from './definition.js';
import { machineRecord } from './machine-schemas.js';

/** A process record lingers this long after it stopped beating before any publisher removes it. */
const PRUNE_AFTER_MS = 24 * 3600_000;
/** A process counts as live for this many heartbeats after its last one. */
const LIVE_BEATS = 3;

/**
 * Publishes the machines a runtime runs in the registry, beats while it runs
 * (so clients and views can tell a live process from a dead one) and takes
 * the process out when it closes. Records of other versions are left beside
 * this one's; a lost registry (Redis restarted empty) is written again at the
 * next beat.
 */
export class RegistryPublisher {
  private readonly records: MachineRecord[];
  private readonly startedAt: number;
  private timer?: NodeJS.Timeout;
  private beating = false;

  constructor(
    private readonly store: RegistryStore,
    private readonly owner: string,
    definitions: Map<string, TaskDefinition>,
    private readonly clock: Clock,
    private readonly beatMs: number,
    private readonly log: (msg: string, extra?: Record<string, unknown>) => void,
  ) {
    this.records = [...definitions].map(([name, def]) => machineRecord(name, def));
    this.startedAt = clock.now();
  }

  private proc(leaving = false): ProcessRecord {
    const now = this.clock.now();
    return {
      owner: this.owner,
      host: hostname(),
      pid: process.pid,
      machines: this.records.map((r) => machineField(r.name, r.version)),
      startedAt: this.startedAt,
      lastSeen: now,
      expiresAt: leaving ? now : now + LIVE_BEATS * this.beatMs,
    };
  }

  private publish(proc: ProcessRecord, records: MachineRecord[]): Promise<number> {
    const now = this.clock.now();
    return this.store.publish(proc, records, now, now - PRUNE_AFTER_MS);
  }

  /** Publish every record and this process, then beat every `beatMs`. */
  async start(): Promise<void> {
    await this.publish(this.proc(), this.records);
    this.timer = setInterval(() => void this.beat(), this.beatMs);
    this.timer.unref?.();
  }

  private async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    try {
      const missing = await this.publish(this.proc(), []);
      if (missing > 0) await this.publish(this.proc(), this.records);
    } catch (err) {
      this.log('registry heartbeat failed', { error: (err as Error).message });
    } finally {
      this.beating = false;
    }
  }

  /** Stop beating and mark this process gone (its record says when it was last seen; machine records stay). */
  async stop(): Promise<void> {
    if (!this.timer) return; // never started (Redis was not reached): nothing to take back
    clearInterval(this.timer);
    this.timer = undefined;
    try {
      await this.publish(this.proc(true), []);
    } catch (err) {
      this.log('leaving the registry failed', { error: (err as Error).message });
    }
  }
}
