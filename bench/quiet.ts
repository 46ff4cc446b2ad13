/**
 * The benchmark shares a small machine with other work: before measuring it
 * waits for the 1-minute load average to drop below a threshold (or gives up
 * after a while and says so), and records the load it measured under.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { sleep } from './stats.js';

export interface LoadRecord {
  /** 1, 5 and 15-minute load averages when measuring started. */
  atStart: number[];
  /** Seconds spent waiting for the load to drop. */
  waitedSec: number;
  /** Whether the 1-minute load was below the threshold when measuring started. */
  quiet: boolean;
  threshold: number;
  cpus: number;
}

const load = () => os.loadavg().map((v) => Math.round(v * 100) / 100);

/** Poll the 1-minute load average every 5 s until it is below `threshold`, for at most `maxWaitSec`. */
export async function waitForQuiet(threshold: number, maxWaitSec: number, log: (msg: string) => void): Promise<LoadRecord> {
  const t0 = Date.now();
  let l = load();
  if (l[0]! >= threshold) log(`1-minute load ${l[0]} >= ${threshold}: waiting up to ${maxWaitSec} s for it to drop`);
  while (l[0]! >= threshold && Date.now() - t0 < maxWaitSec * 1000) {
    await sleep(5000);
    l = load();
  }
  const waitedSec = Math.round((Date.now() - t0) / 1000);
  const quiet = l[0]! < threshold;
  log(`load average ${l.join(' ')} (${os.cpus().length} cpus)${waitedSec ? ` after waiting ${waitedSec} s` : ''}${quiet ? '' : ': NOT quiet, measuring anyway'}`);
  return { atStart: l, waitedSec, quiet, threshold, cpus: os.cpus().length };
}

/** The load averages now (recorded next to each figure). */
export const loadNow = load;

/** CPU ticks (USER_HZ) of the whole machine and of this process with its reaped children (Linux; zeros elsewhere). */
function ticks(): { busy: number; self: number } {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    const busy = cpu[0]! + cpu[1]! + cpu[2]! + cpu[5]! + cpu[6]! + cpu[7]!;
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    // fields 14-17 of /proc/<pid>/stat: utime stime cutime cstime (f[0] is field 3)
    const self = f[11]! + f[12]! + f[13]! + f[14]!;
    return { busy, self };
  } catch {
    return { busy: 0, self: 0 };
  }
}

/** Where the machine's CPU went during a figure, in cores: the benchmark (with its child processes), its Redis, everything else. */
export interface CpuShare {
  wallSec: number;
  busyCores: number;
  benchCores: number;
  redisCores: number;
  otherCores: number;
}

/** Start measuring; the returned function takes the Redis server's CPU µs used meanwhile and reports the shares. */
export function cpuMeter(): (redisMicros: number) => CpuShare {
  const t0 = Date.now();
  const a = ticks();
  return (redisMicros) => {
    const b = ticks();
    const sec = (Date.now() - t0) / 1000;
    const hz = 100;
    const r2 = (v: number) => Math.round(v * 100) / 100;
    const busy = (b.busy - a.busy) / hz / sec;
    const bench = (b.self - a.self) / hz / sec;
    const redis = redisMicros / 1e6 / sec;
    return { wallSec: r2(sec), busyCores: r2(busy), benchCores: r2(bench), redisCores: r2(redis), otherCores: r2(Math.max(0, busy - bench - redis)) };
  };
}
