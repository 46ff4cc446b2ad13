// `baton tail <id>`: a task's durable stream from the terminal. Run as users
// run it (bin/baton.mjs in a child process); a runtime in this process runs
// the `talk` task and its streaming agent. String chunks print as they are,
// attempt markers on a line of their own; --from prints only what came after
// an id; --json is one item per line; it follows a live task until its end.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { AgentContext, StreamItem } from '../src/index.js';
import { talk } from './fixtures/stream-machines.js';
import { baton, batonFailure } from './helpers/baton-cli.ts';
import { REPO_ROOT, redisUrl, uniquePrefix, waitUntil } from './helpers/index.ts';
import { killedOnExit } from './helpers/reap.ts';
import { useBaton } from './helpers/setup.ts';

const setup = useBaton();
const live = killedOnExit();

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

/** Everything stored in a task's stream. */
async function storedItems(prefix: string, id: string): Promise<StreamItem[]> {
  const out: StreamItem[] = [];
  for await (const item of setup.client(prefix).stream(id)) out.push(item);
  return out;
}

describe('baton tail', () => {
  it("prints a finished task's chunks and exits 0; --from <id> prints only what came after; --json one item a line", async () => {
    const prefix = uniquePrefix('cli-tail');
    const talker = async ({ input, stream }: AgentContext<{ words: string[] }>) => {
      for (const w of input.words) await stream.write(w);
      await stream.write({ tokens: input.words.length });
      await stream.write('bye\n');
      return {};
    };
    const rt = await setup.runtime(prefix, { machines: { talk }, agents: { talker } });
    await (await rt.spawn('talk', { id: 'told', input: { words: ['Hello, ', 'wor', 'ld.'] } })).waitFor((v) => v.status === 'done', { timeout: 10_000 });
    const stored = await storedItems(prefix, 'told');
    const jobId = stored.find((i) => i.kind === 'attempt')!.jobId;

    const all = await baton(prefix, ['tail', 'told']);
    expect(all).toMatchObject({ code: 0, stderr: '' });
    expect(all.stdout).toBe(`[attempt 1 of ${jobId}]\nHello, world.\n{"tokens":3}\nbye\n`);

    const afterHello = stored.find((i) => i.kind === 'chunk' && i.data === 'Hello, ')!.id;
    const rest = await baton(prefix, ['tail', 'told', '--from', afterHello]);
    expect(rest).toMatchObject({ code: 0, stderr: '' });
    expect(rest.stdout).toBe('world.\n{"tokens":3}\nbye\n');

    const json = await baton(prefix, ['tail', 'told', '--json']);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    expect(json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as StreamItem)).toEqual(stored);
    expect(stored.at(-1)).toMatchObject({ kind: 'end', status: 'done' });

    // From the end of an ended task: nothing, exit 0.
    expect(await baton(prefix, ['tail', 'told', '--from', 'end'])).toMatchObject({ code: 0, stdout: '', stderr: '' });
  }, 60_000);

  it('a retry prints its attempt marker; a live task is followed until its end', async () => {
    const prefix = uniquePrefix('cli-tail-live');
    const more = gate();
    const talker = async ({ input, stream, attempt }: AgentContext<{ words: string[] }>) => {
      if (attempt === 1) {
        await stream.write('half');
        throw new Error('the model timed out');
      }
      await stream.write(input.words[0]);
      await more.opened;
      for (const w of input.words.slice(1)) await stream.write(w);
      return {};
    };
    await setup.runtime(prefix, { machines: { talk }, agents: { talker } });
    await setup.client(prefix).spawn('talk', { id: 'live', input: { words: ['one ', 'two ', 'three'] } });

    const proc = spawn(process.execPath, ['bin/baton.mjs', '--prefix', prefix, 'tail', 'live'], { cwd: REPO_ROOT, env: { ...process.env, REDIS_URL: redisUrl() } });
    live.add(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    try {
      await waitUntil(() => stdout.endsWith('one '), { timeout: 15_000, message: `the first word of attempt 2 (stdout so far: ${JSON.stringify(stdout)})` });
      expect(proc.exitCode).toBe(null); // still following
      more.open();
      expect(await exited).toBe(0);
    } finally {
      proc.kill('SIGKILL');
      live.delete(proc);
    }
    const job = /^\[attempt 1 of (\S+)\]\n/.exec(stdout)?.[1];
    expect(job, stdout).toBeTruthy();
    expect(stdout).toBe(`[attempt 1 of ${job}]\nhalf\n[attempt 2 of ${job}]\none two three`);
    expect(stderr).toBe('');
  }, 60_000);

  it('an unknown task or a bad position: one error line, exit 1; tail is in baton --help', async () => {
    const prefix = uniquePrefix('cli-tail-bad');
    await setup.runtime(prefix, { machines: { talk }, agents: { talker: async () => ({}) } });
    expect(await batonFailure(prefix, ['tail', 'nope'])).toMatch(/^baton: .*nope.*\[TASK_NOT_FOUND\]$/);
    await setup.client(prefix).spawn('talk', { id: 'quiet', input: { words: [] } });
    expect(await batonFailure(prefix, ['tail', 'quiet', '--from', 'yesterday'])).toMatch(/\[INVALID_ID\]$/);
    const help = await baton(prefix, ['--help']);
    expect(help.stdout).toMatch(/^ {2}tail \[options\] <id> +print a task's stream/m);
  }, 60_000);
});
