// The harness's fixed costs in `npm test`'s summary (e2e/harness-times.ts, e2e/test-durations.ts):
// lines written only where run-tests.ts asks for them, named by the test file, summed per step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readHarnessTimes, recordHarnessTime, sumSteps, timedStep } from './harness-times.ts';
import { durationSummary } from './test-durations.ts';

const ROOT = resolve(import.meta.dirname, '..');

test('each harness step is recorded with its test file and time, and summed per file in the summary', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'idlegrad-harness-'));
  try {
    const path = join(dir, 'harness.jsonl');
    recordHarnessTime('platform start', 5_400.4, path, join(ROOT, 'e2e/a.test.ts'));
    recordHarnessTime('platform start', 4_600, path, join(ROOT, 'e2e/a.test.ts'));
    recordHarnessTime('platform stop', 2_000, path, join(ROOT, 'e2e/a.test.ts'));
    recordHarnessTime('browser launch', 1_000, path, join(ROOT, 'e2e/b.test.ts'));
    recordHarnessTime('platform start', 7_000, '', join(ROOT, 'e2e/c.test.ts')); // no file asked for: nothing written
    const times = readHarnessTimes(path);
    assert.deepEqual(times[0], { file: 'e2e/a.test.ts', step: 'platform start', ms: 5_400 });
    assert.deepEqual(sumSteps(times), [
      { step: 'platform start', n: 2, ms: 10_000 },
      { step: 'platform stop', n: 1, ms: 2_000 },
      { step: 'browser launch', n: 1, ms: 1_000 },
    ]);
    const summary = durationSummary(
      [
        { file: 'e2e/a.test.ts', ms: 60_000, passed: true, lane: 'serial' },
        { file: 'e2e/b.test.ts', ms: 30_000, passed: true, lane: 'serial' },
        { file: 'shared/c.test.ts', ms: 1_000, passed: true, lane: 'shared-nothing' },
      ],
      91_000,
      15,
      times,
    );
    const lines = summary.split('\n');
    assert.equal(lines[1], 'harness fixed costs, all files: platform start 2× 10.0 s, platform stop 1× 2.0 s, browser launch 1× 1.0 s');
    assert.match(lines[3], /60\.0 s {2}e2e\/a\.test\.ts +serial {2}\(platform start 2× 10\.0 s, platform stop 1× 2\.0 s\)$/);
    assert.match(lines[4], /e2e\/b\.test\.ts +serial {2}\(browser launch 1× 1\.0 s\)$/);
    assert.match(lines[5], /shared\/c\.test\.ts +shared-nothing$/, 'a file with no harness step gets no parentheses');
    // Without harness lines the summary is as before.
    assert.doesNotMatch(durationSummary([{ file: 'x', ms: 1, passed: true, lane: 'serial' }], 1), /harness/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a step that throws is still timed; a file with a line that is not a harness step is refused by line number', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'idlegrad-harness-'));
  const saved = process.env.IDLEGRAD_HARNESS_TIMES;
  try {
    const path = join(dir, 'harness.jsonl');
    process.env.IDLEGRAD_HARNESS_TIMES = path;
    await assert.rejects(
      timedStep('platform start', async () => {
        await new Promise((r) => setTimeout(r, 30));
        throw new Error('did not start');
      }),
      /did not start/,
    );
    const [t] = readHarnessTimes(path);
    assert.equal(t.step, 'platform start');
    assert.ok(t.ms >= 25, `recorded ${t.ms} ms`);
    assert.deepEqual(readHarnessTimes(join(dir, 'none.jsonl')), [], 'no file: no harness step ran');
    writeFileSync(path, `${JSON.stringify(t)}\n${JSON.stringify({ ...t, step: 'coffee' })}\n`);
    assert.throws(() => readHarnessTimes(path), /line 2 of .* is not a harness step/);
  } finally {
    if (saved === undefined) delete process.env.IDLEGRAD_HARNESS_TIMES;
    else process.env.IDLEGRAD_HARNESS_TIMES = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
