// test-lane: serial — e2e/load.ts (spawned, not imported) drives virtual sessions through a live
// coordinator's real-time rounds; beside another file at load 40 no round committed in its window.
// `npm run load` end to end, small: 48 sessions, a few seconds. It checks the harness and
// what it counts, not speed (the figures are the benchmark's, README "Reliability"): every
// session held, reports acked with latencies, no refusals, the ledger's accepted
// contributions in the window's rounds equal to every member's, the JSON line's shape, and the
// round's combine record served at GET /api/runs/:id/rounds/:round/combine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DEFAULT_RUN } from '../shared/config.ts';

test('npm run load: sessions held, reports verified and acked, the ledger counts every member', { timeout: 300_000 }, () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'e2e/load.ts', '--json', '--sessions', '48', '--seconds', '6', '--warmup', '2', '--rate', '80'], {
    encoding: 'utf8',
    timeout: 280_000,
  });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, out);
  // With --json stdout is the JSON object alone; the progress lines are on stderr.
  const result = JSON.parse(r.stdout) as {
    sessions: number;
    reportsPerSecond: number;
    p50Ms: number;
    p99Ms: number;
    rssMb: number;
    commitPhasesMs: Record<string, { commits: number; wall: { p50: number; p99: number }; loopCpu: unknown; threadCpu: unknown }>;
    combineVersion: number;
  };
  assert.deepEqual(Object.keys(result), [
    'sessions',
    'reportsPerSecond',
    'p50Ms',
    'p99Ms',
    'rssMb',
    'commitMs',
    'commitPhasesMs',
    'eventLoopDelayP99Ms',
    'staleReports',
    'cpuMsPerVolunteerRound',
    'aggregateDensity',
    'loadAverage',
    'combineVersion',
  ]);
  assert.equal(result.sessions, 48, out);
  assert.ok(result.reportsPerSecond > 0, out);
  assert.ok(result.p50Ms > 0 && result.p99Ms >= result.p50Ms, out);
  assert.ok(result.rssMb > 0, out);
  // The coordinator's own record of the window's commits (GET /metrics/commit-phases): every phase a commit runs here (at verification rate 0 sampling still runs, marking each contribution 'skipped').
  for (const phase of ['settle', 'decide', 'combine', 'apply', 'evaluate', 'ledger', 'prepare', 'verify', 'broadcast']) {
    const f = result.commitPhasesMs[phase];
    assert.ok(f && f.commits > 0 && f.wall.p99 >= f.wall.p50 && f.wall.p50 >= 0, `${phase}: ${JSON.stringify(f)}\n${out}`);
  }
  assert.ok(result.commitPhasesMs.combine.threadCpu !== null && result.commitPhasesMs.evaluate.threadCpu !== null, 'the threads report their CPU');
  assert.doesNotMatch(out, /refusals|ran out/, out);
  const ledger = /ledger: (\d+) rounds committed in the window, (\d+) contributions accepted \(every member's, (\d+) expected\)/.exec(out);
  assert.ok(ledger, out);
  assert.ok(Number(ledger[1]) > 0, out);
  assert.equal(ledger[2], ledger[3], out);
  assert.match(out, /ms per verified report, of which the event-loop thread [\d.]+ ms; the clients \(this process\) [\d.]+ ms per report/);
  // The combine record is served for a committed round: 6 cohorts' aggregates and their relay frames, one group.
  assert.match(out, /combine record of round \d+: 1 groups in 1 levels over \d+ aggregates, \d+ samples, combine version \d/, out);
  // The run's default combine version, as the served record names it.
  assert.equal(result.combineVersion, DEFAULT_RUN.combineVersion ?? 1, out);
});
