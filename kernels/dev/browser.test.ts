// The kernels inside a dedicated Web Worker of headless Chromium (navigator.gpu; SwiftShader
// when there is no GPU): the same conformance checks as the Node tests, plus a trainer round
// against the CPU reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runInChromiumWorker } from './browser-harness.ts';
import type { BrowserReport } from './browser-entry.ts';

test('kernels and trainer match the CPU reference inside a Chromium worker', { timeout: 120_000 }, async (t) => {
  const entry = fileURLToPath(new URL('./browser-entry.ts', import.meta.url));
  const report = await runInChromiumWorker<BrowserReport>(entry, { timeoutMs: 100_000 });
  if (report.type === 'error') {
    assert.fail(
      `WebGPU run in Chromium failed (${report.name}): ${report.message}\n` +
        `Is WebGPU available? Chromium needs --enable-unsafe-webgpu; without a GPU it uses SwiftShader.`,
    );
  }
  const { adapter } = report;
  t.diagnostic(`adapter: vendor=${adapter.vendor} architecture=${adapter.architecture} device=${adapter.device} description=${adapter.description}`);
  assert.ok(adapter.vendor || adapter.architecture || adapter.description, 'the adapter reported no identity at all');
  assert.ok(report.results.length >= 25, `only ${report.results.length} checks ran`);
  for (const r of report.results) t.diagnostic(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}`);
  const failed = report.results.filter((r) => !r.ok);
  assert.equal(failed.length, 0, failed.map((r) => `${r.name}\n  ${r.detail.join('\n  ')}`).join('\n'));
});
