/**
 * Workload B's worker process: `node --import tsx bench/peers/crash-child.ts <start|resume> <taskId>`
 * (context in PEERS_CTX). Every step execution is appended to a file the peer
 * knows nothing about (PEERS_EXEC_LOG). In `start` mode the process stops dead
 * in step 4 and says CRASH on stdout; the host then SIGKILLs it. In `resume`
 * mode it starts the peer's worker afresh, says READY, waits for the task to
 * complete and says DONE.
 */
import { appendFileSync } from 'node:fs';
import { ctxFromEnv, loadPeer } from './lib/peer.js';
import { checkResults, setStepHook } from './lib/work.js';

const [mode, taskId] = process.argv.slice(2);
const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  if ((mode !== 'start' && mode !== 'resume') || !taskId) throw new Error('usage: crash-child.ts <start|resume> <taskId>');
  const ctx = ctxFromEnv();
  const log = process.env.PEERS_EXEC_LOG;
  if (!log) throw new Error('PEERS_EXEC_LOG is not set');
  setStepHook(async (id, i) => {
    if (id !== taskId) return;
    appendFileSync(log, `${i}\n`);
    if (process.env.PEERS_DEBUG) process.stderr.write(`[crash-child ${mode}] step ${i} at ${Math.round(performance.now())} ms\n`);
    if (mode === 'start' && i === 4) {
      say('CRASH');
      await new Promise<never>(() => undefined); // dead in step 4 until SIGKILL
    }
  });
  const mod = await loadPeer(ctx.peer);
  const worker = mod.createCrashWorker(ctx);
  if (mode === 'start') {
    await worker.start(taskId);
    say('STARTED');
    return; // runs on until killed
  }
  const result = await worker.resume(taskId, () => {
    if (process.env.PEERS_DEBUG) process.stderr.write(`[crash-child ${mode}] ready at ${Math.round(performance.now())} ms\n`);
    say('READY');
  });
  checkResults(taskId, result);
  say('DONE');
  await worker.close().catch(() => undefined);
  process.exit(0);
}

main().catch((err: unknown) => {
  say(`FAIL ${(err instanceof Error ? (err.stack ?? err.message) : String(err)).replace(/\n/g, ' | ')}`);
  process.exit(1);
});
