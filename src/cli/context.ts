import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { createClient, type AgentEntry, type BatonClient, type MachineEntry } from '../index.js';

/** Options every command takes (declared on the program). */
export interface GlobalOptions {
  redis?: string;
  prefix: string;
  json?: boolean;
  color?: boolean;
}

/** The program-level options, wherever they were written on the command line. */
export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/** The Redis connection to use: `--redis`, else REDIS_URL. */
export function connectionOf(cmd: Command): string | undefined {
  return globals(cmd).redis ?? process.env.REDIS_URL;
}

/** Run `fn` with a client for the command's Redis and prefix, closing it afterwards. */
export async function withClient<T>(cmd: Command, fn: (client: BatonClient) => Promise<T>): Promise<T> {
  const g = globals(cmd);
  const client = createClient({ connection: connectionOf(cmd), prefix: g.prefix });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** Parse JSON given on the command line, with an error that says which argument was wrong. */
export function parseJson(what: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Parse a JSON event: an object with a string `type`. */
export function parseEvent(text: string): { type: string; [k: string]: unknown } {
  const event = parseJson('event', text);
  if (!event || typeof event !== 'object' || Array.isArray(event) || typeof (event as { type?: unknown }).type !== 'string') {
    throw new Error(`event must be a JSON object with a string "type", e.g. '{"type":"approve"}'`);
  }
  return event as { type: string };
}

/** Parse a positive integer option. */
export function parseCount(what: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${what} must be a positive integer, got '${text}'`);
  return n;
}

/** Print `value` as JSON with `--json`, else the human text. */
export function print(cmd: Command, value: unknown, human: () => string): void {
  const text = globals(cmd).json ? JSON.stringify(value, null, 2) : human();
  process.stdout.write(`${text}\n`);
}

/** What a worker module exports. */
export interface WorkerModule {
  machines?: Record<string, MachineEntry>;
  agents?: Record<string, AgentEntry>;
}

/** Import a module exporting `machines` and/or `agents` (TypeScript works: bin/baton.mjs registers tsx). */
export async function loadWorkerModule(modulePath: string): Promise<WorkerModule> {
  let mod: WorkerModule;
  try {
    mod = (await import(pathToFileURL(resolve(modulePath)).href)) as WorkerModule;
  } catch (err) {
    throw new Error(`cannot load module '${modulePath}': ${(err as Error).message.split('\n')[0]}`);
  }
  if (!mod.machines && !mod.agents) throw new Error(`module '${modulePath}' exports neither \`machines\` nor \`agents\``);
  return mod;
}
