import { InvalidEventError, InvalidIdError, InvalidInputError, PayloadTooLargeError } from '../errors.js';

/** Task ids: letters, digits, `_ . -`; no `:` (BullMQ job ids) and no braces (hash tags). */
const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** Idempotency keys: printable, no spaces, at most 200 characters. */
const IDEM_KEY = /^[\x21-\x7e]{1,200}$/;
/** Event types reserved for the runtime. */
const RESERVED = /^(baton|xstate)\./;

/** Throw unless `id` is a valid task id. */
export function assertTaskId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !TASK_ID.test(id)) {
    throw new InvalidIdError(
      `task id ${JSON.stringify(id)} is invalid: use 1-128 characters of letters, digits, '_', '.', '-', starting with a letter or digit`,
      { id },
    );
  }
}

/** Throw unless `key` is a valid idempotency key. */
export function assertIdempotencyKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || !IDEM_KEY.test(key)) {
    throw new InvalidIdError(`idempotency key ${JSON.stringify(key)} is invalid: use 1-200 printable characters without spaces`, {
      key,
    });
  }
}

/** JSON text of `value`, or a readable reason why it is not plain JSON data. */
function toJson(value: unknown, path = '$'): string {
  checkPlain(value, path, new Set());
  return JSON.stringify(value);
}

function checkPlain(value: unknown, path: string, seen: Set<unknown>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new Error(`${path} is ${value}, which JSON cannot hold`);
      return;
    case 'undefined':
      return; // dropped by JSON, as in plain objects
    case 'object': {
      if (value === null) return;
      if (seen.has(value)) throw new Error(`${path} is a circular reference`);
      seen.add(value);
      if (Array.isArray(value)) {
        value.forEach((v, i) => checkPlain(v, `${path}[${i}]`, seen));
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          throw new Error(`${path} is a ${proto?.constructor?.name ?? 'non-plain object'}, not plain JSON data`);
        }
        for (const [k, v] of Object.entries(value)) checkPlain(v, `${path}.${k}`, seen);
      }
      seen.delete(value);
      return;
    }
    default:
      throw new Error(`${path} is a ${typeof value}, which JSON cannot hold`);
  }
}

/** Minimal structural type of a zod schema (any zod 4 schema fits). */
export interface SchemaLike<T = unknown> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } };
}

/** One reason a value failed its schema. */
export interface Issue {
  path: PropertyKey[];
  message: string;
}

/** A check of one value against a schema (zod, or a compiled JSON Schema): its issues, or undefined when it passes. */
export type Check = (value: unknown) => Issue[] | undefined;

/** The check of a zod schema. */
export function zodCheck(schema: SchemaLike): Check {
  return (value) => {
    const r = schema.safeParse(value);
    return r.success ? undefined : r.error.issues;
  };
}

/**
 * What a machine accepts as events: a check per event type with a schema
 * (null: a type known to have a schema that cannot be checked here), and
 * whether other types are refused.
 */
export interface EventRules {
  closed: boolean;
  types: ReadonlyMap<string, Check | null>;
}

/** The event rules of a machine definition's zod schemas. */
export function zodRules(events: Record<string, SchemaLike> | undefined, closed = false): EventRules {
  const types = new Map<string, Check | null>();
  for (const [type, schema] of Object.entries(events ?? {})) types.set(type, zodCheck(schema));
  return { closed, types };
}

/** Readable form of the first few issues: `path: message; …`. */
export function describeIssues(issues: Issue[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

/**
 * Validate an event for a task's mailbox and return its JSON text.
 * Checks: a plain object with a non-empty string `type`, not reserved, plain
 * JSON data, within `maxBytes`, and the machine's rules: the schema of that
 * type, and a closed machine refuses types it has no schema for.
 */
export function encodeEvent(event: unknown, maxBytes: number, rules?: EventRules, allowReserved = false): string {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    throw new InvalidEventError('an event must be an object with a string `type`');
  }
  const type = (event as { type?: unknown }).type;
  if (typeof type !== 'string' || type.length === 0) {
    throw new InvalidEventError('an event must have a non-empty string `type`');
  }
  if (!allowReserved && RESERVED.test(type)) {
    throw new InvalidEventError(`event type '${type}' is reserved (baton.* and xstate.* are the runtime's)`, {
      details: { type },
    });
  }
  let json: string;
  try {
    json = toJson(event);
  } catch (err) {
    throw new InvalidEventError(`event '${type}' is not JSON data: ${(err as Error).message}`, { details: { type } });
  }
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) throw new PayloadTooLargeError(`event '${type}'`, bytes, maxBytes);
  if (rules) {
    const reason = eventRefusal(rules, type, event);
    if (reason) throw new InvalidEventError(`event '${type}' ${reason.text}`, { details: { type, issues: reason.issues } });
  }
  return json;
}

/**
 * Why `rules` refuse an event of `type` (undefined when they accept it): an
 * unknown type of a closed machine, or the issues of the type's schema.
 */
export function eventRefusal(rules: EventRules, type: string, event: unknown): { text: string; issues: Issue[] } | undefined {
  const check = rules.types.get(type); // a Map: never Object.prototype's members
  if (check === undefined) {
    if (!rules.closed) return undefined;
    const known = [...rules.types.keys()];
    return { text: `is not an event this machine accepts (closed; accepted: ${known.join(', ') || 'none'})`, issues: [] };
  }
  const issues = check?.(event);
  return issues ? { text: `does not match its schema: ${describeIssues(issues)}`, issues } : undefined;
}

/** A stream chunk as JSON: plain JSON data (`INVALID_INPUT` otherwise) of at most `maxBytes` (`PAYLOAD_TOO_LARGE`). */
export function encodeChunk(chunk: unknown, maxBytes: number): string {
  let json: string;
  try {
    json = chunk === undefined ? 'null' : toJson(chunk);
  } catch (err) {
    throw new InvalidInputError(`a stream chunk is not JSON data: ${(err as Error).message}`);
  }
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) throw new PayloadTooLargeError('a stream chunk', bytes, maxBytes);
  return json;
}

/**
 * Validate spawn input against the machine's check and size limit; return
 * its JSON text. The input is stored as given: the process that runs the
 * task parses it with the machine's own schema (defaults, transforms) when
 * the task first starts, and also checks what a JSON Schema could not.
 */
export function encodeInput(input: unknown, maxBytes: number, check?: Check): string {
  if (check) {
    const issues = check(input);
    if (issues) {
      throw new InvalidInputError(`input does not match the machine's schema: ${describeIssues(issues)}`, {
        details: { issues },
      });
    }
  }
  let json: string;
  try {
    json = input === undefined ? 'null' : toJson(input);
  } catch (err) {
    throw new InvalidInputError(`input is not JSON data: ${(err as Error).message}`);
  }
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) throw new PayloadTooLargeError('input', bytes, maxBytes);
  return json;
}
