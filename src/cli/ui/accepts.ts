// What the web view knows about a task's machine without its code: the machine
// registry (statechart, JSON Schemas of events), read briefly cached, and from
// it the events the task's current state accepts, each with its schema.
import type { BatonClient, MachineEntry, MachineInfo } from '../../index.js';
import { describeMachine, machineGraph, type GraphNode, type MachineGraph } from '../../index.js';

type Schema = Record<string, unknown>;

/** One event a task's current state accepts. */
export interface AcceptedEvent {
  type: string;
  /** Its JSON Schema (zod's export, input side); null when none is known (fields unchecked until the task runs). */
  schema: Schema | null;
}

/** The events a task can be sent now, and where that was read from. */
export interface Accepts {
  /** 'registry' (the task's version, or the newest when its own is gone), 'definition' (the server's `machines`), 'none'. */
  source: 'registry' | 'definition' | 'none';
  /** Version of the record the schemas come from. */
  version?: number;
  /** The machine refuses event types without a schema. */
  closed: boolean;
  /** Sorted by type; empty when nothing is known (the page keeps its raw JSON box). */
  events: AcceptedEvent[];
}

/** What one machine version says about itself: schemas, closed flag, statechart. */
interface MachineFacts {
  version: number;
  events: Record<string, Schema | null>;
  closed: boolean;
  graph?: MachineGraph;
}

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** A registry graph is untrusted JSON: the shape the page draws, or undefined. */
function checkedGraph(g: unknown): MachineGraph | undefined {
  if (!isObj(g) || !isObj(g.root) || !Array.isArray(g.edges) || typeof g.id !== 'string') return undefined;
  const nodeOk = (n: unknown, depth: number): boolean =>
    isObj(n) && typeof n.path === 'string' && typeof n.key === 'string' && Array.isArray(n.children) && depth < 64 && n.children.every((c) => nodeOk(c, depth + 1));
  if (!nodeOk(g.root, 0)) return undefined;
  return { ...(g as unknown as MachineGraph), source: 'definition', actors: isObj(g.actors) ? (g.actors as MachineGraph['actors']) : {} };
}

/** Active state node paths of a state value, ancestors first: 'a' → ['', 'a']; { p: { r: 'x' } } → ['', 'p', 'p.r', 'p.r.x']. */
export function activePaths(value: unknown, prefix = '', depth = 0): string[] {
  const out = prefix === '' ? [''] : [];
  if (depth > 32 || value === undefined || value === null) return out;
  const join = (k: string) => (prefix ? `${prefix}.${k}` : k);
  if (typeof value !== 'object') return [...out, join(String(value))];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out.push(join(k), ...activePaths(v, join(k), depth + 1));
  return out;
}

/** Event types handled by the active nodes of `value` (and so by their ancestors), without `xstate.*` and `baton.*`. */
export function acceptedTypes(graph: MachineGraph, value: unknown): string[] {
  const byPath = new Map<string, GraphNode>();
  const index = (n: GraphNode) => {
    byPath.set(n.path, n);
    for (const c of n.children ?? []) index(c);
  };
  index(graph.root);
  const types = new Set<string>();
  for (const path of activePaths(value)) {
    for (const t of byPath.get(path)?.events ?? []) {
      if (typeof t === 'string' && t && !t.startsWith('xstate.') && !t.startsWith('baton.')) types.add(t);
    }
  }
  return [...types];
}

/**
 * The registry as the page needs it: `client.machines()` cached for `ttlMs`
 * (one read at a time; an unreadable registry keeps the last answer), plus
 * the server's own definitions when it was given `machines`.
 */
export class MachineCatalog {
  private cached: MachineInfo[] = [];
  private at = -Infinity;
  private pending?: Promise<MachineInfo[]>;
  private readonly local = new Map<string, MachineFacts>();

  constructor(
    private readonly client: BatonClient,
    machines: Record<string, MachineEntry> | undefined,
    private readonly ttlMs = 2000,
  ) {
    for (const [name, entry] of Object.entries(machines ?? {})) {
      const r = describeMachine(name, entry);
      this.local.set(name, { version: r.version, events: r.events, closed: r.closed, graph: machineGraph(entry, name) });
    }
  }

  /** Registry records, at most `ttlMs` old (`maxAgeMs` when given). */
  async records(maxAgeMs = this.ttlMs): Promise<MachineInfo[]> {
    if (Date.now() - this.at < maxAgeMs) return this.cached;
    this.pending ??= this.client
      .machines()
      .then((r) => {
        this.cached = r;
        this.at = Date.now();
        return r;
      })
      .catch(() => this.cached)
      .finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** Machine names: the server's definitions and every registered one. */
  async names(): Promise<string[]> {
    return [...new Set([...this.local.keys(), ...(await this.records()).map((r) => r.name)])].sort();
  }

  private async registered(name: string, version?: number): Promise<MachineFacts | undefined> {
    const pick = (records: MachineInfo[]) => {
      const versions = records.filter((x) => x.name === name);
      return versions.find((x) => x.version === version) ?? (version === undefined ? versions.at(-1) : undefined);
    };
    // A version the cached answer lacks may have been published since: read again (at most every 250 ms).
    const r = pick(await this.records()) ?? pick(await this.records(250));
    return r && { version: r.version, events: isObj(r.events) ? r.events : {}, closed: r.closed === true, graph: checkedGraph(r.graph) };
  }

  /** The statechart of `name` (at `version` when known): the server's definition, else the registry's. */
  async graph(name: string, version?: number): Promise<(MachineGraph & { version?: number }) | undefined> {
    const local = this.local.get(name);
    if (local?.graph) return local.graph;
    const facts = (version !== undefined ? await this.registered(name, version) : undefined) ?? (await this.registered(name));
    return facts?.graph && { ...facts.graph, version: facts.version };
  }

  /**
   * What a task of `name`@`version` in state `value` can be sent: the types
   * its active states handle, each with its schema from the registry record
   * of that version (else the server's definition, else the newest record).
   * A closed machine offers only the types it has schemas for.
   */
  async accepts(name: string, version: number, value: unknown): Promise<Accepts> {
    const exact = await this.registered(name, version);
    const local = this.local.get(name);
    const facts = exact ?? local ?? (await this.registered(name));
    const source = facts === undefined ? 'none' : facts === local && !exact ? 'definition' : 'registry';
    if (!facts || value === undefined) return { source, closed: facts?.closed ?? false, events: [], ...(facts ? { version: facts.version } : {}) };
    const graph = facts.graph ?? local?.graph ?? (await this.graph(name, version));
    let types = graph ? acceptedTypes(graph, value) : [];
    // A wildcard takes any type: offer those with a schema (the raw box covers the rest).
    if (types.includes('*')) types = [...new Set([...types.filter((t) => t !== '*'), ...Object.keys(facts.events)])];
    const events = types
      .filter((t) => !facts.closed || Object.hasOwn(facts.events, t))
      .sort()
      .map((type) => ({ type, schema: (Object.hasOwn(facts.events, type) ? facts.events[type] : null) ?? null }));
    return { source, version: facts.version, closed: facts.closed, events };
  }
}
