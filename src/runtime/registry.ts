import type { MachineRecord, ProcessRecord, RegistryContents, RegistryStore } from '../persistence/registry-store.js';
import type { Check, EventRules } from '../persistence/validate.js';
import type { Clock } from './clock.js';
import { compileJsonSchema } from './json-schema.js';

/** What a client checks for one machine version, compiled from its registry record. */
export interface MachineRules {
  record: MachineRecord;
  /** The spawn input check (undefined: any JSON). */
  input: Check | undefined;
  events: EventRules;
}

/** Live processes for a machine, as the registry says. */
export interface Serving {
  /** Processes that run the machine at the task's version or newer and were seen recently. */
  live: ProcessRecord[];
  /** When the last of the processes that ever ran it was last seen (undefined: never). */
  lastSeen: number | undefined;
}

/** A lookup that misses reads the registry again at most this often. */
const MISS_REREAD_MS = 500;

/** How long a read of the registry's processes is trusted for liveness (they beat every few seconds). */
const PROCS_FRESH_MS = 2000;

/**
 * A client's view of the machine registry: read once, kept until a
 * registry-changed notice (or a lookup that misses) says to read it again.
 * Validators are compiled once per machine version (by fingerprint).
 */
export class MachineRegistry {
  private contents: RegistryContents | undefined;
  private readAt = 0;
  private stale = true;
  private loading: Promise<RegistryContents> | undefined;
  private listening: Promise<unknown> | undefined;
  private readonly compiled = new Map<string, MachineRules>();

  constructor(
    private readonly store: RegistryStore,
    private readonly clock: Clock,
    /** Listen for registry-changed notices (called once, on first use). */
    private readonly listen: (onChange: () => void) => Promise<unknown>,
  ) {}

  /** Forget what was read: the next lookup reads the registry again. */
  invalidate(): void {
    this.stale = true;
  }

  private async load(force = false): Promise<RegistryContents> {
    this.listening ??= this.listen(() => this.invalidate()).catch(() => (this.listening = undefined));
    // A forced read (a miss) at most every MISS_REREAD_MS: a send to a task whose version is no longer
    // registered, or spawns of a machine nobody runs, must not cost a registry read each (notices still do).
    const fresh = this.clock.now() - this.readAt < MISS_REREAD_MS;
    if (this.contents && !this.stale && (!force || fresh)) return this.contents;
    this.loading ??= (async () => {
      this.stale = false; // a notice arriving during the read makes the next lookup read again
      try {
        const c = await this.store.read();
        this.contents = c;
        this.readAt = this.clock.now();
        return c;
      } catch (err) {
        this.stale = true;
        throw err;
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  /** Every machine version in the registry. */
  async machines(): Promise<MachineRecord[]> {
    return (await this.load()).machines;
  }

  /** Every process in the registry (live or not). */
  async processes(): Promise<ProcessRecord[]> {
    return (await this.load(this.clock.now() - this.readAt > PROCS_FRESH_MS)).processes;
  }

  /**
   * The record of `name` at `version`; without a version, or when that version
   * is no longer registered, the newest version that a live process runs (else
   * the newest registered). Reads the registry again once before saying
   * undefined (a worker may have just started).
   */
  async record(name: string, version?: number): Promise<MachineRecord | undefined> {
    const pick = (c: RegistryContents): MachineRecord | undefined => {
      const all = c.machines.filter((m) => m.name === name);
      if (!all.length) return undefined;
      const exact = version === undefined ? undefined : all.find((m) => m.version === version);
      if (exact) return exact;
      const now = this.clock.now();
      const live = new Set(c.processes.filter((p) => p.expiresAt > now).flatMap((p) => p.machines));
      const byVersion = [...all].sort((a, b) => b.version - a.version);
      return byVersion.find((m) => live.has(`${m.name}@${m.version}`)) ?? byVersion[0];
    };
    const first = pick(await this.load());
    if (first && (version === undefined || first.version === version)) return first;
    return pick(await this.load(true)) ?? first;
  }

  /** The compiled checks of `name` (at `version`, see {@link record}), or undefined for a machine no process registered. */
  async rules(name: string, version?: number): Promise<MachineRules | undefined> {
    const record = await this.record(name, version);
    if (!record) return undefined;
    const key = `${record.name}@${record.version}#${record.fingerprint}`;
    let rules = this.compiled.get(key);
    if (!rules) {
      rules = compile(record);
      if (this.compiled.size > 256) this.compiled.clear();
      this.compiled.set(key, rules);
    }
    return rules;
  }

  /** Names of the registered machines. */
  async names(): Promise<string[]> {
    return [...new Set((await this.machines()).map((m) => m.name))].sort();
  }

  /** Which live processes run `name` at `version` or newer (a newer version migrates older snapshots). */
  async serving(name: string, version: number): Promise<Serving> {
    const procs = await this.processes();
    const now = this.clock.now();
    const runs = (p: ProcessRecord) =>
      p.machines.some((f) => {
        const at = f.lastIndexOf('@');
        return f.slice(0, at) === name && Number(f.slice(at + 1)) >= version;
      });
    const all = procs.filter(runs);
    const lastSeen = all.length ? Math.max(...all.map((p) => p.lastSeen)) : undefined;
    return { live: all.filter((p) => p.expiresAt > now), lastSeen };
  }
}

function compile(record: MachineRecord): MachineRules {
  // A schema that does not compile (written by something else) checks nothing here; the task's process still does.
  const safe = (schema: Record<string, unknown> | null): Check | null => {
    if (!schema) return null;
    try {
      return compileJsonSchema(schema);
    } catch {
      return null;
    }
  };
  const types = new Map<string, Check | null>();
  for (const [type, schema] of Object.entries(record.events)) types.set(type, safe(schema));
  const inputCheck = safe(record.input);
  const input: Check | undefined = inputCheck
    ? (value) => (value === undefined && record.inputOptional ? undefined : inputCheck(value))
    : undefined;
  return { record, input, events: { closed: record.closed, types } };
}
