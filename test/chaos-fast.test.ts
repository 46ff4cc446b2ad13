// The fast subset of the fault suite (`npm run chaos` runs the long loops):
// every fault kind once, at random moments, against three worker processes
// and a private redis-server; then the independent checker. Plus a small
// bad-input fuzz and the security checks. Bugs the suite found are in
// test/chaos-findings.test.ts.
import { describe, expect, it } from 'vitest';
import { summarise } from './chaos/checker.js';
import { checkerSelfTest, PLANTED } from './chaos/selftest.js';
import { KNOWN_ISSUES, runFuzz, summariseFuzz } from './chaos/fuzz.js';
import type { FaultKind } from './chaos/log.js';
import { runScenario } from './chaos/scenario.js';
import { checkAclAndTls, checkNoEvaluation, checkPayloadLimits, checkPrefixIsolation } from './chaos/security.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const say = (msg: string) => {
  if (process.env.BATON_CHAOS_VERBOSE) process.stderr.write(`${msg}\n`);
};

describe('the checker', () => {
  it(`flags every planted violation (${Object.values(PLANTED).map((p) => p.kind).filter(Boolean).join(', ')}) and nothing on a clean task`, async () => {
    const r = await checkerSelfTest();
    expect(r.missed).toEqual([]);
    expect(r.falseAlarms).toEqual([]);
    expect(r.report.ok).toBe(false);
    // Re-runs a fault explains are attributed to it; the planted one is not.
    expect(r.report.agent.reruns).toEqual({ 'worker-killed': 1, 'worker-frozen': 1, 'redis-fault': 0, unexplained: 1 });
  });
});

describe('faults at random moments (fast subset)', () => {
  it('SIGKILL, SIGSTOP past the lease, Redis SIGKILL + restart (AOF always), CLIENT KILL (normal, pubsub), CLIENT PAUSE: every accepted event applied once, in order; every task done; no stale commit', async () => {
    // One of each, in a random order. Half the senders use no idempotency key (a lost reply resent by
    // ioredis must still append once).
    const kinds: FaultKind[] = ['sigkill-worker', 'sigstop-worker', 'redis-restart', 'client-kill-type', 'client-kill-pubsub', 'client-pause'];
    const sequence = [...kinds].sort(() => Math.random() - 0.5);
    const r = await runScenario({
      name: 'fast-mixed',
      workers: 3,
      tasks: 40,
      events: 800,
      senders: 2,
      keyedSenders: 1,
      tickerShare: 0.3,
      leaseMs: 800,
      agentLockMs: 1500,
      idleMs: 3000,
      aof: 'always',
      faults: kinds,
      faultSequence: sequence,
      faultMeanMs: 400,
      ratePerSec: 70, // ~11 s of sending: the faults land while events flow and ticker tasks tick
      faultOptions: { pauseMs: 1500, freezeMs: () => 2800, respawnMs: () => 300 },
      finishTimeoutMs: 30_000,
      progress: say,
    });
    const s = summarise(r.check);
    say(s);
    expect(r.crashes, JSON.stringify(r.crashes)).toEqual([]);
    expect(r.faultCounts, `faults injected: ${JSON.stringify(r.faults)}`).toEqual(Object.fromEntries(kinds.map((k) => [k, 1])));
    expect(r.check.violations, s).toEqual([]);
    expect(r.check.eventsChecked).toBe(840); // 800 events + 40 finishes
    expect(r.check.lost).toBe(0);
    expect(r.check.appliedTwice).toBe(0);
    expect(r.check.agent.resultsApplied).toBe(80);
    // The frozen worker woke up as a stale writer: its commits were refused (logged 'fenced'), none landed (checker).
    const frozen = r.faults.find((f) => f.kind === 'sigstop-worker')!;
    expect(r.fencedPids, `fenced logs: ${JSON.stringify(r.logCounts)}; frozen pid ${frozen.pid}`).toContain(frozen.pid);
  }, 120_000);
});

describe('bad input (fast subset)', () => {
  it('malformed events, spawns, agent outputs and corrupted state: typed errors or quarantine, nothing written, no worker crash, nothing accepted lost', async () => {
    const r = await runFuzz({
      cases: 500,
      dir: mkdtempSync(path.join(tmpdir(), 'baton-chaos-fuzz-')),
      agentWaitMs: 10_000,
      settleMs: 6000,
      skipKnown: KNOWN_ISSUES.map((k) => k.id),
      progress: say,
    });
    const s = summariseFuzz(r);
    say(s);
    expect(r.workerCrashes, r.crashLines.join('\n')).toBe(0);
    expect(r.violations, s).toEqual([]);
    expect(r.background.lost).toBe(0);
    expect(r.background.appliedTwice).toBe(0);
    expect(r.cases.total).toBeGreaterThanOrEqual(500);
  }, 120_000);
});

describe('security', () => {
  it('one prefix cannot read or write another prefix’s tasks', async () => {
    const r = await checkPrefixIsolation();
    expect(r.problems, JSON.stringify(r.details)).toEqual([]);
  });

  it('an ACL user limited to the prefix runs a runtime + agent worker to completion; a user without access gets NOPERM', async () => {
    const r = await checkAclAndTls(false);
    expect(r.problems, JSON.stringify(r.details)).toEqual([]);
  });

  it('ACL user and TLS options reach every connection Baton opens', async () => {
    const r = await checkAclAndTls(true);
    expect(r.problems, JSON.stringify(r.details)).toEqual([]);
  });

  it('payload limits hold at the byte: one byte over maxEventBytes / maxInputBytes is PAYLOAD_TOO_LARGE and writes nothing', async () => {
    const r = await checkPayloadLimits();
    expect(r.problems, JSON.stringify(r.details)).toEqual([]);
  });

  it('no user-supplied string is evaluated: Lua/RESP metacharacters are stored literally or rejected, nothing else changes', async () => {
    const r = await checkNoEvaluation();
    expect(r.problems, JSON.stringify(r.details)).toEqual([]);
  });
});
