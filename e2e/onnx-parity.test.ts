// `npm run onnx-parity -- --json`: stdout is only the machine-readable summary, the exported
// model agrees with our WGSL forward pass (Dawn) within 1e-4, and a tolerance it misses exits 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const parity = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', '--import', './kernels/wgsl-register.mjs', 'e2e/onnx-parity.ts', ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });

test('onnx-parity --json: every preset model agrees with the WGSL forward within 1e-4', () => {
  const r = parity(['--json', '--batch', '16']);
  assert.equal(r.status, 0, r.stderr);
  const last = JSON.parse(r.stdout) as { models: number; maxAbsDiff: number; tolerance: number };
  assert.ok(last.models >= 2, `models ${last.models}`);
  assert.ok(last.maxAbsDiff > 0 && last.maxAbsDiff <= 1e-4, `maxAbsDiff ${last.maxAbsDiff}`);
  assert.equal(last.tolerance, 1e-4);
  // The per-model lines are the human summary: on stderr with --json.
  assert.match(r.stderr, /mnist-mlp \(initial, seed 1\): \d+ bytes of ONNX, 160 outputs/);
  // GPT_DEFAULT: 8 sequences × context 64 × vocab 256 logits, at the init and after training.
  assert.match(r.stderr, /GPT 2×64 \(initial, seed 1\): \d+ bytes of ONNX, 131072 outputs/);
  assert.match(r.stderr, /GPT 2×64 \(after 5 AdamW steps on grammar text\): \d+ bytes of ONNX, 131072 outputs/);
});

test('onnx-parity exits 1 when the difference exceeds --tolerance (the MLP alone, at a tolerance below its measured difference)', () => {
  const mlp = parity(['--json', '--batch', '16', '--preset', 'mlp']);
  assert.equal(mlp.status, 0, mlp.stderr);
  const measured = (JSON.parse(mlp.stdout) as { models: number; maxAbsDiff: number }).maxAbsDiff;
  assert.ok(measured > 0, `the MLP's ONNX and WGSL outputs differ by float rounding (${measured})`);
  const strict = parity(['--json', '--batch', '16', '--preset', 'mlp', '--tolerance', String(measured / 2)]);
  assert.equal(strict.status, 1, strict.stderr);
  assert.equal((JSON.parse(strict.stdout) as { maxAbsDiff: number }).maxAbsDiff, measured, 'the same inputs give the same difference');
  assert.match(strict.stderr, /FAILED: max \|ONNX − WGSL\| .* exceeds the tolerance/);
});

test('onnx-parity refuses bad arguments by name (exit 2)', () => {
  const r = parity(['--batch', '0']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--batch: expected an integer in \[1, 4096\], got "0"/);
  const unknown = parity(['--frobnicate']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /Unknown option '--frobnicate'/);
});
