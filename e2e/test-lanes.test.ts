// The lanes of `npm test` (e2e/test-lanes.ts): a file that reaches Chromium, a platform process,
// npm start or the web build, however indirectly, runs alone; a unit test runs beside another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { SERIAL_MARK, serialTestFiles } from './test-lanes.ts';

const ROOT = resolve(import.meta.dirname, '..');

test('browser, platform, npm start, build and live-round tests run alone, each named with the harness it reaches; unit tests do not', () => {
  const lanes = serialTestFiles([
    'e2e/swarm.test.ts',
    'e2e/nat.test.ts', // through e2e/nat-lab.ts
    'kernels/dev/browser.test.ts', // through kernels/dev/browser-harness.ts
    'e2e/package.test.ts',
    'e2e/bundle-size.test.ts',
    'shared/codec.test.ts',
    'coordinator/round/engine.test.ts',
    'e2e/protocol.test.ts', // virtual volunteers in a live coordinator's round windows
    'e2e/sim.test.ts',
    'e2e/cli.test.ts',
  ]);
  assert.deepEqual(Object.fromEntries(lanes), {
    'e2e/swarm.test.ts': 'e2e/chromium.ts',
    'e2e/nat.test.ts': 'e2e/chromium.ts',
    'kernels/dev/browser.test.ts': 'e2e/chromium.ts',
    'e2e/package.test.ts': 'e2e/npm-start.ts',
    'e2e/bundle-size.test.ts': 'e2e/platform-process.ts',
    'e2e/protocol.test.ts': 'e2e/virtual-volunteer.ts',
  });
});

test('a file that says it needs the machine to itself runs alone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'idlegrad-lanes-'));
  try {
    const marked = join(dir, 'timed.test.ts');
    writeFileSync(marked, `// ${SERIAL_MARK} (measures wall time)\nimport { test } from 'node:test';\n`);
    const plain = join(dir, 'plain.test.ts');
    writeFileSync(plain, "import { test } from 'node:test';\n");
    const lanes = serialTestFiles([relative(ROOT, marked), relative(ROOT, plain)]);
    assert.deepEqual([...lanes], [[relative(ROOT, marked), SERIAL_MARK]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
