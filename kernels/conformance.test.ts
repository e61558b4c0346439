import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKernelConformance } from './conformance.ts';
import { testGpu } from './test-gpu.ts';

const { cache } = await testGpu();

// The list the Chromium worker runs (browser.test.ts), here through Dawn: both must agree.
test('every conformance check passes through Dawn in Node', async (t) => {
  const results = await runKernelConformance(cache);
  for (const r of results) t.diagnostic(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}`);
  const failed = results.filter((r) => !r.ok);
  assert.equal(failed.length, 0, failed.map((r) => `${r.name}\n  ${r.detail.join('\n  ')}`).join('\n'));
});
