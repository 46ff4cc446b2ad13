/**
 * Every Redis key and channel name Baton uses comes from here.
 *
 * A task's keys share the hash tag `{<taskId>}` so one Lua script can touch all
 * of them on Redis Cluster. Prefix-wide keys (the task index, the due set) live
 * in their own slots and are only written by single-key commands.
 */
export interface TaskKeys {
  /** HASH: machine, version, status, seq, cursor, last, snapshot, timers, input, createdAt, updatedAt, reason. */
  state: string;
  /** STREAM: the durable mailbox. */
  mailbox: string;
  /** STREAM: committed transitions. */
  history: string;
  /** STRING with PX: owner id of the current writer. */
  lease: string;
  /** STRING counter: fencing token, incremented on every lease acquisition. */
  epoch: string;
  /** Prefix of the per-idempotency-key STRING keys. */
  idemPrefix: string;
  /** HASH with EX: tokens of recent sends, so a command resent after a lost reply appends nothing. */
  recent: string;
  /** Pub/sub channel carrying every commit of this task. */
  changes: string;
  /** Pub/sub channel carrying agents' progress reports for this task. */
  progress: string;
  /** STREAM: the task's durable stream (agents' `stream.write` chunks, attempt markers, the end). */
  stream: string;
  /** HASH: per agent job, its run counter and current run (fences the stream's writers). */
  runs: string;
}

/** Key factory for one prefix. */
export class Keys {
  /** Sorted set: taskId scored by creation time. */
  readonly tasks: string;
  /** Sorted set: taskId scored by when it next needs a look (lease expiry or next timer). */
  readonly due: string;
  /** Pub/sub channel prefix for wake notices to one owner process. */
  readonly ownerChannelPrefix: string;
  /** BullMQ prefix: hash-tagged so every queue key lands in one cluster slot. */
  readonly queuePrefix: string;
  /** Pub/sub channel telling agent workers to abort a job. */
  readonly agentCancel: string;
  /** HASH: `name@version` -> machine record (JSON): schemas and statechart of every machine a process runs. */
  readonly registryMachines: string;
  /** HASH: owner id -> process record (JSON): the machines it runs and when it was last seen. */
  readonly registryProcs: string;
  /** Pub/sub channel: the registry changed (a machine version or a process came or went). */
  readonly registryChanged: string;

  constructor(readonly prefix: string) {
    this.tasks = `${prefix}:tasks`;
    this.due = `${prefix}:due`;
    this.ownerChannelPrefix = `${prefix}:owner:`;
    this.queuePrefix = `{${prefix}}`;
    this.agentCancel = `${prefix}:agent-cancel`;
    // One hash tag for both registry hashes, so one script writes them on Redis Cluster too.
    this.registryMachines = `${prefix}:{registry}:machines`;
    this.registryProcs = `${prefix}:{registry}:procs`;
    this.registryChanged = `${prefix}:registry-changed`;
  }

  /** Keys of one task. */
  task(taskId: string): TaskKeys {
    const base = `${this.prefix}:task:{${taskId}}`;
    return {
      state: `${base}:state`,
      mailbox: `${base}:mailbox`,
      history: `${base}:history`,
      lease: `${base}:lease`,
      epoch: `${base}:epoch`,
      idemPrefix: `${base}:idem:`,
      recent: `${base}:recent`,
      changes: `${base}:changes`,
      progress: `${base}:progress`,
      stream: `${base}:stream`,
      runs: `${base}:runs`,
    };
  }

  /** SET: ids of the tasks a runtime with a stable owner id holds (a hint, for taking them back after a restart). */
  owned(owner: string): string {
    return `${this.prefix}:owned:${owner}`;
  }

  /** Channel that wakes the process `owner`. */
  ownerChannel(owner: string): string {
    return this.ownerChannelPrefix + owner;
  }
}

/**
 * BullMQ queue name of a machine's activations (under the hash-tagged queue
 * prefix): `activate-<name>` for names of letters, digits, `_ . -`; others
 * are hex-encoded (`activate~<hex>`), since queue names may not hold `:`.
 */
export function activationQueueName(machine: string): string {
  return /^[A-Za-z0-9_.-]{1,100}$/.test(machine) ? `activate-${machine}` : `activate~${Buffer.from(machine, 'utf8').toString('hex')}`;
}

/** BullMQ queue name of an agent's jobs. */
export function agentQueueName(agent: string): string {
  return `agent-${agent}`;
}

/** The key of BullMQ's hash of one agent job (`<queue prefix>:<queue>:<jobId>`), to tell whether the queue has it. */
export function agentJobKey(queuePrefix: string, agent: string, jobId: string): string {
  return `${queuePrefix}:${agentQueueName(agent)}:${jobId}`;
}
