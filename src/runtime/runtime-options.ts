import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { InvalidOptionsError } from '../errors.js';
import type { AgentEntry, AgentRegistration } from './agent-run.js';
import type { ClientOptions } from './client-api.js';
import { positive } from './client-options.js';
import type { MachineEntry } from './definition.js';
import type { Inspector } from './inspection.js';

/** Options of {@link createRuntime}. */
export interface RuntimeOptions extends ClientOptions {
  /** Machines this runtime runs, by name. A runtime with none only runs agents. */
  machines?: Record<string, MachineEntry>;
  /** Agent implementations this process runs, by the name `fromAgent(name)` uses. */
  agents?: Record<string, AgentEntry>;
  /**
   * A held task with nothing in flight for this long (ms) is passivated: its
   * actor leaves memory, its lease is released, and its next event or timer
   * activates it on any worker. 0 disables passivation.
   * @default 30000
   */
  idleMs?: number;
  /**
   * Lock of a running agent job, in ms: a job whose worker died runs again
   * elsewhere after about this long (BullMQ's stalled-job recovery).
   * @default 30000
   */
  agentLockMs?: number;
  /**
   * Largest agent output accepted, in bytes of JSON; larger is an error result.
   * @default 1048576 (1 MiB)
   */
  maxOutputBytes?: number;
  /**
   * How long a task's lease lasts without renewal, in ms. A dead process's
   * tasks are taken over by others after about this long.
   * @default 5000
   */
  leaseMs?: number;
  /**
   * How many activations this process handles at once.
   * @default 32
   */
  activationConcurrency?: number;
  /**
   * Approximate number of history entries kept per task.
   * @default 10000
   */
  historyLimit?: number;
  /**
   * A stable owner id for this process (e.g. the pod or unit name). A runtime
   * started with the id of a process that died takes that process's tasks back
   * at once, instead of waiting for their leases to lapse (it keeps an index
   * of the tasks it holds under this id). At most one live process may use an
   * id: a second one would take the first one's tasks over (the first is then
   * fenced, so nothing is lost, but they would fight).
   * @default hostname-pid-random (no index; tasks of a dead process are taken over after `leaseMs`)
   */
  owner?: string;
  /**
   * An XState inspector (e.g. `createWebSocketInspector({ url }).inspect` or
   * `createBrowserInspector().inspect` from @statelyai/inspect): every task's
   * inspection events are forwarded, with stable ids (the task id, and
   * `<taskId>/<child path>` for children) that survive restores and workers.
   */
  inspect?: Inspector;
  /**
   * How often this process refreshes its entry in the machine registry, in ms.
   * It counts as live for three beats after the last one: a task whose machine
   * no live process runs is flagged in its view.
   * @default 5000
   */
  registryHeartbeatMs?: number;
  /**
   * Deepest chain of child tasks (`fromTask`) a task may start: a child past
   * it fails its invocation with `TASK_DEPTH` instead of being spawned (a
   * recursion that never ends is an error, not a runaway).
   * @default 32
   */
  maxTaskDepth?: number;
  /** Limits of tasks' durable streams (agents' `stream.write`). */
  stream?: {
    /** Entries kept per task (approximately). @default 100000 */
    maxLength?: number;
    /** Entries older than this are trimmed, ms. @default 86400000 (a day) */
    maxAgeMs?: number;
    /** Largest chunk, bytes of JSON: a larger write is `PAYLOAD_TOO_LARGE`. @default 65536 */
    maxChunkBytes?: number;
  };
}

/** A runtime's own options with every default applied and checked (the reasons are on {@link RuntimeOptions}). */
export interface ResolvedRuntimeOptions {
  agents: Map<string, AgentRegistration>;
  idleMs: number;
  agentLockMs: number;
  maxOutputBytes: number;
  leaseMs: number;
  activationConcurrency: number;
  historyLimit: number;
  registryHeartbeatMs: number;
  maxTaskDepth: number;
  stream: { maxLength: number; maxAgeMs: number; maxChunkBytes: number };
  /** This process's owner id. */
  owner: string;
  /** True when the owner id was given: the runtime keeps the owner index and reclaims it at start. */
  stableOwner: boolean;
  log: (msg: string, extra?: Record<string, unknown>) => void;
}

/** Apply the defaults and check the options only a runtime has. */
export function resolveRuntimeOptions(o: RuntimeOptions, machineCount: number): ResolvedRuntimeOptions {
  const agents = new Map<string, AgentRegistration>();
  for (const [name, entry] of Object.entries(o.agents ?? {})) {
    if (!/^[A-Za-z0-9_-]{1,100}$/.test(name)) throw new InvalidOptionsError(`agent name '${name}' is invalid: use letters, digits, '_' and '-'`);
    agents.set(name, typeof entry === 'function' ? { run: entry } : entry);
  }
  if (machineCount === 0 && agents.size === 0) throw new InvalidOptionsError('createRuntime needs at least one machine in `machines` or one agent in `agents`');
  if (o.owner !== undefined && !/^[A-Za-z0-9_.@-]{1,200}$/.test(o.owner)) {
    throw new InvalidOptionsError(`owner '${o.owner}' is invalid: use 1-200 letters, digits, '_', '.', '@' and '-'`);
  }
  const owner = o.owner ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  return {
    agents,
    idleMs: positive('idleMs', o.idleMs, 30_000, 0),
    agentLockMs: positive('agentLockMs', o.agentLockMs, 30_000, 100),
    maxOutputBytes: positive('maxOutputBytes', o.maxOutputBytes, 1024 * 1024),
    leaseMs: positive('leaseMs', o.leaseMs, 5000, 100),
    activationConcurrency: positive('activationConcurrency', o.activationConcurrency, 32),
    historyLimit: positive('historyLimit', o.historyLimit, 10_000),
    registryHeartbeatMs: positive('registryHeartbeatMs', o.registryHeartbeatMs, 5000, 10),
    maxTaskDepth: positive('maxTaskDepth', o.maxTaskDepth, 32, 1),
    stream: {
      maxLength: positive('stream.maxLength', o.stream?.maxLength, 100_000, 1),
      maxAgeMs: positive('stream.maxAgeMs', o.stream?.maxAgeMs, 86_400_000, 1),
      maxChunkBytes: positive('stream.maxChunkBytes', o.stream?.maxChunkBytes, 65_536, 1),
    },
    owner,
    stableOwner: o.owner !== undefined,
    log: o.log ?? (process.env.BATON_DEBUG ? (msg, extra) => console.error(`[baton ${owner}] ${msg}`, extra ?? '') : () => undefined),
  };
}
