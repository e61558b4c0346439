// `npm run scale` end to end, tiny: 100 and 1,000 volunteers on the default MLP. It checks the
// harness and what it measures, not speed (the figures are the benchmark's, README "Scale"):
// every configuration ran its round to the end through the coordinator's code (every member's
// report accepted, the epoch over every account, a hello's proof), every phase's CPU was read
// from the running threads (the round's work is not zero, the combine ran on its thread), the
// growth exponents are fitted from those figures, and the exit code follows the bars.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { growthExponent, mergeRows, rowsOfFile, type ScaleResult, type ScaleRow } from './scale.ts';

test('growthExponent: the slope of log y on log N', () => {
  assert.equal(growthExponent([{ n: 10, y: 5 }]), null);
  assert.ok(
    Math.abs(
      growthExponent([
        { n: 1e3, y: 2 },
        { n: 1e5, y: 200 },
      ])! - 1,
    ) < 1e-12,
  );
  assert.ok(
    Math.abs(
      growthExponent([
        { n: 1e3, y: 7 },
        { n: 1e4, y: 7 },
        { n: 1e5, y: 7 },
      ])!,
    ) < 1e-12,
  );
  assert.equal(
    growthExponent([
      { n: 1e3, y: 0 },
      { n: 1e4, y: 3 },
    ]),
    null,
    'a zero figure is not fitted',
  );
});

const row = (volunteers: number, params: number, wallS: number, skipped?: string): ScaleRow => ({
  volunteers,
  params,
  phases: [],
  harness: [],
  wallS,
  skipped,
});

test('mergeRows: each configuration once, a finished row never replaced by a skipped one', () => {
  const first = [row(1000, 50890, 1), row(10000, 50890, 2), row(100000, 50890, 3, 'ran past --timeout-s 1500')];
  const second = [row(100000, 50890, 4), row(1000, 50890, 5, 'exited 1: boom')];
  const merged = mergeRows([first], second);
  assert.deepEqual(
    merged.map((r) => [r.volunteers, r.wallS]),
    [
      [1000, 1],
      [10000, 2],
      [100000, 4],
    ],
  );
  assert.deepEqual(
    mergeRows([first, [row(10000, 50890, 6)]], [row(1000, 1000000, 7)]).map((r) => [r.params, r.volunteers, r.wallS]),
    [
      [50890, 1000, 1],
      [50890, 10000, 6],
      [50890, 100000, 3],
      [1000000, 1000, 7],
    ],
    'a later finished row replaces an earlier one; P sorts before N',
  );
});

test('rowsOfFile: an earlier result, or an error naming the file and what is wrong', () => {
  const dir = mkdtempSync(join(tmpdir(), 'scale-rows-'));
  try {
    const good = join(dir, 'good.json');
    const { harness: _, ...old } = row(1000, 50890, 1);
    writeFileSync(good, JSON.stringify({ rows: [old], fits: [], bars: [], loadAverage: [1, 1, 1] }));
    assert.deepEqual(
      rowsOfFile(good),
      [{ volunteers: 1000, params: 50890, phases: [], harness: [], wallS: 1 }],
      'a result from before HarnessLine reads with no harness steps',
    );
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ rows: [{ volunteers: '1000' }] }));
    assert.throws(() => rowsOfFile(bad), /--rows-from .*bad\.json: not an npm run scale --json result/);
    writeFileSync(bad, '{ not json');
    assert.throws(() => rowsOfFile(bad), /--rows-from .*bad\.json: not a readable JSON file/);
    assert.throws(() => rowsOfFile(join(dir, 'missing.json')), /missing\.json: not a readable JSON file \(ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm run scale at 100 and 1,000 volunteers: measured phases, roles, fits and bars', { timeout: 600_000 }, () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'e2e/scale.ts', '--json', '--volunteers', '100,1000', '--params', '50890', '--hello-sample', '5'], {
    encoding: 'utf8',
    timeout: 580_000,
  });
  const out = `${r.stdout}\n${r.stderr}`;
  const result = JSON.parse(r.stdout) as ScaleResult;
  assert.deepEqual(Object.keys(result), ['rows', 'fits', 'bars', 'loadAverage']);
  assert.equal(result.rows.length, 2, out);
  for (const row of result.rows) {
    assert.equal(row.skipped, undefined, out);
    assert.equal(row.paramCount, 50890);
    assert.equal(row.accepted, row.volunteers, `every member's report is accepted\n${out}`);
    assert.deepEqual(
      row.phases.map((p) => p.phase),
      ['open', 'report', 'upload', 'commit', 'push', 'validator', 'epoch', 'hello'],
    );
    assert.ok(row.aggregateDensity! > 0.15 && row.aggregateDensity! < 0.25, `aggregates at realistic density: ${row.aggregateDensity}`);
    const commit = row.phases.find((p) => p.phase === 'commit')!;
    assert.ok(commit.cpuMs.combine > 0, `the combine's CPU is read from its thread\n${out}`);
    const report = row.phases.find((p) => p.phase === 'report')!;
    assert.ok(report.cpuMs.recovery > 0, `signature recovery's CPU is read from its thread\n${out}`);
    assert.ok(row.totalCpuMsPerVolunteerRound! > 0 && row.helloCpuMs! >= 0 && row.maxRssMb! > 0, out);
    const { gateway, committer, aggregation, ledger } = row.roundCpuMs!;
    const roundPhases = row.phases.filter((p) => ['open', 'upload', 'report', 'commit', 'push', 'validator'].includes(p.phase));
    const measured = roundPhases.reduce((s, p) => s + Object.values(p.cpuMs).reduce((a, b) => a + b, 0), 0);
    assert.equal(gateway + committer + aggregation + ledger, measured, 'the roles add up to the measured threads');
    assert.ok(Math.abs(row.totalCpuMsPerVolunteerRound! - measured / row.volunteers) < 1e-9);
  }
  assert.equal(result.fits.length, 1);
  const fit = result.fits[0];
  assert.deepEqual(fit.volunteers, [100, 1000]);
  const [small, large] = result.rows;
  assert.equal(fit.perVolunteerRatio, large.totalCpuMsPerVolunteerRound! / small.totalCpuMsPerVolunteerRound!);
  assert.equal(
    fit.exponents.aggregation,
    growthExponent([
      { n: 100, y: small.roundCpuMs!.aggregation },
      { n: 1000, y: large.roundCpuMs!.aggregation },
    ]),
  );
  assert.equal(result.bars.length, 2);
  const missed = result.bars.filter((b) => b.pass === false);
  for (const b of result.bars) assert.notEqual(b.pass, null, 'N 100…1000 spans 10×: the bars are checked');
  assert.equal(r.status, missed.length ? 1 : 0, out);
});
