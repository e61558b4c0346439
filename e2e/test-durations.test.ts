// `npm test`'s duration summary (e2e/test-durations-reporter.mjs + e2e/test-durations.ts): the
// reporter, run by Node's real test runner on two small files, writes each file's wall time and
// outcome, and the summary lists the slowest first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { durationSummary, readDurations } from './test-durations.ts';

const ROOT = resolve(import.meta.dirname, '..');

test('the reporter writes one line per file with its wall time and outcome; the summary lists the slowest first', () => {
  const dir = mkdtempSync(join(tmpdir(), 'idlegrad-durations-'));
  try {
    const slow = join(dir, 'slow.test.mjs');
    writeFileSync(
      slow,
      `import { test } from 'node:test';\nawait new Promise((r) => setTimeout(r, 400));\ntest('waits', () => new Promise((r) => setTimeout(r, 300)));\n`,
    );
    const failing = join(dir, 'failing.test.mjs');
    writeFileSync(failing, `import { test } from 'node:test';\ntest('fails', () => { throw new Error('no'); });\n`);
    const out = join(dir, 'lane.jsonl');
    // Without the runner's NODE_TEST_CONTEXT, which would make this child report to ours instead of running its own.
    const env: NodeJS.ProcessEnv = { ...process.env, IDLEGRAD_TEST_LANE: 'serial' };
    delete env.NODE_TEST_CONTEXT;
    const r = spawnSync(
      process.execPath,
      [
        '--test',
        '--test-concurrency=1',
        '--test-reporter=tap',
        '--test-reporter-destination=stdout',
        '--test-reporter=./e2e/test-durations-reporter.mjs',
        `--test-reporter-destination=${out}`,
        slow,
        failing,
      ],
      { cwd: ROOT, env, encoding: 'utf8' },
    );
    assert.equal(r.status, 1, 'one file fails');
    const lines = readDurations(out).sort((a, b) => b.ms - a.ms);
    assert.deepEqual(
      lines.map((l) => [l.file, l.passed, l.lane]),
      [
        [relative(ROOT, slow), true, 'serial'],
        [relative(ROOT, failing), false, 'serial'],
      ],
    );
    // The file's time includes its top-level await (400 ms) as well as its test (300 ms).
    assert.ok(lines[0].ms >= 700 && lines[0].ms < 30_000, `slow file ${lines[0].ms} ms`);
    const summary = durationSummary(lines, 12_345, 1).split('\n');
    assert.match(summary[0], /^test durations: 2 files, wall 12\.3 s; serial lane 2 files \d+\.\d s summed$/);
    assert.equal(summary.length, 3, 'the slowest one only');
    assert.match(summary[2], new RegExp(`^ +\\d+\\.\\d s  ${relative(ROOT, slow)}  serial$`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lane whose reporter wrote nothing is an error, not an empty summary', () => {
  assert.throws(() => readDurations(join(tmpdir(), 'idlegrad-no-such-durations.jsonl')), /the reporter wrote no .*idlegrad-no-such-durations\.jsonl/);
});
