/**
 * What the standalone benches (bench/tasks.ts, bench/streams.ts) share: their
 * numeric flags, and a private redis-server stopped (with their child
 * processes) however they end.
 */
import { startRedis, type RedisServerHandle } from '../test/helpers/redis-server.js';
import { killChildren } from './child.js';

/** The positive number given as `--<name>=<n>`, or `fallback`. */
export function numArg(name: string, fallback: number): number {
  const v = Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
  if (!(v > 0)) throw new Error(`--${name} must be a positive number`);
  return v;
}

/**
 * Start a private redis-server, and make a signal or an unhandled failure
 * kill the bench's child processes and stop the server before exiting (a
 * failure is logged through `log`).
 */
export async function privateRedis(log: (msg: string) => void): Promise<RedisServerHandle> {
  let stopServer = async () => {};
  const abort = (code: number) => void killChildren().then(stopServer).finally(() => process.exit(code));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => abort(130));
  for (const ev of ['unhandledRejection', 'uncaughtException'] as const) {
    process.on(ev, (err: unknown) => {
      log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      abort(1);
    });
  }
  const server = await startRedis();
  stopServer = () => server.stop();
  return server;
}

/** A plain-text table: the first column left-aligned, the others right-aligned. */
export function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
